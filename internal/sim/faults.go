package sim

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// FaultSpecHelp documents the fault SPEC grammar (shown by polysim --help).
const FaultSpecHelp = `SPEC is a comma-separated list of KEY=VALUE (empty or "none": no faults).
P is a probability in [0,1]; DUR a Go duration (30s, 250ms). Frame faults add extra frames,
they never replace data, so a client that skips them keeps a correct book.
  close=CODE@DUR        every socket is closed DUR after it opens: CODE 1000/1001/1008/1011
                        sends a close frame; 1006 drops TCP without a close frame
  stall=socket:P[@DUR]  a socket stalls with probability P (at open, or DUR after open):
                        data stops, PONG continues
  stall=asset:P         each subscribed asset stalls on that socket with probability P
  malformed=P           per frame: an extra frame of broken JSON
  truncated=P           per frame: an extra copy of the frame cut short
  unknown=P             per frame: an extra event with an unknown event_type
  oversized=P[:BYTES]   per frame: an extra frame of BYTES (default 1048576) bytes
  snapcap=N|off         assets subscribed beyond N on one socket get no snapshot (default 500)
  slowwrite=DUR         pause DUR before each socket write
  slowread=DUR          pause DUR before handling each client message
  gamma429=P[:SECS]     Gamma answers 429 with Retry-After SECS (default 1)
  gamma5xx=P            Gamma answers 500, 502 or 503
  gammahang=P[:DUR]     Gamma hangs DUR (default 60s) or until the client gives up
  gammagarbage=P        per market object: clobTokenIds not decodable or endDate garbage
  gammaempty=P          Gamma answers a listing request 200 with no market: [] on /markets,
                        {"markets":[]} on /markets/keyset
  gammacut=P            a keyset page that has more after it loses its next_cursor: the
                        listing looks complete after a full page
  gammanokeyset=P       /markets/keyset answers 404, as a venue without keyset paging
                        (clients fall back to offset paging, where gammashift bites)
  gammashift=P          before an offset page (offset > 0) is served, one market listed
                        before that offset closes, so later markets shift one offset down
  onesided=P            per generated event of a market with both sides: the market loses
                        every YES bid or every YES ask (NO mirrors it), one price_change per
                        removed level; an empty side shows as best_bid "0" / best_ask "1".
                        A one-sided market gets a level back with probability 0.05 per event
Example: close=1006@30s,stall=socket:0.1,malformed=0.01,gamma429=0.2`

// Faults selects the injected faults. The zero value injects nothing except the venue's
// snapshot cap (SnapshotCap 0 means 500).
type Faults struct {
	// CloseCode and CloseAfter close every socket CloseAfter after it opens (0: never).
	// 1006 drops the TCP connection without a close frame; other codes send a close frame.
	CloseCode  int
	CloseAfter time.Duration
	// StallSocketRate is the probability that a socket stalls StallAfter after it opens:
	// data stops, PONG continues.
	StallSocketRate float64
	StallAfter      time.Duration
	// StallAssetRate is the probability that one asset subscribed on a socket never gets
	// events on it (snapshot included).
	StallAssetRate float64
	// Per-frame probabilities of an extra injected frame.
	MalformedRate float64
	TruncatedRate float64
	UnknownRate   float64
	OversizedRate float64
	// OversizedBytes is the size of an oversized frame. Default 1 MiB.
	OversizedBytes int
	// SnapshotCap: assets subscribed beyond this count on one socket get no snapshot.
	// 0 means 500 (as reported of the venue); negative disables.
	SnapshotCap int
	// SlowWrite delays each socket write; SlowRead delays handling each client message.
	SlowWrite time.Duration
	SlowRead  time.Duration
	// Gamma faults, per request (garbage: per market object).
	Gamma429Rate     float64
	RetryAfter       time.Duration // default 1s, whole seconds
	Gamma5xxRate     float64
	GammaHangRate    float64
	GammaHang        time.Duration // default 60s
	GammaGarbageRate float64
	// GammaEmptyRate: per listing request, a 200 answer with no market ([] or
	// {"markets":[]}).
	GammaEmptyRate float64
	// GammaCutRate: per keyset page with markets after it, next_cursor is left out.
	GammaCutRate float64
	// GammaNoKeysetRate: per /markets/keyset request, a 404.
	GammaNoKeysetRate float64
	// GammaShiftRate: per offset page at offset > 0, a market listed before that offset
	// closes (for real: closed on Gamma, market_resolved on the socket) just before the
	// page is served.
	GammaShiftRate float64
	// OneSidedRate: per generated event of a two-sided market, the probability that it
	// loses a whole side, as near-resolved markets do.
	OneSidedRate float64
}

