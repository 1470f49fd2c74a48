package engine

import (
	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/fixed"
)

// itemKind is what one ring slot carries from the router to a worker.
type itemKind uint8

const (
	// A book snapshot travels as itemBookBegin, one itemBookLevel per level,
	// itemBookEnd, staged all-or-nothing so a worker never sees half of one.
	itemBookBegin itemKind = iota + 1
	itemBookLevel
	itemBookEnd
	itemLevel      // one price_change entry
	itemTrade      // last_trade_price
	itemTickSize   // tick_size_change
	itemBestBidAsk // best_bid_ask
	itemInvalidate // events were dropped for this asset before this point
	itemControl    // a control request (book read, asset removal)
	itemTick       // TickPeriod elapsed: call the handler's OnTick (Ticker only)
)

// item flags.
const (
	flagHasBest   uint8 = 1 << iota // a/b hold the venue's best bid/ask
	flagCheckBest                   // last change of this asset in its message: cross-check
)

// item is one compact ring slot (96 bytes). Strings are not copied per event:
// the asset is the router's interned route, published to the worker through
// the ring itself.
type item struct {
	route  *assetRoute
	ctl    *control
	kind   itemKind
	side   book.Side
	flags  uint8
	price  fixed.Point
	size   fixed.Point
	a, b   fixed.Point // best bid/ask; itemBookBegin: tick size, last trade price; itemBookEnd: tick size
	ts     int64       // venue ms
	recv   int64       // frame arrival (mono ns)
	routed int64       // when the router staged it (mono ns)
	conn   int64       // connection the frame came from
}

// assetRoute is the router's interned record of one asset. The router
// creates it and never mutates the shared fields afterwards; book is written
// and read only by the owning worker.
type assetRoute struct {
	id     string // owned copy of the asset id
	market string // condition id, owned copy
	worker int

	// router-owned
	pendingInvalidate bool  // a drop happened; stage itemInvalidate first
	lastEvent         int64 // mono ns of the last event routed (stall detection)

	// worker-owned
	book       *book.Book
	wasInvalid bool      // the worker saw the book invalid since its last snapshot
	owner      int64     // connection whose events are applied (0: none yet)
	mig        *migState // set while the asset moves to another connection
	retired    int64     // connection the asset migrated away from: ignored
	slot       int       // index in the worker's list of books (Ticker)
}
