package engine

import (
	"slices"

	"github.com/polyfeed/polyfeed/book"
)

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

// alignMin is how many replacement events must repeat the old stream from
// one position before the worker trusts that position, unless the
// replacement already repeated everything the old connection delivered from
// there. One fingerprint alone can repeat (a level that goes 100 → 50 → 100
// within one millisecond), and a wrong position loses or repeats events.
const alignMin = 2

// migCounters count which alignment paths ran, so that a test (and an
// operator reading /stats) can tell a recycle that aligned streams from one
// that only ever forced. Written by the owning worker, read by Stats.
type migCounters struct {
	held     paddedCounter // replacement events held back (replacement ahead)
	caughtUp paddedCounter // switches where the old stream reached a held event
	replayed paddedCounter // held events applied after such a switch
	skipped  paddedCounter // replacement repeats skipped (replacement behind)
	forced   paddedCounter // assets switched to the replacement's book by force
	overflow paddedCounter // of them: forced because migLimit was reached
}

func (c *migCounters) stats() MigrationStats {
	return MigrationStats{
		Held: c.held.Load(), CaughtUp: c.caughtUp.Load(), Replayed: c.replayed.Load(),
		Skipped: c.skipped.Load(), Forced: c.forced.Load(), Overflow: c.overflow.Load(),
	}
}

// migState is one asset's migration, owned by its worker.
type migState struct {
	m        *Migration
	from, to int64
	history  []uint64 // fingerprints delivered from the old connection since the start
	held     []item   // replacement events not yet placed in the old stream
	heldFP   []uint64
	// cands are the positions in history where held[0] may stand: every
	// held event matches the old stream from there, as far as it goes.
	cands []int
	// skip: after the switch, replacement events that repeat delivered
	// ones; before it, those the old connection still owes from the
	// migration that moved the asset onto it (fromOld).
	skip     []uint64
	shadow   *book.Book
	switched bool
	// held book snapshots keep their levels here (an item carries none).
	heldBids, heldAsks [][]book.Level
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
	if ms.switched && it.conn != ms.from && it.conn != ms.to {
		if it.kind != itemBookEnd {
			w.ignored.Add(1)
			return false
		}
		// A snapshot from a third connection: the asset was placed
		// elsewhere (the replacement's socket died), so the repeats it
		// owed will not come, and the snapshot takes over as without a
		// migration.
		rt.mig = nil
		return w.owned(it, rt)
	}
	fp := w.fingerprint(it)
	if it.conn == ms.from {
		if ms.switched {
			w.ignored.Add(1)
			return false
		}
		return w.fromOld(it, rt, ms, fp)
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
			w.mig.skipped.Add(1)
			if len(ms.skip) == 0 {
				rt.mig = nil
			}
			return false
		}
		// The replacement does not repeat what the old connection
		// delivered after the switch point: either the switch point was
		// wrong (then held events were dropped or repeated) or one of the
		// two streams lost an event. The book cannot be trusted either way,
		// so it is marked stale and resynced; the event is dropped, as the
		// snapshot that follows carries it.
		w.misaligned.Add(1)
		rt.mig = nil
		if b := rt.book; b != nil {
			w.invalidate(rt, b)
		}
		if w.cfg.resync != nil {
			w.cfg.resync(rt.id)
		}
		return false
	}
	if it.kind == itemBookEnd && ms.shadow == nil {
		// The replacement's subscribe snapshot: not part of the old stream.
		ms.shadow = book.New(rt.id)
		ms.shadow.ApplySnapshot(w.bids, w.asks, it.ts)
		if it.a > 0 {
			ms.shadow.SetTickSize(it.a)
		}
		return false
	}
	if len(ms.held) >= migLimit {
		w.mig.overflow.Add(1)
		w.forceSwitch(rt, ms)
		// Switched: this event follows the forced book and is applied
		// normally; without a replacement snapshot the book is invalid and
		// resynced, and the event is dropped.
		return ms.switched
	}
	w.hold(it, rt, ms, fp)
	return false
}

