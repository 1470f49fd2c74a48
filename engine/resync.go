package engine

import (
	"time"

	"github.com/polyfeed/polyfeed/internal/mono"
)

// Resync: asking the venue for a fresh snapshot of an asset whose book can no
// longer be trusted. The router decides when (drops, divergences, rejected
// snapshots, silent assets: below); the scheduling, deduplication and backoff
// are engine/resync's, and resyncLoop hands the due requests to the pool in
// batches, off the hot path.

// rejectReport: after this many rejected snapshots in a row an asset is
// reported (RouterStats.RejectedAssets, a log line).
const rejectReport = 3

// requestResync queues a fresh-snapshot request for the asset (deduplicated
// while pending, backed off when it repeats). Safe from any goroutine; not
// per event (drops, divergences and sweeps call it).
func (r *router) requestResync(assetID string) {
	if r.resyncs.Request(assetID, mono.Now()) {
		select {
		case r.resyncWake <- struct{}{}:
		default:
		}
	}
}

// resyncLoop hands batched resync requests to the pool, off the hot path. It
// sleeps until a request due at once wakes it (requestResync) or a backed-off
// one falls due: an engine with nothing to resync wakes for nothing.
func (r *router) resyncLoop() {
	wait := time.NewTimer(time.Hour)
	wait.Stop()
	defer wait.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-r.resyncWake:
		case <-wait.C:
		}
		ids := r.resyncs.Due(mono.Now(), nil)
		if len(ids) > 0 {
			r.resyncsSent.Add(uint64(len(ids)))
			if r.cfg.feedback != nil {
				r.cfg.feedback.resync(ids)
			}
			// Pace: at most one batch per interval.
			wait.Reset(r.cfg.resyncEvery)
			select {
			case <-r.stop:
				return
			case <-wait.C:
			}
		}
		if next, ok := r.resyncs.NextDue(); ok {
			wait.Reset(max(time.Duration(next-mono.Now()), r.cfg.resyncEvery))
		}
	}
}

// rejected records that a snapshot of rt was rejected (why says how); an
// asset rejected rejectReport times in a row is reported. Router goroutine.
func (r *router) rejected(rt *assetRoute, why string) {
	n := r.rejects[rt.id] + 1
	r.rejects[rt.id] = n
	r.resyncs.SetRejected(rt.id, true)
	if n == rejectReport {
		r.rejectedNow.Add(1)
		r.rejectLog.Warn(r.cfg.logger, "asset's snapshots rejected repeatedly; its resyncs back off", "asset", rt.id, "market", rt.market, "reason", why, "times", n)
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
		r.resyncs.SetRejected(rt.id, false)
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
