package soak

import (
	"math"
	"testing"
	"time"
)

const mib = 1 << 20

// series returns n samples one per 5 s of f(t in seconds).
func series(n int, f func(sec float64) float64) ([]time.Duration, []float64) {
	at, v := make([]time.Duration, n), make([]float64, n)
	for i := range at {
		at[i] = time.Duration(i) * 5 * time.Second
		v[i] = f(at[i].Seconds())
	}
	return at, v
}

// reconnects is how many sockets the default 3-minute soak has reopened
// by second s: faults every 30 s cycle through faultCycle; the closing
// ones reopen all ten connections (1,000 markets, 200 assets a socket),
// and none starts in the quiet tail (the last 45 s).
func reconnects(s float64) float64 {
	n := 0.0
	for i, at := 0, 30.0; at <= s && at <= 135; i, at = i+1, at+30 {
		if faultCycle[i%len(faultCycle)].Close != 0 {
			n += 10
		}
	}
	return n
}

// sawtooth is a GC cycle: heap (and, lagging, RSS) climbs for period
// seconds, then falls back.
func sawtooth(s, period, amp float64) float64 { return amp * math.Mod(s, period) / period }

// jitter is deterministic sample-to-sample noise in [-1, 1].
func jitter(s float64) float64 { return math.Sin(s*1.7) * math.Cos(s/3.1) }

func TestTrend(t *testing.T) {
	for _, tc := range []struct {
		name string
		rule rule
		f    func(sec float64) float64
		fail bool
	}{
		{"flat", liveHeapRule, func(float64) float64 { return 50 * mib }, false},
		{"noisy flat", liveHeapRule, func(s float64) float64 { return 50*mib + 6*mib*math.Sin(s/7) }, false},
		{"warm-up ramp then flat", liveHeapRule, func(s float64) float64 { return 50*mib*min(1, s/50) + 1 }, false},
		{"leak 20 KiB/s", liveHeapRule, func(s float64) float64 { return 50*mib + 20*1024*s }, true},
		{"one step up early, then flat", liveHeapRule, func(s float64) float64 {
			if s > 200 {
				return 70 * mib
			}
			return 50 * mib
		}, false},
		{"GC sawtooth in RSS, 26 MiB a minute", rssRule, func(s float64) float64 { return 60*mib + sawtooth(s, 60, 26*mib) }, false},
		{"GC sawtooth in RSS over a leak of 20 KiB/s", rssRule, func(s float64) float64 { return 60*mib + sawtooth(s, 60, 26*mib) + 20*1024*s }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at, v := series(200, tc.f) // 1000 s
			got := trend("x", at, v, 60*time.Second, tc.rule)
			if got.Fail != tc.fail {
				t.Errorf("trend = %v; want fail %v", got, tc.fail)
			}
		})
	}
}

// TestTrendDefaultSoak judges the series of the default run (3 minutes,
// a sample every 5 s, warm-up one minute) built to look like the real
// engine's (see PERFORMANCE.md's soak section): each leak the issue names
// must fail, and the healthy series, with their GC sawtooth, recycle peaks
// and a connection coming and going, must pass.
func TestTrendDefaultSoak(t *testing.T) {
	const n, warm = 37, time.Minute    // 0 … 180 s
	conns := func(s float64) float64 { // churn adds an eleventh socket for a while
		if s > 100 && s < 150 {
			return 11
		}
		return 10
	}
	recycle := func(s float64) float64 { // a recycle runs a second socket for one sample in four
		if int(s/5)%4 == 1 {
			return 4
		}
		return 0
	}
	goroutines := func(s float64) float64 { return 4*conns(s) + recycle(s) + 2*jitter(s) }
	liveHeap := func(s float64) float64 { return 28*mib + mib*jitter(s) }
	rss := func(s float64) float64 { return 80*mib + sawtooth(s, 60, 20*mib) + 2*mib*jitter(s) }
	for _, tc := range []struct {
		name string
		rule rule
		f    func(sec float64) float64
		fail bool
	}{
		{"goroutines, healthy", goroutineRule, goroutines, false},
		{"goroutines, one leaked per reconnect", goroutineRule, func(s float64) float64 { return goroutines(s) + reconnects(s) }, true},
		{"live heap, healthy", liveHeapRule, liveHeap, false},
		{"live heap, 1 MiB leaked per reconnect", liveHeapRule, func(s float64) float64 { return liveHeap(s) + reconnects(s)*mib }, true},
		{"RSS, healthy sawtooth", rssRule, rss, false},
		{"RSS, 1 MiB leaked per reconnect", rssRule, func(s float64) float64 { return rss(s) + reconnects(s)*mib }, true},
		{"fds, healthy", fdRule, func(s float64) float64 { return 12 + conns(s) + recycle(s)/4 }, false},
		{"fds, one socket left open per reconnect", fdRule, func(s float64) float64 { return 12 + conns(s) + reconnects(s) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at, v := series(n, tc.f)
			got := trend("x", at, v, warm, tc.rule)
			t.Log(got)
			if got.Fail != tc.fail || got.Why != "" {
				t.Errorf("trend = %v; want fail %v on a judgeable window", got, tc.fail)
			}
		})
	}
}

func TestTrendRefusesTooShort(t *testing.T) {
	flat := func(float64) float64 { return 50 * mib }
	at, v := series(3, flat)
	if got := trend("x", at, v, 0, liveHeapRule); !got.Fail || got.Points != 3 || got.Why == "" {
		t.Errorf("trend = %+v; want a failure for 3 points", got)
	}
	at, v = series(18, flat) // 85 s: enough points, too short a window
	if got := trend("x", at, v, 0, liveHeapRule); !got.Fail || got.Why == "" {
		t.Errorf("trend = %+v; want a failure for an 85 s window", got)
	}
	at, v = series(19, flat) // 90 s
	if got := trend("x", at, v, 0, liveHeapRule); got.Fail {
		t.Errorf("trend = %+v; want a pass for a flat 90 s window", got)
	}
}

func TestTrendsSkipIncompleteSamples(t *testing.T) {
	var ss []Sample
	for i := range 37 {
		s := Sample{At: time.Duration(i) * 5 * time.Second, RSS: 80 * mib, LiveHeap: 28 * mib, Goroutines: 40, FDs: 22, Complete: i%5 != 3}
		if !s.Complete { // a failed observation leaves zeros behind
			s.RSS, s.LiveHeap, s.Goroutines, s.FDs = 0, 0, 0, 0
		}
		ss = append(ss, s)
	}
	for _, tr := range trends(ss, time.Minute) {
		if tr.Fail || tr.Baseline == 0 {
			t.Errorf("%v; want a pass on the complete samples", tr)
		}
	}
}

func TestConfigRefusesShortRuns(t *testing.T) {
	c := Config{Polyfeed: "x", Polysim: "y", Duration: 2 * time.Minute}
	if err := c.fill(); err == nil {
		t.Error("a 2-minute run was accepted")
	}
	c = Config{Polyfeed: "x", Polysim: "y", Duration: 3 * time.Minute, Sample: time.Minute}
	if err := c.fill(); err == nil {
		t.Error("a 1-minute sample period in a 3-minute run was accepted")
	}
	c = Config{Polyfeed: "x", Polysim: "y"}
	if err := c.fill(); err != nil {
		t.Errorf("defaults refused: %v", err)
	}
	if judged := c.Duration - c.warmup(); judged < minSpan {
		t.Errorf("default judged window %s < %s", judged, minSpan)
	}
}
