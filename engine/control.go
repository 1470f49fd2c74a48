package engine

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/internal/mono"
)

// Control operations, each read here from end to end: reading a book, dropping
// the books of removed assets, invalidating the books of a dropped socket, and
// migrating assets to a replacement connection (begin, finish, abort). Each
// has an entry point on dataPath, a router side that splits it by worker and a
// worker side that applies it. How a migrating asset aligns the two streams is
// in migration.go.

// control is a request that travels the data path (inbound queue → router →
// worker ring) instead of touching a worker's books from outside: the worker
// answers it between events, so reads never lock the hot path and always see
// a state consistent with event order. Control requests allocate; they are
// operator and lifecycle traffic, not per event.
type control struct {
	op    controlOp
	asset string // ctlReadBook
	depth int    // ctlReadBook: max levels a side, 0 = all
	view  BookView
	found bool

	assets []string      // ctlDropAssets, ctlMigrate, ctlFinishMigration: as asked
	routes []*assetRoute // per-worker sub-requests: the routes of that worker
	mig    *Migration
	conn   int64 // ctlInvalidateConn

	// A request split over several workers finishes when its last part does,
	// with the first error any part reported.
	parent  *control
	remain  atomic.Int32
	partErr atomic.Pointer[error]

	done chan struct{} // closed once answered (nil for fire-and-forget)
	err  error
}

type controlOp uint8

const (
	ctlReadBook          controlOp = iota + 1 // router → one worker → caller
	ctlDropAssets                             // router forgets routes, workers forget books
	ctlMigrate                                // workers mark routes as migrating
	ctlFinishMigration                        // workers force the outcome
	ctlAbortMigration                         // workers forget an unswitched migration
	ctlInvalidateConn                         // workers invalidate the books a dead socket owned
	ctlRollbackMigration                      // workers hand switched assets back to the old connection
)

// finish answers c (or its part of its parent) with err.
func (c *control) finish(err error) {
	if c.parent != nil {
		c.parent.partDone(err)
		return
	}
	c.complete(err)
}

func (c *control) complete(err error) {
	c.err = err
	if c.done != nil {
		close(c.done)
	}
}

// split prepares c to be answered by n parts plus the router's own guard.
func (c *control) split() { c.remain.Store(1) }

func (c *control) part(routes []*assetRoute) *control {
	c.remain.Add(1)
	return &control{op: c.op, routes: routes, mig: c.mig, conn: c.conn, parent: c}
}

// partDone records one part's answer; the last one answers c.
func (c *control) partDone(err error) {
	if err != nil {
		c.partErr.CompareAndSwap(nil, &err)
	}
	if c.remain.Add(-1) == 0 {
		var first error
		if p := c.partErr.Load(); p != nil {
			first = *p
		}
		c.complete(first)
	}
}

// BookView is a copy of one book, safe to keep and marshal: the shape the
// admin endpoint /books/{asset_id} serves.
type BookView = book.View

var (
	errEngineBusy = errors.New("worker ring full, try again")
	errStopped    = errors.New("engine stopped")
)

