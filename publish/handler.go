package publish

import (
	"iter"
	"strings"
	"sync/atomic"
	"time"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/engine"
	"github.com/polyfeed/polyfeed/ring"
)

// Subject indexes in asset.subjects.
const (
	subBook = iota
	subDelta
	subTrade
	subTick
	subStatus
	numSubjects
)

var typeNames = [numSubjects]string{TypeBook, TypeDelta, TypeTrade, TypeTick, TypeStatus}

// Status reasons.
const (
	reasonLost     = "events lost"
	reasonMismatch = "best bid/ask mismatch"
	reasonDropped  = "messages dropped by the publisher"
	reasonResynced = "resynced"
	reasonExpired  = "market expired or resolved"
)

// asset is one asset's publishing state, owned by its worker's handler.
type asset struct {
	id, market string
	subjects   [numSubjects]string
	epoch      int64
	seq        uint64
	sinceBook  int   // messages since the last book
	lastBook   int64 // unix ns (tick clock) of the last book
	gen        uint32

	stale   bool // the engine said the book is out of sync
	broken  bool // a message was lost: stale + book owed
	closing bool // closed owed
	closed  bool // closed sent: nothing more
	yielded bool // a higher epoch is on the stream: nothing more

	off      bool   // Config.Gate says another instance publishes it: nothing is sent
	gateSet  bool   // gateGen holds the gate's generation of the last answer
	gateGen  uint64 // see gated
	owesBook bool   // a restarted epoch publishes its book at the next tick
}

// handler is one worker's engine.Handler and engine.Ticker. Everything but
// the counters belongs to whoever holds the worker's consumer role: the
// worker goroutine, or the goroutine that routed the event (NonBlocking).
type handler struct {
	p      *Publisher
	w      int
	q      *ring.SPSC[outMsg]
	bell   *bell // wakes the sender
	in     *inbox
	assets map[string]*asset
	env    envelope
	buf    []byte
	slab   []byte // queued payloads, back to back; a full slab is left to the GC
	levels []book.Level
	notes  []note
	now    int64 // unix ns, read once per tick
	gen    uint32
	staged bool

	queued       atomic.Uint64
	dropped      atomic.Uint64
	staleNotices atomic.Uint64
	books        atomic.Uint64
	yielded      atomic.Uint64
	closed       atomic.Uint64
	badAssets    atomic.Uint64
	moved        atomic.Uint64
	resumed      atomic.Uint64
	_            [64]byte
}

var (
	_ engine.Handler     = (*handler)(nil)
	_ engine.Ticker      = (*handler)(nil)
	_ engine.NonBlocking = (*handler)(nil)
)

// NonBlocking tells the engine that OnEvent and OnTick never wait, so it
// may call them on the goroutine that routed the event instead of waking
// the worker. They do not: a message that does not fit its queue is dropped
// and counted, the sender is woken by a non-blocking send (bell), the
// inbox's lock is held only to swap a slice, and the Gate must not block.
func (h *handler) NonBlocking() {}

