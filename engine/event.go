package engine

import (
	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/fixed"
)

// EventKind says what happened to an asset's book.
type EventKind uint8

const (
	// EventBook: a full snapshot replaced the book.
	EventBook EventKind = iota + 1
	// EventLevel: one price level changed (from a price_change); Price, Size
	// (new absolute size, 0 = removed) and Side are set.
	EventLevel
	// EventTrade: a trade printed (last_trade_price); Price, Size, Side set.
	EventTrade
	// EventTickSize: the price grid changed; TickSize is the new tick. The
	// engine also asks the venue for a fresh snapshot.
	EventTickSize
	// EventBestBidAsk: the venue's top of book (custom feature); BestBid,
	// BestAsk set. The book itself is not changed by it.
	EventBestBidAsk
	// EventInvalidated: events for this asset were lost (backpressure drop or
	// a detected divergence). The book is stale until the next EventBook,
	// which will have Resynced set.
	EventInvalidated
)

var eventKindNames = [...]string{"unknown", "book", "level", "trade", "tick_size", "best_bid_ask", "invalidated"}

func (k EventKind) String() string {
	if int(k) < len(eventKindNames) {
		return eventKindNames[k]
	}
	return "unknown"
}

// Event is one venue event for one asset, handed to a Handler after it has
// been applied to the asset's book. It is reused: a handler must copy what it
// keeps beyond OnEvent.
type Event struct {
	Kind    EventKind
	AssetID string
	Market  string // condition id (0x + 64 hex), when the venue sent it
	Side    book.Side
	// Price and Size: EventLevel (Size is the new absolute size) and EventTrade.
	Price, Size fixed.Point
	// BestBid and BestAsk: EventBestBidAsk, and EventLevel when HasBest.
	BestBid, BestAsk fixed.Point
	HasBest          bool
	TickSize         fixed.Point // EventTickSize, and EventBook when sent
	Timestamp        int64       // venue time, Unix milliseconds
	RecvNanos        int64       // when the frame arrived (internal/mono clock)
	// Diverged: after applying this EventLevel the book's best bid/ask differ
	// from the venue's best_bid/best_ask. The book is invalidated and a fresh
	// snapshot requested.
	Diverged bool
	// Resynced: this EventBook ends a period in which the book was invalid.
	Resynced bool
}

// Handler receives every event of the assets of one worker, in venue order
// per asset, after the book was updated. OnEvent runs on the worker's own
// goroutine (or, for a handler that implements NonBlocking, possibly on the
// goroutine that routed the event): it must not block for long (a slow
// handler fills its worker's ring and makes the router drop events for that
// worker's assets) and must not keep ev or b after it returns. A panic is
// recovered and counted.
type Handler interface {
	OnEvent(ev *Event, b *book.Book)
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(ev *Event, b *book.Book)

// OnEvent calls f(ev, b).
func (f HandlerFunc) OnEvent(ev *Event, b *book.Book) { f(ev, b) }

// HandlerFactory builds the handler of worker i (0 ≤ i < Workers). Each
// worker gets its own handler, so handler state needs no locks.
type HandlerFactory func(worker int) Handler

// nopHandler is used when the application supplies no factory.
type nopHandler struct{}

func (nopHandler) OnEvent(*Event, *book.Book) {}
