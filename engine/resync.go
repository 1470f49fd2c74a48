package engine

import "time"

// Resync: asking the venue for a fresh snapshot of an asset whose book can no
// longer be trusted (a dropped or skipped event, a tick-size change, a
// silence longer than AssetStaleAfter). Requests are deduplicated while
// pending and handed to the pool in batches, off the hot path.

// requestResync queues a fresh-snapshot request for the asset (deduplicated
// while pending). Safe from any goroutine.
func (r *router) requestResync(assetID string) {
	r.resyncMu.Lock()
	_, dup := r.resyncSet[assetID]
	if !dup {
		r.resyncSet[assetID] = struct{}{}
	}
	r.resyncMu.Unlock()
	if !dup {
		select {
		case r.resyncWake <- struct{}{}:
		default:
		}
	}
}

// resyncLoop hands batched resync requests to the pool, off the hot path.
func (r *router) resyncLoop() {
	t := time.NewTicker(r.cfg.resyncEvery)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-r.resyncWake:
		case <-t.C:
		}
		r.resyncMu.Lock()
		if len(r.resyncSet) == 0 {
			r.resyncMu.Unlock()
			continue
		}
		ids := make([]string, 0, len(r.resyncSet))
		for id := range r.resyncSet {
			ids = append(ids, id)
		}
		clear(r.resyncSet)
		r.resyncMu.Unlock()
		r.resyncs.Add(uint64(len(ids)))
		if r.cfg.feedback != nil {
			r.cfg.feedback.resync(ids)
		}
		// Pace: at most one batch per interval.
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
	}
}

// sweepStale requests fresh snapshots for assets silent longer than
// assetStaleAfter: a quiet market costs one harmless snapshot, a silently
// stalled asset gets its stream back. Runs on the router goroutine a few
// times per staleness period, so the routes map needs no lock.
func (r *router) sweepStale(now int64) {
	stale := int64(r.cfg.assetStaleAfter)
	r.nextSweep = now + stale/4
	n := 0
	for _, rt := range r.routes {
		if rt.lastEvent != 0 && now-rt.lastEvent > stale {
			r.staleResyncs.Add(1)
			r.requestResync(rt.id)
			rt.lastEvent = now // wait a full period before asking again
			if n++; n >= r.cfg.maxStaleResyncs {
				return
			}
		}
	}
}
