package engine

import (
	"time"

	"github.com/polyfeed/polyfeed/engine/stats"
)

// snapshotDecoderStats publishes the decoder's counters (owned by the router
// goroutine) for Stats, at most once a second: the copy allocates.
func (r *router) snapshotDecoderStats(now int64) {
	if now < r.nextDecStats {
		return
	}
	r.nextDecStats = now + int64(time.Second)
	r.statsFrames = r.frames.Load()
	s := r.dec.Stats()
	r.decStats.Store(&s)
}

func (r *router) stats() RouterStats {
	s := RouterStats{
		Frames:           r.frames.Load(),
		Events:           r.events.Load(),
		MessagesRouted:   r.routed.Load(),
		Dropped:          r.dropped.Load(),
		Malformed:        r.malformed.Load(),
		Stalls:           r.stalls.Load(),
		Resyncs:          r.resyncsSent.Load(),
		ResyncBackoffs:   r.resyncs.Backoffs(),
		RejectedAssets:   r.rejectedNow.Load(),
		TooLarge:         r.tooLarge.Load(),
		DeferredControls: r.deferred.Load(),
		ControlBacklog:   r.backlogLen.Load(),
		LateEvents:       r.lateEvents.Load(),
		StaleResyncs:     r.staleResyncs.Load(),
		MarketNotices:    r.market.Load(),
		InboundStalls:    r.in.Stalls(),
		InboundBytes:     r.in.Bytes(),
		QueueDepths:      map[string]int{"async_queue": int(r.in.Frames())},
		Policy:           r.cfg.policy.String(),
	}
	// Depths from the consumers' side: r.rings is the role holder's own
	// (it replaces an entry when it resizes a ring), and a worker may still
	// be draining the ring before it (ring.Chain.Len follows the chain).
	for i, w := range r.workers {
		s.QueueDepths[workerName(i)] = w.ring.Len()
	}
	h := r.latency.Snapshot()
	s.Latency = stats.Summarize(&h)
	if d := r.decStats.Load(); d != nil {
		s.UnknownEvents, s.UnknownTypes = d.Unknown, d.UnknownTypes
		s.LegacyPriceChanges, s.MalformedParts = d.Legacy, d.Malformed
	}
	return s
}