// fromOld takes one event of the old connection before the switch: it is
// delivered (the handler follows the old stream until the switch) and
// remembered, and may place the held replacement events.
func (w *worker) fromOld(it *item, rt *assetRoute, ms *migState, fp uint64) bool {
	// Repeats the old connection still owed from the migration onto it
	// (beginMigration carries them over) were delivered then: they take
	// their place in the old stream, which the replacement may repeat
	// too, but reach the handler only once.
	owed := false
	if len(ms.skip) > 0 {
		if ms.skip[0] == fp {
			ms.skip = ms.skip[1:]
			w.mig.skipped.Add(1)
			owed = true
		} else {
			// It stopped repeating: as after a misaligned switch, the
			// book cannot be trusted; it stays the source meanwhile.
			ms.skip = nil
			w.misaligned.Add(1)
			if b := rt.book; b != nil {
				w.invalidate(rt, b)
			}
			if w.cfg.resync != nil {
				w.cfg.resync(rt.id)
			}
		}
	}
	if len(ms.history) >= migLimit {
		if len(ms.held) > 0 {
			w.mig.overflow.Add(1)
			w.forceSwitch(rt, ms)
			return rt.owner == it.conn
		}
		// Nothing to place yet: forget the older half, the replacement
		// will stand near the end.
		n := copy(ms.history, ms.history[migLimit/2:])
		ms.history = ms.history[:n]
	}
	h := len(ms.history)
	ms.history = append(ms.history, fp)
	if len(ms.held) == 0 {
		return !owed
	}
	keep := ms.cands[:0]
	for _, j := range ms.cands {
		if i := h - j; i >= len(ms.heldFP) || ms.heldFP[i] == fp {
			keep = append(keep, j)
		}
	}
	ms.cands = keep
	if ms.heldFP[0] == fp {
		ms.cands = append(ms.cands, h)
	}
	if !owed {
		w.applyEvent(it, rt)
	}
	w.align(rt, ms)
	return false
}

// hold keeps a replacement event back (and the shadow book current for a
// forced finish), then tries to place the held events in the old stream.
func (w *worker) hold(it *item, rt *assetRoute, ms *migState, fp uint64) {
	i := len(ms.held)
	w.mig.held.Add(1)
	ms.held = append(ms.held, *it)
	ms.heldFP = append(ms.heldFP, fp)
	var hb, ha []book.Level
	// The shadow follows everything a forced switch hands over: levels and
	// the tick size (a snapshot's own, or a tick_size_change), else the
	// forced book would stay valid on the old grid.
	switch {
	case it.kind == itemBookEnd:
		hb, ha = slices.Clone(w.bids), slices.Clone(w.asks)
		if ms.shadow != nil {
			ms.shadow.ApplySnapshot(w.bids, w.asks, it.ts)
			if it.a > 0 {
				ms.shadow.SetTickSize(it.a)
			}
		}
	case ms.shadow == nil:
	case it.kind == itemLevel:
		_ = ms.shadow.Set(it.side, it.price, it.size)
		ms.shadow.Stamp(it.ts)
	case it.kind == itemTickSize:
		ms.shadow.SetTickSize(it.price)
	}
	ms.heldBids, ms.heldAsks = append(ms.heldBids, hb), append(ms.heldAsks, ha)
	if i == 0 {
		for j, f := range ms.history {
			if f == fp {
				ms.cands = append(ms.cands, j)
			}
		}
	} else {
		keep := ms.cands[:0]
		for _, j := range ms.cands {
			if j+i >= len(ms.history) || ms.history[j+i] == fp {
				keep = append(keep, j)
			}
		}
		ms.cands = keep
	}
	w.align(rt, ms)
}

// align switches rt to the replacement once the held events stand at one
// trusted position of the old stream: those the old connection already
// delivered are dropped, the ones after it are delivered in order, and
// whatever the old connection delivered beyond the held ones is skipped
// when the replacement repeats it.
func (w *worker) align(rt *assetRoute, ms *migState) {
	if len(ms.cands) != 1 {
		return // not in the old stream yet (ahead of it), or ambiguous
	}
	j := ms.cands[0]
	delivered := len(ms.history) - j // held events the old connection delivered
	if len(ms.held) < min(delivered, alignMin) {
		return
	}
	w.switchTo(rt, ms)
	if len(ms.held) < delivered {
		ms.skip = slices.Clone(ms.history[j+len(ms.held):])
		ms.held, ms.heldFP, ms.heldBids, ms.heldAsks = nil, nil, nil, nil
		return
	}
	rt.mig = nil
	w.mig.caughtUp.Add(1)
	w.mig.replayed.Add(uint64(len(ms.held) - delivered))
	bids, asks := w.bids, w.asks
	for i := delivered; i < len(ms.held); i++ {
		w.bids, w.asks = ms.heldBids[i], ms.heldAsks[i]
		w.applyEvent(&ms.held[i], rt)
	}
	w.bids, w.asks = bids, asks
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
	w.mig.forced.Add(1)
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