// OnEvent maps one engine event onto the contract's messages. It reads no
// clock and takes no lock; the queued copies of messages share slabs.
func (h *handler) OnEvent(ev *engine.Event, b *book.Book) {
	if ev.Kind == engine.EventBestBidAsk {
		return // the venue's top of book: deltas carry the book's own
	}
	st := h.assets[ev.AssetID]
	if st == nil {
		if st = h.take(ev.AssetID, ev.Market); st != nil {
			if st.off {
				h.gated(st, b, ev.Timestamp) // publishes the book when ours
			} else {
				h.book(st, b) // an epoch starts with a book
			}
		}
		h.flush()
		return
	}
	if st.market == "" && ev.Market != "" {
		st.market = ev.Market
		st.gateSet = false // the gate could not answer without the market
	}
	if st.off || h.p.cfg.Gate != nil {
		wasOff := st.off
		if !h.gated(st, b, ev.Timestamp) || wasOff {
			h.flush() // a "moved" stale, or a resumed epoch's book that covers this event
			return
		}
	}
	if st.closed || st.yielded {
		return
	}
	if st.broken && h.canSend() {
		h.repair(st, b) // the book covers this event
		h.flush()
		return
	}
	switch ev.Kind {
	case engine.EventBook:
		h.book(st, b)
		if b.Valid() && (st.stale || ev.Resynced) {
			st.stale = false
			h.status(st, StateLive, reasonResynced, b.UpdatedAt())
		}
	case engine.EventLevel:
		if e := h.next(st, subDelta, ev.Timestamp); e != nil {
			h.buf = appendDelta(h.buf[:0], e, ev.Side, ev.Price, ev.Size, b)
			h.push(st, subDelta)
		}
		if ev.Diverged {
			h.markStale(st, reasonMismatch, ev.Timestamp)
		}
	case engine.EventTrade:
		if e := h.next(st, subTrade, ev.Timestamp); e != nil {
			h.buf = appendTrade(h.buf[:0], e, ev.Side, ev.Price, ev.Size)
			h.push(st, subTrade)
		}
	case engine.EventTickSize:
		if e := h.next(st, subTick, ev.Timestamp); e != nil {
			h.buf = appendTick(h.buf[:0], e, ev.TickSize)
			h.push(st, subTick)
		}
	case engine.EventInvalidated:
		h.markStale(st, reasonLost, ev.Timestamp)
	}
	if st.sinceBook >= h.p.cfg.BookEvery {
		h.book(st, b)
	}
	h.flush()
}

// OnTick reads the notes of other goroutines, repairs what was dropped,
// publishes owed closings and the books of assets that had none for
// BookMaxAge, and forgets assets whose book the engine dropped.
func (h *handler) OnTick(books iter.Seq[*book.Book]) {
	h.now = time.Now().UnixNano()
	h.gen++
	h.readNotes()
	maxAge := int64(h.p.cfg.BookMaxAge)
	for b := range books {
		st := h.assets[b.AssetID()]
		if st == nil {
			continue // never had an event (or refused): nothing to publish
		}
		st.gen = h.gen
		if st.off || h.p.cfg.Gate != nil {
			if wasOff := st.off; !h.gated(st, b, b.UpdatedAt()) || wasOff {
				continue
			}
		}
		if st.owesBook && !st.closed {
			st.owesBook = false
			h.book(st, b)
			continue
		}
		switch {
		case st.closed || st.yielded:
		case st.closing:
			if h.canSend() {
				if st.broken {
					// Messages were lost (NATS away, a full queue): a
					// consumer that missed them resyncs from this final
					// book; nothing after closed could repair it.
					h.repair(st, b)
				}
				st.broken = false // closed is the last message: no further book owed
				h.status(st, StateClosed, reasonExpired, b.UpdatedAt())
				if !st.broken {
					st.closed = true
					h.closed.Add(1)
				}
			}
		case st.broken:
			if h.canSend() {
				h.repair(st, b)
			}
		case h.now-st.lastBook >= maxAge:
			h.book(st, b)
		}
	}
	for id, st := range h.assets {
		if st.gen != h.gen {
			delete(h.assets, id)
			h.p.owners.Delete(id)
		}
	}
	h.flush()
}

// readNotes applies what senders, the epoch watcher and MarketExpired said.
func (h *handler) readNotes() {
	h.notes = h.in.take(h.notes[:0])
	for _, n := range h.notes {
		if n.kind == noteRebook {
			for _, st := range h.assets {
				st.lastBook = 0 // the book period is over: a book this tick
			}
			continue
		}
		st := h.assets[n.asset]
		if n.kind == noteRestart {
			if st != nil && !st.off && !st.closed {
				h.resume(st, n.epoch)
				st.owesBook = true
			}
			continue
		}
		if st == nil || st.closed || st.yielded || st.off {
			continue
		}
		switch n.kind {
		case noteLost:
			if n.epoch == st.epoch {
				st.broken = true
			}
		case noteYield:
			if n.epoch > st.epoch {
				st.yielded = true
				h.yielded.Add(1)
			}
		case noteClosed:
			st.closing = true
		}
	}
	clear(h.notes)
}

