package engine

import "github.com/polyfeed/polyfeed/internal/hist"

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
