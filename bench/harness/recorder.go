package harness

import (
	"math"
	"sync/atomic"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/engine"
	"github.com/polyfeed/polyfeed/internal/mono"
)

// Recorder is the benchmark's handler: it does no work of its own beyond
// counting events and recording, per worker, how long ago each event's frame
// was received (frame received → handler called, the engine's whole
// latency as a handler sees it) into an HDR histogram.
type Recorder struct {
	armedAt atomic.Int64 // events from frames received before this are not recorded
	workers []*workerRecorder
}

type workerRecorder struct {
	events atomic.Uint64 // every event, armed or not (progress polling)
	books  atomic.Uint64
	armed  *atomic.Int64           // the Recorder's armedAt
	hist   *hdrhistogram.Histogram // written by the worker only
	_      [32]byte                // keep workers' counters off each other's lines
}

// HDR range: 1 ns to 60 s, 3 significant digits.
const (
	hdrMin, hdrMax, hdrDigits = 1, 60_000_000_000, 3
)

// NewRecorder makes a recorder for an engine with the given worker count. It
// records nothing until Arm.
func NewRecorder(workers int) *Recorder {
	r := &Recorder{}
	r.armedAt.Store(math.MaxInt64)
	for range workers {
		r.workers = append(r.workers, &workerRecorder{armed: &r.armedAt, hist: hdrhistogram.New(hdrMin, hdrMax, hdrDigits)})
	}
	return r
}

// Factory is the engine's HandlerFactory.
func (r *Recorder) Factory(i int) engine.Handler { return r.workers[i] }

// Arm starts recording events whose frames were received at or after t
// (a mono.Now reading).
func (r *Recorder) Arm(t int64) { r.armedAt.Store(t) }

// Disarm stops recording.
func (r *Recorder) Disarm() { r.armedAt.Store(math.MaxInt64) }

// OnEvent runs on the worker goroutine. // hot path
func (w *workerRecorder) OnEvent(ev *engine.Event, _ *book.Book) {
	w.events.Add(1)
	if ev.Kind == engine.EventBook {
		w.books.Add(1)
	}
	if ev.RecvNanos >= w.armed.Load() {
		_ = w.hist.RecordValue(mono.Now() - ev.RecvNanos)
	}
}

// Events is the number of events every worker has handled so far.
func (r *Recorder) Events() uint64 {
	var n uint64
	for _, w := range r.workers {
		n += w.events.Load()
	}
	return n
}

// Books is the number of book snapshots handled so far.
func (r *Recorder) Books() uint64 {
	var n uint64
	for _, w := range r.workers {
		n += w.books.Load()
	}
	return n
}

// Histogram merges the workers' histograms. Only after the App stopped.
func (r *Recorder) Histogram() *hdrhistogram.Histogram {
	h := hdrhistogram.New(hdrMin, hdrMax, hdrDigits)
	for _, w := range r.workers {
		h.Merge(w.hist)
	}
	return h
}

// Reset clears the histograms. Only while no engine uses the recorder.
func (r *Recorder) Reset() {
	for _, w := range r.workers {
		w.hist.Reset()
	}
}