// take starts publishing an asset: a new epoch above any on the stream.
// It returns nil for an asset id that cannot be a subject token.
func (h *handler) take(id, market string) *asset {
	if !validToken(id) {
		h.badAssets.Add(1)
		return nil
	}
	st := &asset{id: strings.Clone(id), market: market, epoch: h.p.epochFor(id), lastBook: h.now, gen: h.gen}
	for i, t := range typeNames {
		st.subjects[i] = Subject(h.p.cfg.Prefix, t, st.id)
	}
	h.assets[st.id] = st
	if h.p.cfg.Gate != nil {
		st.off = true // gated decides, and starts the epoch when ours
		return st
	}
	h.p.owners.Store(st.id, owner{epoch: st.epoch, worker: h.w})
	return st
}

// canSend: NATS takes messages and the queue has room for a repair.
func (h *handler) canSend() bool { return h.p.ready.Load() && h.q.Free() >= 4 }

// repair publishes stale, then a fresh book (then live when it is valid)
// for an asset that lost messages.
func (h *handler) repair(st *asset, b *book.Book) {
	st.broken = false
	h.status(st, StateStale, reasonDropped, b.UpdatedAt())
	h.book(st, b)
	if b.Valid() && !st.broken {
		st.stale = false
		h.status(st, StateLive, reasonResynced, b.UpdatedAt())
	}
}

func (h *handler) markStale(st *asset, reason string, ts int64) {
	if st.stale {
		return
	}
	st.stale = true
	h.status(st, StateStale, reason, ts)
}

func (h *handler) book(st *asset, b *book.Book) {
	e := h.next(st, subBook, b.UpdatedAt())
	st.sinceBook, st.lastBook = 0, h.now
	if e == nil {
		return
	}
	h.buf, h.levels = appendBook(h.buf[:0], e, b, h.levels)
	if h.push(st, subBook) {
		h.books.Add(1)
	}
}

func (h *handler) status(st *asset, state, reason string, ts int64) {
	if e := h.next(st, subStatus, ts); e != nil {
		h.buf = appendStatus(h.buf[:0], e, state, reason)
		if h.push(st, subStatus) && state == StateStale {
			h.staleNotices.Add(1)
		}
	}
}

// next takes the asset's next seq and returns the envelope to encode, or
// nil when the message cannot be published: it is then counted as dropped,
// its seq stays used, and the asset owes stale and a book.
func (h *handler) next(st *asset, sub int, ts int64) *envelope {
	st.seq++
	if sub != subBook {
		st.sinceBook++
	}
	if st.broken || !h.p.ready.Load() {
		st.broken = true
		h.dropped.Add(1)
		return nil
	}
	h.env = envelope{typ: typeNames[sub], asset: st.id, market: st.market, epoch: st.epoch, seq: st.seq, ts: ts}
	return &h.env
}

// slabSize is the payload memory one allocation serves: hundreds of
// messages instead of one allocation per message.
const slabSize = 256 << 10

// push queues the encoded message in h.buf for the sender. The payload is
// copied to the slab; the sender only reads it, and publishing copies it
// into the connection's buffer, so the slab is never written twice.
func (h *handler) push(st *asset, sub int) bool {
	if cap(h.slab)-len(h.slab) < len(h.buf) {
		h.slab = make([]byte, 0, max(slabSize, len(h.buf)))
	}
	off := len(h.slab)
	h.slab = append(h.slab, h.buf...)
	m := outMsg{subject: st.subjects[sub], asset: st.id, epoch: st.epoch, seq: st.seq, data: h.slab[off:len(h.slab):len(h.slab)], w: h.w, book: sub == subBook}
	if !h.q.TryStage(m) {
		st.broken = true
		h.dropped.Add(1)
		return false
	}
	h.staged = true
	h.queued.Add(1)
	return true
}

// flush makes staged messages visible to the sender, and wakes it if it
// is parked: one store and one load per call.
func (h *handler) flush() {
	if h.staged {
		h.q.Publish()
		h.staged = false
		h.bell.ring()
	}
}

// validToken reports whether id can be one subject token.
func validToken(id string) bool {
	if id == "" || len(id) > 256 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c <= ' ', c == '.', c == '*', c == '>', c >= 0x7f:
			return false
		}
	}
	return true
}
