package engine

import "time"

// snapshotDecoderStats publishes the decoder's counters (owned by the router
// goroutine) for Stats, at most once a second: the copy allocates.
func (r *router) snapshotDecoderStats(now int64) {
	if now < r.nextDecStats {
		return
	}
	r.nextDecStats = now + int64(time.Second)
	s := r.dec.Stats()
	r.decStats.Store(&s)
}

// RouterStats is a snapshot of the router's counters.
type RouterStats struct {
	Frames         uint64 `json:"frames"`
	Events         uint64 `json:"events"`
	MessagesRouted uint64 `json:"messages_routed"`
	Dropped        uint64 `json:"messages_dropped"`
	Malformed      uint64 `json:"malformed_frames"`
	Stalls         uint64 `json:"backpressure_stalls"`
	Resyncs        uint64 `json:"resyncs_requested"`
	TooLarge       uint64 `json:"snapshots_too_large"`
	// DeferredControls: control requests that found their worker's ring
	// full (a stuck handler) and waited off the router; ControlBacklog: how
	// many wait now.
	DeferredControls uint64 `json:"controls_deferred"`
	ControlBacklog   int64  `json:"control_backlog"`
	// LateEvents: events for assets already dropped from the engine, ignored.
	LateEvents uint64 `json:"late_events_ignored"`
	// ResyncBackoffs: resync requests held back because their asset was
	// resynced just before; RejectedAssets: assets whose last few snapshots
	// were all rejected (too large for the ring, undecodable), now.
	ResyncBackoffs uint64         `json:"resync_backoffs"`
	RejectedAssets int64          `json:"assets_rejected_repeatedly"`
	StaleResyncs   uint64         `json:"stale_asset_resyncs"`
	MarketNotices  uint64         `json:"market_notices"`
	InboundStalls  int64          `json:"inbound_stalls"`
	InboundBytes   int64          `json:"inbound_bytes"`
	QueueDepths    map[string]int `json:"queue_depths"`
	Latency        LatencySummary `json:"routing_latency"`
	Policy         string         `json:"backpressure"`
	// From the decoder (refreshed about once a second).
	UnknownEvents      uint64            `json:"unknown_events"`
	UnknownTypes       map[string]uint64 `json:"unknown_event_types,omitempty"`
	LegacyPriceChanges uint64            `json:"legacy_price_changes"`
	MalformedParts     uint64            `json:"malformed_parts"`
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
	s.Latency = summarize(&h)
	if d := r.decStats.Load(); d != nil {
		s.UnknownEvents, s.UnknownTypes = d.Unknown, d.UnknownTypes
		s.LegacyPriceChanges, s.MalformedParts = d.Legacy, d.Malformed
	}
	return s
}
