package engine

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/polyfeed/polyfeed/book"
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

// AbortMigration gives m up because the replacement will not take over
// (it failed to open or delivered nothing): assets not yet switched simply
// stay with the old connection, books untouched. It waits for the workers,
// at most finishTimeout.
func (e *dataPath) AbortMigration(m *Migration) MigrationResult {
	select {
	case <-m.done:
		return m.Result()
	default:
	}
	c := &control{op: ctlAbortMigration, assets: m.ids, mig: m, done: make(chan struct{})}
	if e.router.in.pushControl(c) {
		ctx, cancel := context.WithTimeout(context.Background(), finishTimeout)
		_ = waitControl(ctx, c)
		cancel()
	}
	return m.Result()
}

// Inside a worker: aligning the two streams.
//
// The old connection (from) and its replacement (to) carry the same venue
// stream for an asset, at different offsets. The replacement starts with
// its own subscribe snapshot and then repeats events from some point in the
// old stream. The worker keeps delivering the old connection's events and
// remembers their fingerprints; the replacement's events are matched
// against them:
//
//   - a replacement event the old connection already delivered marks where
//     the replacement stands: the asset switches now and the replacement's
//     next events, repeats of what the old connection delivered after that
//     point, are skipped one by one;
//   - a replacement event the old connection has not delivered yet is held
//     back; when the old connection delivers the same event, the asset
//     switches and the held-back events after it are applied in order.
//
// Either way every event reaches the handler once, in venue order. Level
// changes, trades, tick sizes, top-of-book notices and post-trade snapshots
// all take part, so events that leave the book unchanged are not lost or
// repeated either (comparing book states alone cannot place those).

// migLimit bounds what one asset's migration remembers; beyond it the
// migration is finished by force (resync).
const migLimit = 4096

// migState is one asset's migration, owned by its worker.
type migState struct {
	m        *Migration
	from, to int64
	history  []uint64 // fingerprints delivered from the old connection since the start
	held     []item   // replacement events not yet delivered by the old connection
	heldFP   []uint64
	skip     []uint64 // after the switch: replacement events that repeat delivered ones
	shadow   *book.Book
	switched bool
	// held book snapshots keep their levels here (an item carries none).
	heldBids, heldAsks [][]book.Level
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
		rt.mig = &migState{m: m, from: m.from}
	}
}

// fingerprint identifies one complete event of a stream. // migration path
func (w *worker) fingerprint(it *item) uint64 {
	h := uint64(14695981039346656037)
	mix := func(v uint64) {
		h ^= v
		h *= 1099511628211
		h ^= h >> 29
	}
	mix(uint64(it.kind)<<8 | uint64(it.side))
	mix(uint64(it.ts))
	mix(uint64(it.price))
	mix(uint64(it.size))
	mix(uint64(it.a))
	mix(uint64(it.b))
	if it.kind == itemBookEnd {
		for _, l := range w.bids {
			mix(uint64(l.Price))
			mix(uint64(l.Size))
		}
		mix(0xb1d)
		for _, l := range w.asks {
			mix(uint64(l.Price))
			mix(uint64(l.Size))
		}
	}
	return h
}