func (f *Faults) fill() error {
	if f.OversizedBytes == 0 {
		f.OversizedBytes = 1 << 20
	}
	if f.SnapshotCap == 0 {
		f.SnapshotCap = 500
	}
	if f.RetryAfter == 0 {
		f.RetryAfter = time.Second
	}
	if f.GammaHang == 0 {
		f.GammaHang = 60 * time.Second
	}
	var errs []error
	for _, p := range []struct {
		name string
		v    float64
	}{
		{"stall socket rate", f.StallSocketRate}, {"stall asset rate", f.StallAssetRate},
		{"malformed rate", f.MalformedRate}, {"truncated rate", f.TruncatedRate},
		{"unknown rate", f.UnknownRate}, {"oversized rate", f.OversizedRate},
		{"gamma429 rate", f.Gamma429Rate}, {"gamma5xx rate", f.Gamma5xxRate},
		{"gammahang rate", f.GammaHangRate}, {"gammagarbage rate", f.GammaGarbageRate},
		{"gammaempty rate", f.GammaEmptyRate}, {"gammacut rate", f.GammaCutRate},
		{"gammashift rate", f.GammaShiftRate}, {"onesided rate", f.OneSidedRate},
		{"gammanokeyset rate", f.GammaNoKeysetRate},
	} {
		if p.v < 0 || p.v > 1 || p.v != p.v {
			errs = append(errs, fmt.Errorf("%s must be in [0,1], got %v", p.name, p.v))
		}
	}
	switch f.CloseCode {
	case 0, 1000, 1001, 1006, 1008, 1011:
	default:
		errs = append(errs, fmt.Errorf("close code must be 1000, 1001, 1006, 1008 or 1011, got %d", f.CloseCode))
	}
	if f.CloseAfter < 0 || f.StallAfter < 0 || f.SlowRead < 0 || f.SlowWrite < 0 || f.GammaHang < 0 || f.RetryAfter < 0 {
		errs = append(errs, errors.New("fault durations must be >= 0"))
	}
	if f.CloseAfter > 0 && f.CloseCode == 0 {
		errs = append(errs, errors.New("close after needs a close code"))
	}
	if f.OversizedBytes < 0 || f.OversizedBytes > 256<<20 {
		errs = append(errs, fmt.Errorf("oversized bytes must be in [1, 256 MiB], got %d", f.OversizedBytes))
	}
	if len(errs) > 0 {
		return fmt.Errorf("cannot use faults: %w", errors.Join(errs...))
	}
	return nil
}

// ParseFaults parses a fault SPEC (grammar in FaultSpecHelp). The result has its defaults
// filled.
func ParseFaults(spec string) (Faults, error) {
	var f Faults
	spec = strings.TrimSpace(spec)
	if spec == "" || spec == "none" {
		return f, f.fill()
	}
	for _, item := range strings.Split(spec, ",") {
		key, val, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok || val == "" {
			return f, fmt.Errorf("cannot parse fault %q: want KEY=VALUE", item)
		}
		if err := f.set(key, val); err != nil {
			return f, fmt.Errorf("cannot parse fault %q: %w", item, err)
		}
	}
	return f, f.fill()
}

