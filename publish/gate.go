package publish

import (
	"strings"

	"github.com/polyfeed/polyfeed/book"
)

// Gate decides which markets this instance publishes: in a cluster, only
// those it is the publisher of (package cluster's Node satisfies it).
// Publishes must be safe from any goroutine and must not block or allocate;
// Gen must change whenever an answer of Publishes may have changed. The
// handler asks Publishes once per asset and Gen change, and reads Gen (one
// atomic load) per event and per tick, so a change is acted on within one
// engine.TickPeriod on every worker, even for a market with no events.
type Gate interface {
	Publishes(conditionID string) bool
	Gen() uint64
}

// reasonMoved is the stale reason of an asset this instance stops
// publishing because another instance publishes it now.
const reasonMoved = "moved"

// gated reports whether st is published now. On a change of the gate's
// answer it acts first: an asset that becomes ours starts a new epoch above
// any seen on the stream and publishes b at once (a warm replica's book is
// valid; otherwise the snapshot that follows publishes the next book); one
// that stops being ours gets `stale` (reason "moved") under its epoch and
// nothing more. Worker's consumer role.
func (h *handler) gated(st *asset, b *book.Book, ts int64) bool {
	g := h.p.cfg.Gate
	if g == nil {
		return !st.off
	}
	gen := g.Gen()
	if gen == st.gateGen && st.gateSet {
		return !st.off
	}
	st.gateGen, st.gateSet = gen, true
	pub := st.market != "" && g.Publishes(st.market)
	switch {
	case pub && st.off:
		h.resume(st, 0)
		h.book(st, b)
	case !pub && !st.off:
		if !st.closed && !st.yielded {
			h.status(st, StateStale, reasonMoved, ts)
			h.moved.Add(1)
		}
		st.off = true
		h.p.owners.Delete(st.id)
	}
	return !st.off
}

// resume starts a new epoch of st, above `above` and above every epoch of
// the asset seen on the stream, with nothing owed. The caller publishes the
// book.
func (h *handler) resume(st *asset, above int64) {
	e := max(h.p.epochFor(st.id), above+1)
	if seen, ok := h.p.seen.Load(st.id); ok && seen >= e {
		e = seen + 1
	}
	st.epoch, st.seq = min(e, MaxEpoch), 0
	st.off, st.yielded, st.broken, st.stale, st.sinceBook = false, false, false, false, 0
	h.p.owners.Store(st.id, owner{epoch: st.epoch, worker: h.w})
	h.resumed.Add(1)
}

// noteSeen records the highest epoch of an asset seen on the BOOKS
// subjects, so that an epoch started later is above it. NATS client
// goroutine; stores only when the epoch rises.
func (p *Publisher) noteSeen(asset string, epoch int64) {
	if old, ok := p.seen.Load(asset); ok && old >= epoch {
		return
	}
	p.seen.Compute(strings.Clone(asset), func(old int64, loaded bool) (int64, bool) {
		return max(old, epoch), false
	})
}

// Epoch returns the epoch under which this instance publishes an asset
// (cluster.Publisher), also after it yielded to a higher epoch seen on the
// stream: while Gate still says the asset is ours, the member that published
// that epoch is handing it back (its view differed for a moment), and its
// claim must find ours lower so that the cluster restarts ours above it;
// reporting "not publishing" would leave the asset with no publisher once
// that member stops. Safe from any goroutine; does not block.
func (p *Publisher) Epoch(assetID string) (uint64, bool) {
	o, ok := p.owners.Load(assetID)
	if !ok {
		return 0, false
	}
	return uint64(o.epoch), true
}

// Restart makes the asset's worker start a new epoch above `above` and
// publish a book under it at its next tick (cluster.Publisher), if this
// instance still publishes the asset. Safe from any goroutine; does not
// block.
func (p *Publisher) Restart(assetID string, above uint64) {
	o, ok := p.owners.Load(assetID)
	if !ok || above >= uint64(MaxEpoch) {
		return
	}
	p.handlers[o.worker].in.put(note{kind: noteRestart, asset: assetID, epoch: int64(above)})
}
