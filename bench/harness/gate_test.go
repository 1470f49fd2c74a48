package harness

import (
	"strings"
	"testing"
	"time"
)

// gateReport is an engine-alone sweep whose unpaced step achieved
// unpaced events/s, and one whole-path step; every step well inside the
// limits unless a test breaks one.
func gateReport(unpaced float64, rates ...float64) *Report {
	mk := func(mode string, rate float64) *Result {
		return &Result{Mode: mode, Offered: rate, Achieved: rate, Route: Dist{P99: int64(50 * time.Microsecond)}, Processing: Dist{P99: int64(200 * time.Microsecond)}}
	}
	rep := &Report{Machine: Machine{CPU: "test CPU", Cores: 2}}
	for _, r := range rates {
		rep.Sweep = append(rep.Sweep, mk("engine", r))
	}
	if unpaced > 0 {
		u := mk("engine", 0)
		u.Achieved = unpaced
		rep.Sweep = append(rep.Sweep, u)
	}
	rep.Whole = []*Result{mk("whole", 2000)}
	return rep
}

func TestGateHeadroom(t *testing.T) {
	rep := gateReport(600e3, 1e3, 100e3, 200e3, 400e3)
	g := rep.Gate(time.Millisecond, 5*time.Millisecond)
	if !g.Passed() || g.PacedLimit != 200e3 {
		t.Fatalf("gate %+v; want a pass with paced steps gated up to 200k", g)
	}
	want := "engine 1K ev/s, engine 100K ev/s, engine 200K ev/s, whole 2K msg/s"
	if got := strings.Join(g.Gated, ", "); got != want {
		t.Errorf("gated %q; want %q", got, want)
	}
	if want := "engine 400K ev/s: above a third of the unpaced maximum (200000 ev/s)"; len(g.Skipped) == 0 || g.Skipped[0] != want {
		t.Errorf("skipped %q; want first %q", g.Skipped, want)
	}
	// The step above a third of the maximum may be as slow as it likes.
	rep.Sweep[3].Route.P99 = int64(time.Second)
	if g := rep.Gate(time.Millisecond, 5*time.Millisecond); !g.Passed() {
		t.Errorf("gate failed on a step without headroom: %v", g.Failures())
	}
	// A slower machine: the same step now has headroom and is gated.
	rep.Sweep[4].Achieved = 1.5e6
	if g := rep.Gate(time.Millisecond, 5*time.Millisecond); g.Passed() {
		t.Error("gate passed a 1 s p99 routing at a third of the unpaced maximum")
	}
}

func TestGateSaysWhichFigureAndByHowMuch(t *testing.T) {
	rep := gateReport(600e3, 1e3, 100e3)
	rep.Sweep[1].Route.P99 = int64(1500 * time.Microsecond)
	rep.Whole[0].Processing.P99 = int64(6 * time.Millisecond)
	g := rep.Gate(time.Millisecond, 5*time.Millisecond)
	if g.Passed() || len(g.Violations) != 2 {
		t.Fatalf("violations %q; want two", g.Violations)
	}
	for i, want := range []string{
		"engine 100K ev/s: p99 routing 1.500 ms ≥ limit 1ms (0.500 ms over, +50%)",
		"whole 2K msg/s: p99 processing 6.000 ms ≥ limit 5ms (1.000 ms over, +20%)",
	} {
		if g.Violations[i] != want {
			t.Errorf("violation %d = %q; want %q", i, g.Violations[i], want)
		}
	}
	var b strings.Builder
	g.WriteText(&b, rep.Machine)
	if out := b.String(); !strings.Contains(out, "gate: FAIL") || !strings.Contains(out, "test CPU") || !strings.Contains(out, "+50%") {
		t.Errorf("gate text lacks the verdict, the CPU model or the margin:\n%s", out)
	}
}

func TestGateFailsWhenItGatedNothing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		breakIt func(*Report)
	}{
		{"every step saturated", func(rep *Report) {
			for _, r := range append(rep.Sweep, rep.Whole...) {
				r.Saturated = true
			}
		}},
		{"no unpaced step and no whole-path step", func(rep *Report) {
			rep.Sweep, rep.Whole = rep.Sweep[:2], nil
		}},
		{"every paced step above a third of the maximum, no whole path", func(rep *Report) {
			rep.Sweep[2].Achieved, rep.Whole = 2e3, nil
		}},
		{"nothing measured", func(rep *Report) { rep.Sweep, rep.Whole = nil, nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := gateReport(600e3, 1e3, 100e3)
			tc.breakIt(rep)
			g := rep.Gate(time.Millisecond, 5*time.Millisecond)
			if g.Passed() || len(g.Gated) != 0 || !strings.Contains(strings.Join(g.Failures(), "\n"), "gated no step") {
				t.Errorf("gate %+v, failures %q; want a failure for gating nothing", g, g.Failures())
			}
		})
	}
}

func TestWholeSaturated(t *testing.T) {
	ok := Result{Mode: "whole", Offered: 10e3, AchievedMessages: 9.8e3}
	if wholeSaturated(&ok) {
		t.Errorf("%+v saturated; want it kept up", ok)
	}
	for name, breakIt := range map[string]func(*Result){
		"achieved under 95% of offered": func(r *Result) { r.AchievedMessages = 9.4e3 },
		"inbound stalls":                func(r *Result) { r.InboundStalls = 1 },
		"drops":                         func(r *Result) { r.Dropped = 1 },
		"slow closes":                   func(r *Result) { r.SlowCloses = 1 },
	} {
		r := ok
		breakIt(&r)
		if !wholeSaturated(&r) {
			t.Errorf("%s: %+v not saturated", name, r)
		}
	}
}
