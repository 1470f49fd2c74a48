package engine

import "time"

// When the router goroutine wakes while every socket is silent. Each wake of
// an idle engine is a thread hand-off (a timer firing, an M woken, the
// goroutine run and parked again), and on a venue paused for minutes they are
// most of what it costs: so it sleeps until its periodic work is next due,
// not on a fixed beat.

// idlePeriod is how often the router goroutine retries what waits for room
// in a worker's ring (deferred controls, unstaged invalidations) while every
// socket is silent, and the shortest it sleeps otherwise.
const idlePeriod = 100 * time.Millisecond

// quietPeriod is the longest it sleeps: whatever idleWait does not foresee
// (a ring grown, ticks or the sweep moved by a frame routed meanwhile) is
// still done within it.
const quietPeriod = time.Second

// idleWait is how long the router goroutine may sleep after its periodic
// work at now (mono ns): idlePeriod while something waits for ring room,
// else until the next tick, sweep, decoder-stats snapshot or ring shrink,
// within [idlePeriod, quietPeriod]. Role holder only.
func (r *router) idleWait(now int64) time.Duration {
	if r.backlogged > 0 || r.nUnstaged > 0 {
		return idlePeriod
	}
	next := now + int64(quietPeriod)
	if r.cfg.tick {
		next = min(next, r.nextTick)
	}
	if r.cfg.assetStaleAfter > 0 {
		next = min(next, r.nextSweep)
	}
	if r.frames.Load() != r.statsFrames {
		next = min(next, r.nextDecStats)
	}
	for w, q := range r.rings {
		if q.Cap() > r.firstCap {
			next = min(next, r.grown[w]+int64(shrinkAfter))
		}
	}
	return min(max(time.Duration(next-now), idlePeriod), quietPeriod)
}

// retryLater is called where a deferred control or an unstaged invalidation
// is left for a later retry (stageControl, dropFor): if the sockets fall
// silent now, only the router goroutine retries it, so a quiet one is woken
// to sleep idlePeriod instead. Role holder only; off the per-frame path.
func (r *router) retryLater() {
	if r.quiet.CompareAndSwap(true, false) {
		r.signal()
	}
}
