package engine

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/polyfeed/polyfeed/engine/book"
)

// Migration tracks assets moving off one connection onto another, make
// before break: the replacement subscribes while the old socket still
// delivers, and each asset switches over inside its worker once a shadow
// book fed by the new connection equals the live book fed by the old one.
// At that point both streams stand at the same place, so no event is lost
// and none reaches the handler twice.
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
	if !e.router.in.pushControl(c) {
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
	select {
	case <-m.done:
		return m.Result()
	default:
	}
	c := &control{op: ctlFinishMigration, assets: m.ids, mig: m, done: make(chan struct{})}
	if e.router.in.pushControl(c) {
		ctx, cancel := context.WithTimeout(context.Background(), finishTimeout)
		_ = waitControl(ctx, c)
		cancel()
	}
	return m.Result()
}

// migration handling inside a worker (hot path stays untouched unless an
// asset is actually migrating).

// beginMigration marks the routes as migrating.
func (w *worker) beginMigration(routes []*assetRoute, m *Migration) {
	for _, rt := range routes {
		rt.mig = m
		rt.shadow, rt.shadowConn = nil, 0
	}
}

// finishMigration forces the outcome for routes still migrating with m.
func (w *worker) finishMigration(routes []*assetRoute, m *Migration) {
	for _, rt := range routes {
		if rt.mig != m {
			continue
		}
		if rt.shadow != nil {
			b := w.bookOf(rt)
			w.bids = rt.shadow.Levels(book.Bid, w.bids[:0])
			w.asks = rt.shadow.Levels(book.Ask, w.asks[:0])
			b.ApplySnapshot(w.bids, w.asks, rt.shadow.UpdatedAt())
			if t := rt.shadow.TickSize(); t > 0 {
				b.SetTickSize(t)
			}
			rt.owner = rt.shadowConn
			rt.mig, rt.shadow = nil, nil
			m.resolve(&m.forced)
			w.ev = Event{Kind: EventBook, AssetID: rt.id, Market: rt.market, Timestamp: b.UpdatedAt(), TickSize: b.TickSize(), Resynced: true}
			w.events.Add(1)
			w.deliver(b)
			continue
		}
		rt.mig = nil
		m.resolve(&m.missing)
		if b := rt.book; b != nil {
			w.invalidate(rt, b)
		}
		if w.cfg.resync != nil {
			w.cfg.resync(rt.id)
		}
	}
}

// foreign handles an item from a connection other than the asset's owner.
// It reports whether the item must still be applied to the live book (the
// asset was adopted by its new connection).
func (w *worker) foreign(it *item, rt *assetRoute) bool {
	m := rt.mig
	migrating := m != nil && rt.owner != 0 && rt.owner == m.from
	switch it.kind {
	case itemBookEnd:
		if !migrating {
			// A snapshot from a new connection (reconnect elsewhere, resync,
			// or a migration whose old owner never delivered): it is the
			// whole truth, adopt it.
			if m != nil {
				rt.mig = nil
				m.resolve(&m.switched)
			}
			rt.owner = it.conn
			return true
		}
		if rt.shadow == nil {
			rt.shadow = book.New(rt.id)
		}
		rt.shadowConn = it.conn
		rt.shadow.ApplySnapshot(w.bids, w.asks, it.ts)
		if w.snapTick > 0 {
			rt.shadow.SetTickSize(w.snapTick)
		}
		w.trySwitch(rt)
		return false
	case itemLevel:
		if migrating && rt.shadow != nil && it.conn == rt.shadowConn {
			_ = rt.shadow.Set(it.side, it.price, it.size)
			rt.shadow.Stamp(it.ts)
			w.trySwitch(rt)
		} else {
			w.ignored.Add(1)
		}
		return false
	case itemBookBegin, itemBookLevel:
		return false // assembled by the caller; decided at itemBookEnd
	default:
		if !migrating {
			w.ignored.Add(1)
		}
		return false
	}
}

// trySwitch switches rt to its shadow connection when both books agree.
func (w *worker) trySwitch(rt *assetRoute) {
	if rt.shadow == nil || rt.book == nil || !w.sameLevels(rt.book, rt.shadow) {
		return
	}
	m := rt.mig
	rt.switchTs = rt.book.UpdatedAt()
	rt.owner = rt.shadowConn
	rt.mig, rt.shadow, rt.shadowConn = nil, nil, 0
	w.migrated.Add(1)
	if m != nil {
		m.resolve(&m.switched)
	}
}

// sameLevels compares two books level by level, without allocating once the
// scratch buffers have grown.
func (w *worker) sameLevels(a, b *book.Book) bool {
	for _, side := range [2]book.Side{book.Bid, book.Ask} {
		if a.Depth(side) != b.Depth(side) {
			return false
		}
		w.cmpA = a.Levels(side, w.cmpA[:0])
		w.cmpB = b.Levels(side, w.cmpB[:0])
		for i := range w.cmpA {
			if w.cmpA[i] != w.cmpB[i] {
				return false
			}
		}
	}
	return true
}

// routesFor resolves ids to routes, creating unknown ones, grouped by worker.
func (r *router) routesFor(ids []string) [][]*assetRoute {
	per := make([][]*assetRoute, len(r.rings))
	for _, id := range ids {
		rt := r.route(id, "")
		per[rt.worker] = append(per[rt.worker], rt)
	}
	return per
}

// stageControlAll stages one control per worker that has routes, waiting for
// room: control traffic must not be lost.
func (r *router) stageControlAll(per [][]*assetRoute, mk func(routes []*assetRoute) *control) bool {
	for w, rts := range per {
		if len(rts) == 0 {
			continue
		}
		sub := mk(rts)
		q := r.rings[w]
		for !q.TryStage(item{ctl: sub, kind: itemControl}) {
			q.Publish()
			select {
			case <-r.stop:
				return false
			case <-time.After(50 * time.Microsecond):
			}
		}
		r.markTouched(w)
	}
	return true
}
