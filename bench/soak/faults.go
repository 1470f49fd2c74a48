package soak

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// fault is one scheduled injection through the simulator's control API.
// A lasting fault sets a SPEC for FaultLength, then clears it; a close
// fault closes every socket at once.
type fault struct {
	Name string
	// Spec is posted to /sim/faults (lasting faults).
	Spec string
	// Close is posted to /sim/close?code= (0: none). With Spec, the close
	// comes right after the SPEC is set, so the reopened sockets get it.
	Close int
	// Stuck blocks one of polyfeed's handlers (worker 0) this long: the
	// request goes through the file named by POLYFEED_SOAK_STUCK, which
	// only a polyfeed built with -tags soakstuck reads
	// (cmd/polyfeed/soakstuck.go).
	Stuck time.Duration
	// Expect, when set, is what polyfeed's /healthz must say while the
	// fault lasts (part of its 503 reason), and /healthz must be green
	// again within RecoverBound of the fault's end: such a fault tests a
	// report, not only that the engine survives (expectedReports).
	Expect string
}

// faultCycle is what the soak injects, in turn, one every FaultEvery
// (schedule adds the stuck handler when polyfeed can take it). Its 13
// faults, 14 with the stuck handler, all start within a 10-minute run at
// the default 30 s period: faults start from 30 s until the 90 s quiet
// tail, 17 of them.
var faultCycle = []fault{
	{Name: "close 1006 (TCP drop)", Close: 1006},
	{Name: "bad frames", Spec: "malformed=0.01,truncated=0.01,unknown=0.01"},
	{Name: "close 1011", Close: 1011},
	{Name: "asset stalls", Spec: "stall=asset:0.05", Close: 1001},
	{Name: "gamma 429/5xx/garbage", Spec: "gamma429=0.5:1,gamma5xx=0.2,gammagarbage=0.02"},
	{Name: "close 1000", Close: 1000},
	{Name: "socket stalls", Spec: "stall=socket:0.3", Close: 1000},
	{Name: "oversized frames (under the limit)", Spec: "oversized=0.001:262144"},
	{Name: "close 1008", Close: 1008},
	{Name: "gamma hangs", Spec: "gammahang=0.5:5s"},
	{Name: "gamma empty listings", Spec: "gammaempty=0.5"},
	{Name: "one-sided markets", Spec: "onesided=0.01"},
	{Name: "gamma cut-short keyset listings", Spec: "gammacut=0.5"},
}

// stuckFault blocks polyfeed's worker 0 for 25 s, longer than the
// engine's StuckAfter (engine.Config, 10 s by default): /healthz must turn
// red naming the stuck worker once it has made no progress for 10 s, and
// green again when the handler returns. The red stretch (about 15 s) holds
// at least two 5-s samples. Worker 0's ring (65,536 items) holds 25 s of
// its share of the soak's 2,000 messages/s (about 30,000 items), so the
// engine drops nothing, and the other workers must not notice. (The stream
// publisher may drop part of the burst when worker 0 catches up: its queue
// is smaller, and the soak does not judge the stream.)
var stuckFault = fault{Name: "stuck handler (worker 0, 25s, past StuckAfter)", Stuck: 25 * time.Second, Expect: "stuck"}

// schedule is the fault cycle of a run: faultCycle, plus the stuck
// handler when polyfeed was built to take it.
func schedule(c *Config) []fault {
	if !c.StuckHandler {
		return faultCycle
	}
	return append(append([]fault(nil), faultCycle...), stuckFault)
}

// FaultEvent records one injection: it started At and ended Until (a
// close ends when it starts; a lasting fault when it was cleared). Err is
// why the injection failed; such a fault was never in effect.
type FaultEvent struct {
	At, Until time.Duration
	Name      string
	Err       string
	// Expect is the fault's expected /healthz report (fault.Expect).
	Expect string
}

// inject applies f against the simulator at base, or, for a stuck
// handler, against polyfeed through stuckFile.
func inject(base, stuckFile string, f fault) error {
	if f.Stuck > 0 {
		return requestStuck(stuckFile, f.Stuck)
	}
	if f.Spec != "" {
		if err := post(base+"/sim/faults", f.Spec); err != nil {
			return err
		}
	}
	if f.Close != 0 {
		return post(fmt.Sprintf("%s/sim/close?code=%d", base, f.Close), "")
	}
	return nil
}

// clearFaults turns every fault off.
func clearFaults(base string) error { return post(base+"/sim/faults", "none") }

func post(url, body string) error {
	resp, err := httpc.Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("POST %s: %d %s", url, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return nil
}

// requestStuck asks polyfeed to block a handler for d by writing d to
// file, and waits for polyfeed to take the request (it removes the file).
// A polyfeed built without -tags soakstuck never does: that is an error,
// not a fault that happened.
func requestStuck(file string, d time.Duration) error {
	if file == "" {
		return errors.New("cannot request a stuck handler: no request file (Config.StuckHandler is off)")
	}
	if err := os.WriteFile(file, []byte(d.String()), 0o644); err != nil {
		return fmt.Errorf("cannot request a stuck handler: %w", err)
	}
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
			return nil
		}
	}
	_ = os.Remove(file)
	return errors.New("cannot request a stuck handler: polyfeed did not take the request within 3s (built without -tags soakstuck?)")
}