// migrating routes one item of a migrating asset. It reports whether the
// item must be applied normally (the caller does it).
func (w *worker) migrating(it *item, rt *assetRoute) bool {
	ms := rt.mig
	fp := w.fingerprint(it)
	if it.conn == ms.from {
		if ms.switched {
			w.ignored.Add(1)
			return false
		}
		if len(ms.held) > 0 && ms.heldFP[0] == fp {
			// The old stream reached the replacement's first held event:
			// deliver it once, switch, then replay what is held after it.
			w.applyEvent(it, rt)
			held, hb, ha := ms.held[1:], ms.heldBids[1:], ms.heldAsks[1:]
			w.switchTo(rt, ms)
			rt.mig = nil
			for i := range held {
				w.bids, w.asks = hb[i], ha[i]
				w.applyEvent(&held[i], rt)
			}
			return false
		}
		if len(ms.history) < migLimit {
			ms.history = append(ms.history, fp)
		}
		return true
	}
	if ms.to == 0 {
		ms.to = it.conn
	}
	if it.conn != ms.to {
		w.ignored.Add(1)
		return false
	}
	if ms.switched {
		// Skip the replacement's repeats of what was already delivered.
		if len(ms.skip) > 0 && ms.skip[0] == fp {
			ms.skip = ms.skip[1:]
			if len(ms.skip) == 0 {
				rt.mig = nil
			}
			return false
		}
		w.misaligned.Add(1)
		rt.mig = nil
		return true
	}
	if it.kind == itemBookEnd && ms.shadow == nil {
		// The replacement's subscribe snapshot: not part of the old stream.
		ms.shadow = book.New(rt.id)
		ms.shadow.ApplySnapshot(w.bids, w.asks, it.ts)
		if w.snapTick > 0 {
			ms.shadow.SetTickSize(w.snapTick)
		}
		return false
	}
	if len(ms.held) == 0 {
		if j := slices.Index(ms.history, fp); j >= 0 {
			// Already delivered by the old connection: the replacement
			// stands at position j. Switch; skip its repeats of j+1…
			ms.skip = slices.Clone(ms.history[j+1:])
			w.switchTo(rt, ms)
			if len(ms.skip) == 0 {
				rt.mig = nil
			}
			return false
		}
	}
	// Ahead of the old connection: hold it back (and keep the shadow book
	// current for a forced finish).
	if len(ms.held) >= migLimit {
		w.forceSwitch(rt, ms)
		return false
	}
	ms.held = append(ms.held, *it)
	ms.heldFP = append(ms.heldFP, fp)
	var hb, ha []book.Level
	if it.kind == itemBookEnd {
		hb, ha = slices.Clone(w.bids), slices.Clone(w.asks)
		if ms.shadow != nil {
			ms.shadow.ApplySnapshot(w.bids, w.asks, it.ts)
		}
	} else if it.kind == itemLevel && ms.shadow != nil {
		_ = ms.shadow.Set(it.side, it.price, it.size)
		ms.shadow.Stamp(it.ts)
	}
	ms.heldBids, ms.heldAsks = append(ms.heldBids, hb), append(ms.heldAsks, ha)
	return false
}

func (w *worker) switchTo(rt *assetRoute, ms *migState) {
	rt.owner, rt.retired = ms.to, ms.from
	ms.switched = true
	w.migrated.Add(1)
	ms.m.resolve(&ms.m.switched)
}

// forceSwitch moves rt to the replacement without alignment: its book
// becomes the replacement's shadow book (the handler gets one resynced
// EventBook), or, without a replacement snapshot, the book is invalidated
// and resynced.
func (w *worker) forceSwitch(rt *assetRoute, ms *migState) {
	rt.mig = nil
	if ms.shadow == nil || ms.to == 0 {
		ms.m.resolve(&ms.m.missing)
		if b := rt.book; b != nil {
			w.invalidate(rt, b)
		}
		if w.cfg.resync != nil {
			w.cfg.resync(rt.id)
		}
		return
	}
	rt.owner, rt.retired = ms.to, ms.from
	ms.switched = true
	ms.m.resolve(&ms.m.forced)
	b := w.bookOf(rt)
	w.bids = ms.shadow.Levels(book.Bid, w.bids[:0])
	w.asks = ms.shadow.Levels(book.Ask, w.asks[:0])
	b.ApplySnapshot(w.bids, w.asks, ms.shadow.UpdatedAt())
	if t := ms.shadow.TickSize(); t > 0 {
		b.SetTickSize(t)
	}
	rt.wasInvalid = false
	w.ev = Event{Kind: EventBook, AssetID: rt.id, Market: rt.market, Timestamp: b.UpdatedAt(), TickSize: b.TickSize(), Resynced: true}
	w.events.Add(1)
	w.deliver(b)
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

// finishMigration forces the outcome for routes still migrating with m.
func (w *worker) finishMigration(routes []*assetRoute, m *Migration) {
	for _, rt := range routes {
		ms := rt.mig
		if ms == nil || ms.m != m {
			continue
		}
		if ms.switched {
			rt.mig = nil // skipping is over: whatever comes now is new
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
