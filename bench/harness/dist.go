package harness

import (
	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/polyfeed/polyfeed/engine"
)

// Dist is a latency distribution in nanoseconds.
type Dist struct {
	Count                    int64
	P50, P90, P99, P999, Max int64
	Source                   string // "hdr" (exact to 3 digits, per event) or "engine" (engine histogram)
	curve                    []CurvePoint
}

// CurvePoint is one point of a percentile curve.
type CurvePoint struct {
	Percentile float64 // 0..100
	Nanos      int64
}

// Curve is the distribution as percentile points, for plotting.
func (d Dist) Curve() []CurvePoint { return d.curve }

func distFromHDR(h *hdrhistogram.Histogram) Dist {
	d := Dist{
		Count: h.TotalCount(), Source: "hdr",
		P50: h.ValueAtQuantile(50), P90: h.ValueAtQuantile(90), P99: h.ValueAtQuantile(99),
		P999: h.ValueAtQuantile(99.9), Max: h.Max(),
	}
	if d.Count == 0 {
		return d
	}
	// Percentiles spaced evenly in "nines" (as HdrHistogram's percentile
	// distribution output), up to the one-in-count tail.
	for _, p := range []float64{0, 10, 25, 50, 75, 90, 95, 97.5, 99, 99.5, 99.75, 99.9, 99.95, 99.975, 99.99, 99.995, 99.999} {
		if p > 0 && (100-p)/100*float64(d.Count) < 1 {
			break
		}
		d.curve = append(d.curve, CurvePoint{p, h.ValueAtQuantile(p)})
	}
	d.curve = append(d.curve, CurvePoint{100, d.Max})
	return d
}

func distFromSummary(s engine.LatencySummary) Dist {
	ns := func(ms float64) int64 { return int64(ms * 1e6) }
	d := Dist{Count: int64(s.Count), Source: "engine", P50: ns(s.P50Ms), P90: ns(s.P90Ms), P99: ns(s.P99Ms), P999: ns(s.P999Ms), Max: ns(s.MaxMs)}
	d.curve = []CurvePoint{{50, d.P50}, {90, d.P90}, {99, d.P99}, {99.9, d.P999}, {100, d.Max}}
	return d
}

// worstOf merges per-worker engine summaries conservatively: each
// percentile is the largest any worker reports (the engine keeps one
// histogram per worker and exposes only their summaries).
func worstOf(ws map[string]engine.WorkerStats, pick func(engine.WorkerStats) engine.LatencySummary) Dist {
	var out Dist
	for _, w := range ws {
		d := distFromSummary(pick(w))
		out.Count += d.Count
		out.P50, out.P90, out.P99 = max(out.P50, d.P50), max(out.P90, d.P90), max(out.P99, d.P99)
		out.P999, out.Max = max(out.P999, d.P999), max(out.Max, d.Max)
	}
	out.Source = "engine"
	out.curve = []CurvePoint{{50, out.P50}, {90, out.P90}, {99, out.P99}, {99.9, out.P999}, {100, out.Max}}
	return out
}

func us(ns int64) float64 { return float64(ns) / 1e3 }
