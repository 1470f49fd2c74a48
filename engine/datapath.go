package engine

import (
	"context"
	"errors"
	"time"
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
	ws.cfg.resync = r.requestResync
	return &dataPath{router: r, workers: ws}
}

// Sink is the FrameSink the pool's connections deliver to.
func (d *dataPath) Sink() FrameSink { return d.router.push }

// Book returns a copy of an asset's book, at most depth levels a side (0:
// all). The copy is made by the owning worker between two events.
func (d *dataPath) Book(ctx context.Context, assetID string, depth int) (BookView, bool, error) {
	c := &control{op: ctlReadBook, asset: assetID, depth: depth, done: make(chan struct{})}
	if !d.router.in.pushControl(c) {
		return BookView{}, false, errStopped
	}
	if err := waitControl(ctx, c); err != nil {
		return BookView{}, false, err
	}
	return c.view, c.found, nil
}

// DropBooks forgets the books and routes of assets that left the engine.
// It returns at once; the workers drop them in event order.
func (d *dataPath) DropBooks(assetIDs []string) {
	if len(assetIDs) == 0 {
		return
	}
	d.router.in.pushControl(&control{op: ctlDropAssets, assets: assetIDs})
}

// InvalidateConn marks every book still owned by connection connID invalid
// (the handler sees EventInvalidated): its socket dropped, and events may
// have been lost until the reconnect's snapshots arrive, which mark them
// valid again. It returns at once; it is applied after the connection's
// last frames.
func (d *dataPath) InvalidateConn(connID int64) {
	d.router.in.pushControl(&control{op: ctlInvalidateConn, conn: connID})
}

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
	return waitFunc(ctx, d.router.stopAndWait)
}

// stopWorkers lets each worker drain its ring and exit; bounded by ctx.
func (d *dataPath) stopWorkers(ctx context.Context) error {
	return waitFunc(ctx, d.workers.stopAndWait)
}

// waitFunc runs f and waits for it until ctx ends.
func waitFunc(ctx context.Context, f func()) error {
	done := make(chan struct{})
	go func() {
		f()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return errors.Join(errHung, ctx.Err())
	}
}

// workerStats snapshots every worker.
func (d *dataPath) workerStats() []WorkerStats {
	out := make([]WorkerStats, len(d.workers.workers))
	for i, w := range d.workers.workers {
		out[i] = w.stats()
	}
	return out
}

// workersHealthy reports whether every worker runs and none is stuck.
func (d *dataPath) workersHealthy(stuckAfter time.Duration) (alive int, healthy bool) {
	healthy = true
	for _, w := range d.workers.workers {
		if w.alive.Load() {
			alive++
		}
		if !w.healthy(stuckAfter) {
			healthy = false
		}
	}
	return alive, healthy
}
