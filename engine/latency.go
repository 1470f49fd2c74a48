package engine

import "github.com/polyfeed/polyfeed/internal/hist"

// LatencySummary is a latency distribution in milliseconds.
type LatencySummary struct {
	Count  uint64  `json:"count"`
	MeanMs float64 `json:"avg_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p999_ms"`
	MaxMs  float64 `json:"max_ms"`
}

func summarize(h *hist.Snapshot) LatencySummary {
	ms := func(ns int64) float64 { return float64(ns) / 1e6 }
	return LatencySummary{
		Count:  h.Count,
		MeanMs: h.Mean() / 1e6,
		P50Ms:  ms(h.Quantile(0.50)),
		P90Ms:  ms(h.Quantile(0.90)),
		P99Ms:  ms(h.Quantile(0.99)),
		P999Ms: ms(h.Quantile(0.999)),
		MaxMs:  ms(h.Max),
	}
}

// Latencies are the engine's latency distributions in full (nanoseconds),
// for exporters that need buckets rather than the summaries in Stats.
type Latencies struct {
	Routing    hist.Snapshot   // frame received to events staged in the rings
	Processing []hist.Snapshot // per worker: event staged to handler done
	EndToEnd   []hist.Snapshot // per worker: frame received to handler done
}

// Latencies returns copies of the latency histograms. Safe from any
// goroutine at any time; events in flight may be counted or not.
func (a *App) Latencies() Latencies {
	ws := a.data.workers.workers
	l := Latencies{Routing: a.data.router.latency.Snapshot(),
		Processing: make([]hist.Snapshot, len(ws)), EndToEnd: make([]hist.Snapshot, len(ws))}
	for i, w := range ws {
		l.Processing[i], l.EndToEnd[i] = w.processing.Snapshot(), w.endToEnd.Snapshot()
	}
	return l
}
