package harness

import (
	"time"

	"github.com/polyfeed/polyfeed/engine"
)

// Result is one measured step.
type Result struct {
	Mode     string  // "engine" (replay into FrameSink) or "whole" (simulator over loopback)
	Offered  float64 // offered events/s; 0 = as fast as the feeder can push
	Achieved float64 // handled events/s over the window (until the backlog drained)
	Events   uint64  // handler events in the window
	Frames   uint64  // frames fed in the window
	Window   time.Duration
	// Engine counters over the window.
	Dropped       uint64
	InboundStalls int64
	Invalidations uint64
	Divergences   uint64
	// Stage latencies. Route: frame received → routed (router histogram,
	// per frame). Processing: routed → handler done (worker histograms,
	// stamped once per batch). EndToEnd: received → handler done, the same.
	// These three cover the measured window (App.ResetLatency at its start)
	// and merge workers by taking the worst percentile. Handler: received → handler
	// called, per event, recorded by the benchmark's handler over the window
	// only (HDR).
	Route, Processing, EndToEnd, Handler Dist
	Resources
	// Saturated: the engine did not keep up: achieved < 95% of offered
	// (whole path: AchievedMessages), drops, inbound stalls (whole path),
	// or sockets the simulator closed as too slow.
	Saturated bool
	// Fed: engine alone only, handler events in the frames fed in the
	// window; Shortfall those never handled (the engine dropped them).
	Fed, Shortfall uint64
	// Whole path only: SimMessages the simulator sent (per socket) and
	// SimGenerated generated (once each) in the window; AchievedMessages is
	// SimGenerated over the window; SlowCloses counts sockets the simulator
	// closed for an overfull send queue.
	SimMessages, SimGenerated uint64
	AchievedMessages          float64
	SlowCloses                uint64
}

// Startup is the startup burst: every subscribe reply arriving at once.
type Startup struct {
	Books        int
	Frames       int
	Bytes        int64
	Duration     time.Duration // first frame pushed → last book handled
	BytesPerBook float64       // live heap per book (route + book + its levels), slope over the second half
	HeapBytes    uint64        // live heap after all books, engine included
	RSSBytes     int64
	Dropped      uint64
}

func fillFromStats(r *Result, before, after engine.Stats) {
	r.Dropped = after.Router.Dropped - before.Router.Dropped
	r.InboundStalls = after.Router.InboundStalls - before.Router.InboundStalls
	for name, w := range after.Workers.WorkerStats {
		b := before.Workers.WorkerStats[name]
		r.Invalidations += w.Invalidations - b.Invalidations
		r.Divergences += w.Divergences - b.Divergences
	}
	r.Route = distFromSummary(after.Router.Latency)
	r.Processing = worstOf(after.Workers.WorkerStats, func(w engine.WorkerStats) engine.LatencySummary { return w.Processing })
	r.EndToEnd = worstOf(after.Workers.WorkerStats, func(w engine.WorkerStats) engine.LatencySummary { return w.EndToEnd })
}