// waitControl waits for c to be answered or ctx to end.
func waitControl(ctx context.Context, c *control) error {
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Entry points: called from any goroutine, they queue a request behind the frames already
// in the inbound queue, so it is applied in event order.

// Book returns a copy of an asset's book, at most depth levels a side (0:
// all). The copy is made by the owning worker between two events.
func (d *dataPath) Book(ctx context.Context, assetID string, depth int) (BookView, bool, error) {
	c := &control{op: ctlReadBook, asset: assetID, depth: depth, done: make(chan struct{})}
	if !d.router.pushControl(c) {
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
	d.router.pushControl(&control{op: ctlDropAssets, assets: assetIDs})
}

// InvalidateConn marks every book still owned by connection connID invalid
// (the handler sees EventInvalidated): its socket dropped, and events may
// have been lost until the reconnect's snapshots arrive, which mark them
// valid again. It returns at once; it is applied after the connection's
// last frames.
func (d *dataPath) InvalidateConn(connID int64) {
	d.router.pushControl(&control{op: ctlInvalidateConn, conn: connID})
}

// Migration tracks assets moving off one connection onto another, make
// before break: the replacement subscribes while the old socket still
// delivers, and each asset switches over inside its worker once an event of
// the new connection's stream is recognised (by fingerprint) among the events
// the old one delivered (migration.go). At that point both streams stand at
// the same place, so no event is lost and none reaches the handler twice.
//
// Concurrency: Pending, Done and Result are safe from any goroutine.
type Migration struct {
	from    int64
	ids     []string
	pending atomic.Int64
	done    chan struct{}
	once    sync.Once

	switched atomic.Int64 // converged (or adopted) without forcing
	forced   atomic.Int64 // switched at FinishMigration to the shadow book
	missing  atomic.Int64 // no snapshot from the new connection by then
}

// MigrationResult summarises a finished migration.
type MigrationResult struct {
	Switched, Forced, Missing int
}

func newMigration(ids []string, from int64) *Migration {
	m := &Migration{from: from, ids: ids, done: make(chan struct{})}
	m.pending.Store(int64(len(ids)))
	if len(ids) == 0 {
		m.finish()
	}
	return m
}

func (m *Migration) finish() { m.once.Do(func() { close(m.done) }) }

// resolve counts one asset as settled.
func (m *Migration) resolve(counter *atomic.Int64) {
	counter.Add(1)
	if m.pending.Add(-1) == 0 {
		m.finish()
	}
}

// Pending is the number of assets not yet switched.
func (m *Migration) Pending() int { return int(m.pending.Load()) }

// Done is closed once every asset has switched.
func (m *Migration) Done() <-chan struct{} { return m.done }

// Result reports the counts so far.
func (m *Migration) Result() MigrationResult {
	return MigrationResult{Switched: int(m.switched.Load()), Forced: int(m.forced.Load()), Missing: int(m.missing.Load())}
}

// finishTimeout bounds how long FinishMigration waits for the workers.
const finishTimeout = 5 * time.Second

// BeginMigration announces that ids are about to move off connection from.
// Call it before subscribing the replacement: the announcement travels the
// data path ahead of the replacement's first frame.
func (e *dataPath) BeginMigration(ids []string, from int64) *Migration {
	m := newMigration(ids, from)
	if len(ids) == 0 {
		return m
	}
	c := &control{op: ctlMigrate, assets: ids, mig: m}
	if !e.router.pushControl(c) {
		// Stopped: nothing will switch; report every asset missing.
		for range ids {
			m.resolve(&m.missing)
		}
	}
	return m
}

// FinishMigration ends m: assets with a snapshot from the new connection but
// no convergence yet switch to it now (the handler gets an EventBook); assets
// without one are invalidated and resynced. It waits for the workers to
// apply this, at most finishTimeout.
func (e *dataPath) FinishMigration(m *Migration) MigrationResult {
	return e.endMigration(m, ctlFinishMigration)
}

// AbortMigration gives m up because the replacement will not take over
// (it failed to open or delivered nothing): assets not yet switched simply
// stay with the old connection, books untouched. It waits for the workers,
// at most finishTimeout.
func (e *dataPath) AbortMigration(m *Migration) MigrationResult {
	return e.endMigration(m, ctlAbortMigration)
}

// RollbackMigration gives m up after its replacement was closed, when the
// replacement may have delivered (and some assets switched to it): assets not
// switched stay with the old connection, books untouched, as with
// AbortMigration; assets that switched go back to the old connection, which
// still carries them, and are invalidated and resynced from it. Either way
// every asset is owned by the connection that carries it. It waits for the
// workers, at most finishTimeout.
func (e *dataPath) RollbackMigration(m *Migration) MigrationResult {
	return e.endMigration(m, ctlRollbackMigration)
}

// endMigration sends op for m unless every asset already switched (a rollback
// is sent anyway: it undoes switches), and waits for the workers to apply it,
// at most finishTimeout.
func (e *dataPath) endMigration(m *Migration, op controlOp) MigrationResult {
	select {
	case <-m.done:
		if op != ctlRollbackMigration {
			return m.Result()
		}
	default:
	}
	c := &control{op: op, assets: m.ids, mig: m, done: make(chan struct{})}
	if e.router.pushControl(c) {
		ctx, cancel := context.WithTimeout(context.Background(), finishTimeout)
		_ = waitControl(ctx, c)
		cancel()
	}
	return m.Result()
}

// Router side: on the router goroutine, between two frames, a request is split by the
// worker that owns each asset and staged into that worker's ring.

// handleControl runs a control request on the router goroutine. It never
// waits for a worker: a request for a worker whose ring is full is deferred
// (see stageControl).
func (r *router) handleControl(c *control) {
	switch c.op {
	case ctlReadBook:
		rt, ok := r.routes[c.asset]
		if !ok {
			c.finish(nil)
			return
		}
		q := r.rings[rt.worker]
		if !r.flushBacklog(rt.worker) {
			c.finish(errEngineBusy)
			return
		}
		need := 1
		if rt.pendingInvalidate {
			need = 2
		}
		if q.Free() < need {
			r.flush(rt.worker)
		}
		// A dropped event's invalidation goes first: the read must not
		// see a book that misses it and still claims to be valid.
		if rt.pendingInvalidate && !r.stageInvalidate(rt) {
			c.finish(errEngineBusy)
			return
		}
		if !q.TryStage(item{route: rt, ctl: c, kind: itemControl}) {
			c.finish(errEngineBusy)
			return
		}
		r.markTouched(rt.worker)
	case ctlInvalidateConn:
		// The worker keeps only the books this connection still owns.
		per := make([][]*assetRoute, len(r.rings))
		for _, rt := range r.routes {
			per[rt.worker] = append(per[rt.worker], rt)
		}
		c.split()
		r.stageControlAll(per, c.part)
		c.partDone(nil) // the router's guard
	case ctlDropAssets, ctlMigrate, ctlFinishMigration, ctlAbortMigration, ctlRollbackMigration:
		per := make([][]*assetRoute, len(r.rings))
		now := mono.Now()
		if c.op == ctlDropAssets {
			r.pruneTombstones(now)
		}
		for _, id := range c.assets {
			rt, ok := r.routes[id]
			if !ok {
				// No frame of the asset yet: no connection feeds it, so there
				// is nothing to drop, move or finish. (Creating its route here
				// would leave the route without its market for good.)
				switch c.op {
				case ctlMigrate:
					c.mig.resolve(&c.mig.switched)
				case ctlDropAssets:
					r.gone[id] = now // a frame may still be in flight
				}
				continue
			}
			if c.op == ctlDropAssets {
				r.forget(rt, now)
			}
			per[rt.worker] = append(per[rt.worker], rt)
		}
		c.split()
		r.stageControlAll(per, c.part)
		c.partDone(nil) // the router's guard
	default:
		c.finish(nil)
	}
}

// stageControlAll stages one control per worker that has routes.
func (r *router) stageControlAll(per [][]*assetRoute, mk func(routes []*assetRoute) *control) {
	for w, rts := range per {
		if len(rts) == 0 {
			continue
		}
		r.stageControl(w, item{ctl: mk(rts), kind: itemControl})
	}
}

// stageControl stages a control item for worker w or, when w's ring is
// full (a stuck handler), defers it behind w's earlier deferred controls.
// Control traffic is never lost and never makes the router wait for one
// worker: a stuck worker costs only its own assets. Until w's deferred
// controls are staged, w's events are dropped (ensureRoom), so a control is
// still applied in event order.
func (r *router) stageControl(w int, it item) {
	if r.flushBacklog(w) {
		q := r.rings[w]
		if q.Free() < 1 {
			r.flush(w)
		}
		if q.TryStage(it) {
			r.markTouched(w)
			return
		}
	}
	r.backlog[w] = append(r.backlog[w], it)
	r.backlogged++
	r.retryLater()
	r.deferred.Add(1)
	r.backlogLen.Add(1)
}

// flushBacklog stages w's deferred controls, in order, as far as w's ring
// has room, and reports whether none is left. Router goroutine only.
func (r *router) flushBacklog(w int) bool {
	b := r.backlog[w]
	if len(b) == 0 {
		return true
	}
	q := r.rings[w]
	r.flush(w) // let the worker see what is staged before judging the room
	n := 0
	for n < len(b) && q.TryStage(b[n]) {
		n++
	}
	if n > 0 {
		r.markTouched(w)
		left := copy(b, b[n:])
		clear(b[left:])
		r.backlog[w] = b[:left]
		r.backlogged -= n
		r.backlogLen.Add(-int64(n))
	}
	return len(r.backlog[w]) == 0
}

// flushControls retries every deferred control; the router calls it after
// each inbound batch and when idle.
func (r *router) flushControls() {
	if r.backlogged == 0 {
		return
	}
	for w := range r.backlog {
		r.flushBacklog(w)
	}
	r.publish()
}

// failBacklog answers the controls still deferred when the router stops
// with errStopped: nothing will stage them. A migration's assets that never
// reached their worker are reported missing. Called once the router
// goroutine has exited, so this goroutine is the rings' only producer.
func (r *router) failBacklog() {
	for w := range r.backlog {
		r.flushBacklog(w)
		for _, it := range r.backlog[w] {
			c := it.ctl
			if c.op == ctlMigrate {
				for range c.routes {
					c.mig.resolve(&c.mig.missing)
				}
			}
			c.finish(errStopped)
		}
		r.backlogLen.Add(-int64(len(r.backlog[w])))
		r.backlog[w] = nil
	}
	r.backlogged = 0
	r.publish()
}

// Worker side: under the owning worker's consumer role (its goroutine, or
// the routing goroutine applying inline), between two events.

func (w *worker) control(it *item) {
	c := it.ctl
	switch c.op {
	case ctlReadBook:
		rt := it.route
		if rt == nil || rt.book == nil {
			c.finish(nil)
			return
		}
		c.view = rt.book.View(rt.market, c.depth) // allocates; control path
		c.found = true
		c.finish(nil)
	case ctlDropAssets:
		for _, rt := range c.routes {
			if rt.book != nil {
				w.untrackBook(rt)
				rt.book = nil
				w.bookCount.Add(-1)
			}
			if ms := rt.mig; ms != nil {
				rt.mig = nil
				if !ms.switched {
					ms.m.resolve(&ms.m.missing)
				}
			}
		}
		c.finish(nil)
	case ctlMigrate:
		w.beginMigration(c.routes, c.mig)
		c.finish(nil)
	case ctlFinishMigration:
		w.finishMigration(c.routes, c.mig)
		c.finish(nil)
	case ctlAbortMigration:
		w.abortMigration(c.routes, c.mig)
		c.finish(nil)
	case ctlRollbackMigration:
		w.rollbackMigration(c.routes, c.mig)
		c.finish(nil)
	case ctlInvalidateConn:
		for _, rt := range c.routes {
			if rt.owner != c.conn || rt.book == nil || !rt.book.Valid() {
				continue
			}
			w.invalidate(rt, rt.book)
			w.ev = Event{Kind: EventInvalidated, AssetID: rt.id, Market: rt.market, Timestamp: rt.book.UpdatedAt()}
			w.events.Add(1)
			w.deliver(rt.book)
		}
		c.finish(nil)
	default:
		c.finish(nil)
	}
}

// beginMigration marks the routes as migrating off m.from.
func (w *worker) beginMigration(routes []*assetRoute, m *Migration) {
	for _, rt := range routes {
		if rt.mig != nil && !rt.mig.switched {
			rt.mig.m.resolve(&rt.mig.m.missing) // superseded
		}
		if rt.owner != m.from {
			// Not (or no longer) fed by the old connection: nothing to align.
			rt.mig = nil
			m.resolve(&m.switched)
			continue
		}
		// Moved onto m.from by a migration whose repeats it still owes:
		// they must still be skipped (fromOld), not delivered again.
		var owed []uint64
		if ms := rt.mig; ms != nil && ms.switched && ms.to == m.from {
			owed = ms.skip
		}
		rt.mig = &migState{m: m, from: m.from, skip: owed}
	}
}

// abortMigration forgets m for routes that did not switch: they stay with
// the old connection (counted missing: they did not move).
func (w *worker) abortMigration(routes []*assetRoute, m *Migration) {
	for _, rt := range routes {
		if ms := rt.mig; ms != nil && ms.m == m && !ms.switched {
			rt.mig = nil
			m.resolve(&m.missing)
		}
	}
}

// rollbackMigration undoes m: routes that switched to the replacement (now
// closed) go back to the old connection, which still carries them; their
// books followed the replacement's stream, and the old one's events since the
// switch were skipped, so the book is invalidated and resynced from the old
// connection (a snapshot from the owner makes it valid again). Routes not
// switched are left as abortMigration leaves them.
func (w *worker) rollbackMigration(routes []*assetRoute, m *Migration) {
	for _, rt := range routes {
		switch ms := rt.mig; {
		case ms != nil && ms.m != m:
			continue // another migration's
		case ms != nil && !ms.switched:
			rt.mig = nil
			m.resolve(&m.missing)
			continue
		case ms != nil:
			rt.mig = nil
		case rt.retired != m.from || rt.owner == m.from || rt.owner == 0:
			continue // not switched away from m.from (a switch forgets its state once aligned)
		}
		rt.owner, rt.retired = m.from, rt.owner
		if b := rt.book; b != nil && b.Valid() {
			w.invalidate(rt, b)
			w.ev = Event{Kind: EventInvalidated, AssetID: rt.id, Market: rt.market, Timestamp: b.UpdatedAt()}
			w.events.Add(1)
			w.deliver(b)
		}
		if w.cfg.resync != nil {
			w.cfg.resync(rt.id)
		}
	}
}

// finishMigration forces the outcome for routes still migrating with m.
func (w *worker) finishMigration(routes []*assetRoute, m *Migration) {
	for _, rt := range routes {
		ms := rt.mig
		if ms == nil || ms.m != m {
			continue
		}
		if ms.switched {
			// Still owing repeats (rt.mig goes once they are all
			// skipped): the replacement runs a little behind the old
			// connection, so they may well come after the finish, and
			// applying them would deliver those events twice. Skipping
			// ends when they are all seen, at the first event that is not
			// one (misaligned: invalidated and resynced), or when another
			// connection takes the asset over.
			continue
		}
		if ms.shadow != nil && len(ms.held) == 0 && rt.book != nil && w.sameLevels(rt.book, ms.shadow) {
			// Quiet asset: both connections agree and nothing happened since.
			rt.mig = nil
			w.switchTo(rt, ms)
			continue
		}
		w.forceSwitch(rt, ms)
	}
}
