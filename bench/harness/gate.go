package harness

import (
	"fmt"
	"strings"
	"time"
)

// HeadroomFactor sets which paced engine-alone steps the gate judges: those
// offered at most 1/HeadroomFactor of the run's own unpaced maximum. Nearer
// the maximum the 2-core machine runs the feeder, the router and every
// worker at once, and latency measures the queue the overload builds (and
// the other load on the machine), not the path.
const HeadroomFactor = 3

// GateRule states the gate in words; the Makefile and PERFORMANCE.md say
// the same.
const GateRule = "p99 routing and p99 processing under their limits on every step with headroom: " +
	"paced engine-alone steps offered at most a third of the run's own unpaced maximum, and every " +
	"whole-path step; a saturated step is reported, not gated; a run that gates no step fails"

// GateResult is the gate's verdict on one run.
type GateResult struct {
	// Route and Processing are the p99 limits applied.
	Route, Processing time.Duration
	// UnpacedMax is the unpaced step's achieved events/s (0: none ran) and
	// PacedLimit the highest paced offered rate gated (UnpacedMax/HeadroomFactor).
	UnpacedMax, PacedLimit float64
	// Gated names the steps judged; Skipped the others, each with why.
	Gated, Skipped []string
	// Violations says which figure of which step failed, and by how much.
	Violations []string
}

// Passed reports whether the gate judged at least one step and every
// judged step kept its limits.
func (g *GateResult) Passed() bool { return len(g.Gated) > 0 && len(g.Violations) == 0 }

// Failures is Violations, plus a line when nothing was gated.
func (g *GateResult) Failures() []string {
	out := append([]string{}, g.Violations...)
	if len(g.Gated) == 0 {
		out = append(out, fmt.Sprintf("gated no step (%d skipped: %s); a run that measures nothing cannot pass",
			len(g.Skipped), strings.Join(g.Skipped, "; ")))
	}
	return out
}

// Gate applies the latency limits (p99 routing < route, p99 processing <
// processing) to the steps with headroom (see GateRule).
func (rep *Report) Gate(route, processing time.Duration) *GateResult {
	g := &GateResult{Route: route, Processing: processing}
	for _, r := range rep.Sweep {
		if r.Offered == 0 {
			g.UnpacedMax = max(g.UnpacedMax, r.Achieved)
		}
	}
	g.PacedLimit = g.UnpacedMax / HeadroomFactor
	for _, r := range append(append([]*Result{}, rep.Sweep...), rep.Whole...) {
		name := r.Mode + " " + rateName(r.Offered, r.Mode)
		switch {
		case r.Offered == 0:
			g.Skipped = append(g.Skipped, name+": unpaced (it sets the headroom)")
			continue
		case r.Saturated:
			g.Skipped = append(g.Skipped, name+": saturated")
			continue
		case r.Mode == "engine" && g.UnpacedMax == 0:
			g.Skipped = append(g.Skipped, name+": no unpaced step measured the headroom")
			continue
		case r.Mode == "engine" && r.Offered > g.PacedLimit:
			g.Skipped = append(g.Skipped, fmt.Sprintf("%s: above a third of the unpaced maximum (%.0f ev/s)", name, g.PacedLimit))
			continue
		}
		g.Gated = append(g.Gated, name)
		if v := over(name, "p99 routing", r.Route.P99, route); v != "" {
			g.Violations = append(g.Violations, v)
		}
		if v := over(name, "p99 processing", r.Processing.P99, processing); v != "" {
			g.Violations = append(g.Violations, v)
		}
	}
	return g
}

// over describes a figure at or above its limit, with the margin.
func over(step, figure string, got int64, limit time.Duration) string {
	if got < int64(limit) {
		return ""
	}
	return fmt.Sprintf("%s: %s %.3f ms ≥ limit %v (%.3f ms over, %+.0f%%)", step, figure,
		float64(got)/1e6, limit, float64(got-int64(limit))/1e6, 100*(float64(got)/float64(limit)-1))
}

// WriteText writes the verdict: the rule, the headroom, what was gated and
// skipped, and PASS or FAIL with every failure.
func (g *GateResult) WriteText(b *strings.Builder, m Machine) {
	fmt.Fprintf(b, "\ngate on %s (%d cores, %s): %s\n", m.CPU, m.Cores, m.GoVersion, GateRule)
	fmt.Fprintf(b, "  limits: p99 routing < %v, p99 processing < %v; unpaced maximum %.0f ev/s, so paced steps up to %.0f ev/s are gated\n",
		g.Route, g.Processing, g.UnpacedMax, g.PacedLimit)
	fmt.Fprintf(b, "  gated: %s\n", orNone(g.Gated))
	fmt.Fprintf(b, "  skipped: %s\n", orNone(g.Skipped))
	if g.Passed() {
		fmt.Fprintf(b, "gate: PASS\n")
		return
	}
	fmt.Fprintf(b, "gate: FAIL\n  %s\n", strings.Join(g.Failures(), "\n  "))
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, "; ")
}
