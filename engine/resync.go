package engine

import (
	"time"

	"github.com/polyfeed/polyfeed/internal/mono"
)

// Resync: asking the venue for a fresh snapshot of an asset whose book can no
// longer be trusted (a dropped or skipped event, a tick-size change, a
// silence longer than AssetStaleAfter). Requests are deduplicated while
// pending and handed to the pool in batches, off the hot path.
//
// Resyncs of one asset back off: a request that comes soon after the
// asset's previous resync (within twice its current backoff, or
// resyncRepeatWindow) is a repeat, and repeats wait resyncBackoffMin,
// doubling up to resyncBackoffMax after the previous one. A venue that
// answers with a snapshot the engine rejects the same way every time (too
// large for the ring, an undecodable level) then costs one unsubscribe and
// subscribe every few minutes instead of four a second; an occasional
// resync still goes out at the next batch.

const (
	resyncBackoffMin   = time.Second
	resyncBackoffMax   = 5 * time.Minute
	resyncRepeatWindow = 10 * time.Second
	// rejectReport: after this many rejected snapshots in a row an asset is
	// reported (RouterStats.RejectedAssets, a log line).
	rejectReport = 3
)

// resyncState is one asset's resync history. Guarded by router.resyncMu.
type resyncState struct {
	pending  bool
	repeats  int   // consecutive repeats; 0: the last resync was not one
	last     int64 // mono ns the last resync went out (0: never)
	due      int64 // mono ns the pending request may go out
	deferred bool  // the pending request waits for its backoff
}

// resyncBackoff is how long the n-th consecutive repeat waits after the
// previous resync.
func resyncBackoff(n int, lo, hi time.Duration) int64 {
	if n <= 0 {
		return 0
	}
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	return int64(min(d, hi))
}

// requestResync queues a fresh-snapshot request for the asset (deduplicated
// while pending, backed off when it repeats). Safe from any goroutine; not
// per event (drops, divergences and sweeps call it).
func (r *router) requestResync(assetID string) {
	now := mono.Now()
	r.resyncMu.Lock()
	st := r.resyncs[assetID]
	if st == nil {
		st = &resyncState{}
		r.resyncs[assetID] = st
	}
	if st.pending {
		r.resyncMu.Unlock()
		return
	}
	st.pending, st.due, st.deferred = true, now, false
	if st.last != 0 && now-st.last < max(2*resyncBackoff(st.repeats, r.cfg.backoffMin, r.cfg.backoffMax), int64(resyncRepeatWindow)) {
		st.repeats++
		if due := st.last + resyncBackoff(st.repeats, r.cfg.backoffMin, r.cfg.backoffMax); due > now {
			st.due, st.deferred = due, true
			r.resyncBackoffs.Add(1)
		}
	} else {
		st.repeats = 0
	}
	r.resyncMu.Unlock()
	if !st.deferred {
		select {
		case r.resyncWake <- struct{}{}:
		default:
		}
	}
}

// dueResyncs takes the requests whose time has come, and forgets assets
// whose last resync is long enough ago not to count as repeated.
func (r *router) dueResyncs() []string {
	now := mono.Now()
	r.resyncMu.Lock()
	defer r.resyncMu.Unlock()
	var ids []string
	for id, st := range r.resyncs {
		switch {
		case st.pending && st.due <= now:
			st.pending, st.last = false, now
			ids = append(ids, id)
		case !st.pending && now-st.last > max(2*resyncBackoff(st.repeats, r.cfg.backoffMin, r.cfg.backoffMax), int64(resyncRepeatWindow)):
			delete(r.resyncs, id)
		}
	}
	return ids
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
		ids := r.dueResyncs()
		if len(ids) == 0 {
			continue
		}
		r.resyncsSent.Add(uint64(len(ids)))
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

// rejected records that a snapshot of rt was rejected (why says how); an
// asset rejected rejectReport times in a row is reported. Router goroutine.
func (r *router) rejected(rt *assetRoute, why string) {
	n := r.rejects[rt.id] + 1
	r.rejects[rt.id] = n
	if n == rejectReport {
		r.rejectedNow.Add(1)
		r.rejectLog.log(r.cfg.logger, "asset's snapshots rejected repeatedly; its resyncs back off", "asset", rt.id, "market", rt.market, "reason", why, "times", n)
	}
}

// accepted clears rt's rejections once one of its snapshots is staged.
// Router goroutine. // hot path (a map lookup only while some asset is rejected)
func (r *router) accepted(rt *assetRoute) {
	if len(r.rejects) == 0 {
		return
	}
	if n, ok := r.rejects[rt.id]; ok {
		delete(r.rejects, rt.id)
		if n >= rejectReport {
			r.rejectedNow.Add(-1)
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
