package engine

import (
	"iter"
	"time"

	"github.com/polyfeed/polyfeed/book"
)

// TickPeriod is how often a Handler that implements Ticker is called
// without an event. Ticks travel the data path like events (the router
// stages one tick item per worker ring), so a tick is never concurrent with
// OnEvent and wakes a parked worker (or, for a NonBlocking handler, runs
// on the router goroutine); a worker whose ring is full when a tick is due
// gets the next one.
const TickPeriod = 250 * time.Millisecond

// Ticker is an optional interface a Handler may implement when it must act
// on books that get no events: republishing idle books, noticing what
// another goroutine asked of it. When at least one worker's handler
// implements it, each such handler's OnTick is called where its OnEvent is
// (see NonBlocking) about every TickPeriod, between two events, with every
// book the worker holds. The same rules as OnEvent apply: do not block, do
// not keep the books after it returns. Handlers that do not implement
// Ticker cost nothing: no tick is ever staged for them, and events never
// check for it.
type Ticker interface {
	OnTick(books iter.Seq[*book.Book])
}

// tickerOf returns h as a Ticker, or nil.
func tickerOf(h Handler) Ticker {
	t, _ := h.(Ticker)
	return t
}

// trackBook adds rt to the worker's list of books (when the book is made).
func (w *worker) trackBook(rt *assetRoute) {
	rt.slot = len(w.routes)
	w.routes = append(w.routes, rt)
}

// untrackBook removes rt from the list (when the book is dropped).
func (w *worker) untrackBook(rt *assetRoute) {
	last := len(w.routes) - 1
	if rt.slot > last || w.routes[rt.slot] != rt {
		return
	}
	moved := w.routes[last]
	w.routes[rt.slot] = moved
	moved.slot = rt.slot
	w.routes[last] = nil
	w.routes = w.routes[:last]
}

// allBooks yields every book of the worker. Consumer role only.
func (w *worker) allBooks(yield func(*book.Book) bool) {
	for _, rt := range w.routes {
		if !yield(rt.book) {
			return
		}
	}
}

// tick calls the handler's OnTick, recovering a panic like deliver.
func (w *worker) tick() {
	if w.ticker == nil {
		return
	}
	defer func() {
		if p := recover(); p != nil {
			w.panics.Add(1)
			w.panicLog.Warn(w.cfg.logger, "handler tick panicked", "worker", w.id, "panic", p)
		}
	}()
	w.ticker.OnTick(w.books)
}

// maybeTick stages a tick item into every ring once TickPeriod has passed.
// Router goroutine; called once per inbound batch or idle wake, never per
// event.
func (r *router) maybeTick(now int64) {
	if !r.cfg.tick || now < r.nextTick {
		return
	}
	r.nextTick = now + int64(TickPeriod)
	for w, q := range r.rings {
		if q.TryStage(item{kind: itemTick}) {
			r.markTouched(w)
		}
	}
	r.publish()
}

// wantsTicks reports whether any worker's handler implements Ticker.
func (s *workerSet) wantsTicks() bool {
	for _, w := range s.workers {
		if w.ticker != nil {
			return true
		}
	}
	return false
}