func (f *Faults) set(key, val string) error {
	var err error
	switch key {
	case "close":
		code, after, ok := strings.Cut(val, "@")
		if !ok {
			return errors.New("want CODE@DUR")
		}
		if f.CloseCode, err = strconv.Atoi(code); err != nil {
			return fmt.Errorf("bad close code: %w", err)
		}
		f.CloseAfter, err = parseDur(after)
	case "stall":
		kind, rest, _ := strings.Cut(val, ":")
		p, after, hasAfter := strings.Cut(rest, "@")
		switch kind {
		case "socket":
			if f.StallSocketRate, err = parseProb(p); err == nil && hasAfter {
				f.StallAfter, err = parseDur(after)
			}
		case "asset":
			if hasAfter {
				return errors.New("stall=asset takes no @DUR")
			}
			f.StallAssetRate, err = parseProb(p)
		default:
			return errors.New("want stall=socket:P[@DUR] or stall=asset:P")
		}
	case "malformed":
		f.MalformedRate, err = parseProb(val)
	case "truncated":
		f.TruncatedRate, err = parseProb(val)
	case "unknown":
		f.UnknownRate, err = parseProb(val)
	case "oversized":
		p, n, hasN := strings.Cut(val, ":")
		if f.OversizedRate, err = parseProb(p); err == nil && hasN {
			f.OversizedBytes, err = strconv.Atoi(n)
			if err == nil && f.OversizedBytes <= 0 {
				err = errors.New("bytes must be > 0")
			}
		}
	case "snapcap":
		if val == "off" {
			f.SnapshotCap = -1
			return nil
		}
		f.SnapshotCap, err = strconv.Atoi(val)
		if err == nil && f.SnapshotCap <= 0 {
			err = errors.New("snapcap must be > 0 or off")
		}
	case "slowwrite":
		f.SlowWrite, err = parseDur(val)
	case "slowread":
		f.SlowRead, err = parseDur(val)
	case "gamma429":
		p, secs, hasSecs := strings.Cut(val, ":")
		if f.Gamma429Rate, err = parseProb(p); err == nil && hasSecs {
			var n int
			n, err = strconv.Atoi(secs)
			if err == nil && n <= 0 {
				err = errors.New("retry-after seconds must be > 0")
			}
			f.RetryAfter = time.Duration(n) * time.Second
		}
	case "gamma5xx":
		f.Gamma5xxRate, err = parseProb(val)
	case "gammahang":
		p, d, hasD := strings.Cut(val, ":")
		if f.GammaHangRate, err = parseProb(p); err == nil && hasD {
			f.GammaHang, err = parseDur(d)
		}
	case "gammagarbage":
		f.GammaGarbageRate, err = parseProb(val)
	case "gammaempty":
		f.GammaEmptyRate, err = parseProb(val)
	case "gammacut":
		f.GammaCutRate, err = parseProb(val)
	case "gammashift":
		f.GammaShiftRate, err = parseProb(val)
	case "gammanokeyset":
		f.GammaNoKeysetRate, err = parseProb(val)
	case "onesided":
		f.OneSidedRate, err = parseProb(val)
	default:
		return fmt.Errorf("unknown fault key %q", key)
	}
	return err
}

func parseProb(s string) (float64, error) {
	p, err := strconv.ParseFloat(s, 64)
	if err != nil || p < 0 || p > 1 || p != p {
		return 0, fmt.Errorf("bad probability %q: want a number in [0,1]", s)
	}
	return p, nil
}

func parseDur(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("bad duration %q: want a positive Go duration like 30s", s)
	}
	return d, nil
}

// String renders f as a SPEC that ParseFaults reads back to the same value.
func (f Faults) String() string {
	var parts []string
	add := func(format string, a ...any) { parts = append(parts, fmt.Sprintf(format, a...)) }
	p := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	if f.CloseAfter > 0 {
		add("close=%d@%s", f.CloseCode, f.CloseAfter)
	}
	if f.StallSocketRate > 0 {
		if f.StallAfter > 0 {
			add("stall=socket:%s@%s", p(f.StallSocketRate), f.StallAfter)
		} else {
			add("stall=socket:%s", p(f.StallSocketRate))
		}
	}
	if f.StallAssetRate > 0 {
		add("stall=asset:%s", p(f.StallAssetRate))
	}
	for _, r := range []struct {
		k string
		v float64
	}{{"malformed", f.MalformedRate}, {"truncated", f.TruncatedRate}, {"unknown", f.UnknownRate}} {
		if r.v > 0 {
			add("%s=%s", r.k, p(r.v))
		}
	}
	if f.OversizedRate > 0 {
		add("oversized=%s:%d", p(f.OversizedRate), f.OversizedBytes)
	}
	if f.SnapshotCap < 0 {
		add("snapcap=off")
	} else if f.SnapshotCap > 0 && f.SnapshotCap != 500 {
		add("snapcap=%d", f.SnapshotCap)
	}
	if f.SlowWrite > 0 {
		add("slowwrite=%s", f.SlowWrite)
	}
	if f.SlowRead > 0 {
		add("slowread=%s", f.SlowRead)
	}
	if f.Gamma429Rate > 0 {
		add("gamma429=%s:%d", p(f.Gamma429Rate), int(f.RetryAfter/time.Second))
	}
	if f.Gamma5xxRate > 0 {
		add("gamma5xx=%s", p(f.Gamma5xxRate))
	}
	if f.GammaHangRate > 0 {
		add("gammahang=%s:%s", p(f.GammaHangRate), f.GammaHang)
	}
	if f.GammaGarbageRate > 0 {
		add("gammagarbage=%s", p(f.GammaGarbageRate))
	}
	for _, r := range []struct {
		k string
		v float64
	}{{"gammaempty", f.GammaEmptyRate}, {"gammacut", f.GammaCutRate}, {"gammanokeyset", f.GammaNoKeysetRate},
		{"gammashift", f.GammaShiftRate}, {"onesided", f.OneSidedRate}} {
		if r.v > 0 {
			add("%s=%s", r.k, p(r.v))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}
