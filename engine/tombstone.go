package engine

import "time"

// Tombstones: a frame that was in flight when its asset left the engine
// (DropBooks) must not bring the asset back. Without a tombstone the router
// would create a fresh route on the late frame, and its worker a book that
// nothing ever drops again. The router remembers dropped assets for
// tombstoneTTL; an event for one of them is counted and ignored unless the
// control plane tracks the asset again (re-added), which the feedback's
// tracked answers.

// tombstoneTTL is how long a dropped asset's late frames are recognised:
// far longer than any frame stays in flight.
const tombstoneTTL = 10 * time.Minute

// forget removes rt's route and leaves a tombstone. Router goroutine.
func (r *router) forget(rt *assetRoute, now int64) {
	delete(r.routes, rt.id)
	if n, ok := r.rejects[rt.id]; ok {
		delete(r.rejects, rt.id)
		if n >= rejectReport {
			r.rejectedNow.Add(-1)
		}
		r.resyncs.SetRejected(rt.id, false)
	}
	r.gone[rt.id] = now
}

// pruneTombstones forgets tombstones older than tombstoneTTL; once per drop
// request, so the set stays as large as a TTL's worth of drops.
func (r *router) pruneTombstones(now int64) {
	for id, at := range r.gone {
		if now-at > int64(tombstoneTTL) {
			delete(r.gone, id)
		}
	}
}

// late reports whether assetID was dropped and is not tracked again: its
// event is counted and ignored. Router goroutine, on a route miss only.
func (r *router) late(assetID string) bool {
	if len(r.gone) == 0 {
		return false
	}
	if _, ok := r.gone[assetID]; !ok {
		return false
	}
	if r.cfg.feedback != nil && r.cfg.feedback.tracked(assetID) {
		delete(r.gone, assetID) // added again: its frames are welcome
		return false
	}
	r.lateEvents.Add(1)
	return true
}
