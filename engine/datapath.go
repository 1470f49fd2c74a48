package engine

import (
	"context"
	"time"

	"github.com/polyfeed/polyfeed/engine/venue"
	"github.com/polyfeed/polyfeed/internal/runner"
)

// dataPath is the engine's hot path: the router and its workers. The pool
// feeds it through Sink; the lifecycle, the recycler and the admin HTTP
// reach the books only through control requests that travel the same path.
//
// Start order is workers then router; stop order is router (after the pool
// has stopped feeding it) then workers, each draining what it holds.
type dataPath struct {
	router  *router
	workers *workerSet
}

func newDataPath(rc routerConfig, wc workerConfig) *dataPath {
	ws := newWorkerSet(wc)
	rc.tick = ws.wantsTicks()
	r := newRouter(rc, ws.rings())
	r.workers = ws.workers
	ws.cfg.resync = r.requestResync
	return &dataPath{router: r, workers: ws}
}

// Sink is the FrameSink the pool's connections deliver to.
func (d *dataPath) Sink() venue.FrameSink { return d.router.push }

// RequestResync asks for fresh snapshots of assets (batched, deduplicated).
func (d *dataPath) RequestResync(assetIDs []string) {
	for _, id := range assetIDs {
		d.router.requestResync(id)
	}
}

// startWorkers and startRouter are separate App steps.
func (d *dataPath) startWorkers(context.Context) error { d.workers.start(); return nil }
func (d *dataPath) startRouter(context.Context) error  { d.router.start(); return nil }

// stopRouter routes what is queued and stops; bounded by ctx.
func (d *dataPath) stopRouter(ctx context.Context) error {
	return runner.Bounded(ctx, func(context.Context) error { d.router.stopAndWait(); return nil })
}

// stopWorkers lets each worker drain its ring and exit; bounded by ctx.
func (d *dataPath) stopWorkers(ctx context.Context) error {
	return runner.Bounded(ctx, func(context.Context) error { d.workers.stopAndWait(); return nil })
}

// workerStats snapshots every worker.
func (d *dataPath) workerStats() []WorkerStats {
	out := make([]WorkerStats, len(d.workers.workers))
	for i, w := range d.workers.workers {
		out[i] = w.stats()
	}
	return out
}

// workersHealthy reports whether every worker runs and none is stuck, and
// names the stuck ones: a stuck worker's events are dropped and its control
// requests wait, so its assets (and only those) go stale.
func (d *dataPath) workersHealthy(stuckAfter time.Duration) (alive int, healthy bool, stuck []string) {
	healthy = true
	for _, w := range d.workers.workers {
		if w.alive.Load() {
			alive++
		}
		if !w.healthy(stuckAfter) {
			healthy = false
			if w.alive.Load() {
				stuck = append(stuck, workerName(w.id))
			}
		}
	}
	return alive, healthy, stuck
}
