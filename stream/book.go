package stream

import (
	"slices"

	"github.com/polyfeed/polyfeed/fixed"
)

// State says whether a book can be trusted.
type State uint8

const (
	// Syncing: no book of the current epoch applied yet (just joined, a gap or a new
	// epoch is being repaired). The levels are the last ones known, or empty.
	Syncing State = iota
	// Live: applied from a valid book and every message since, in order.
	Live
	// Stale: the publisher said the book is out of sync (a stale status or a book
	// with valid false), or it was taken from the books stream with no message in
	// the look-back window. It stays stale until the next valid book.
	Stale
	// Closed: the market expired or resolved; the publisher sends nothing more.
	Closed
)

func (s State) String() string {
	switch s {
	case Syncing:
		return "syncing"
	case Live:
		return "live"
	case Stale:
		return "stale"
	case Closed:
		return "closed"
	}
	return "unknown"
}

// Trade is the last trade seen for an asset.
type Trade struct {
	Price fixed.Point
	Size  fixed.Point
	Side  string
	TsMs  int64
}

// Book is one asset's order book as the consumer keeps it. A *Book handed to a
// Handler is read-only and valid only during the call: it is the consumer's own copy
// and changes with the next message. Use Clone to keep one.
type Book struct {
	Asset    string
	Market   string
	Epoch    int64
	Seq      int64 // seq of the last message applied
	TsMs     int64 // venue time of the last message applied
	TickSize fixed.Point
	State    State
	Reason   string // why the book is Stale, Syncing or Closed; empty when Live
	Last     Trade  // zero until a trade arrives

	bids []Level // descending price
	asks []Level // ascending price
}

// Bids returns the bid levels, best (highest) first. Read-only; shared with the book.
func (b *Book) Bids() []Level { return b.bids }

// Asks returns the ask levels, best (lowest) first. Read-only; shared with the book.
func (b *Book) Asks() []Level { return b.asks }

// BestBid returns the best bid, if any.
func (b *Book) BestBid() (Level, bool) {
	if len(b.bids) == 0 {
		return Level{}, false
	}
	return b.bids[0], true
}

// BestAsk returns the best ask, if any.
func (b *Book) BestAsk() (Level, bool) {
	if len(b.asks) == 0 {
		return Level{}, false
	}
	return b.asks[0], true
}

// Clone returns a deep copy that the caller owns.
func (b *Book) Clone() Book {
	c := *b
	c.bids = slices.Clone(b.bids)
	c.asks = slices.Clone(b.asks)
	return c
}

// reset replaces the levels with a book message's.
func (b *Book) reset(m *Message) {
	b.Market = m.Market
	b.Epoch, b.Seq, b.TsMs = m.Epoch, m.Seq, m.TsMs
	b.TickSize = m.TickSize
	b.bids = append(b.bids[:0], m.Bids...)
	b.asks = append(b.asks[:0], m.Asks...)
}

// apply sets one level's absolute size; zero removes it.
func (b *Book) apply(c Change) {
	if c.Side == SideBuy {
		b.bids = setLevel(b.bids, c.Price, c.Size, true)
	} else {
		b.asks = setLevel(b.asks, c.Price, c.Size, false)
	}
}

func setLevel(side []Level, price, size fixed.Point, desc bool) []Level {
	i, found := slices.BinarySearchFunc(side, price, func(l Level, p fixed.Point) int {
		if desc {
			return cmpPoint(p, l.Price)
		}
		return cmpPoint(l.Price, p)
	})
	switch {
	case found && size == 0:
		return slices.Delete(side, i, i+1)
	case found:
		side[i].Size = size
		return side
	case size == 0:
		return side
	}
	return slices.Insert(side, i, Level{Price: price, Size: size})
}

func cmpPoint(a, b fixed.Point) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// bestMatches reports whether the book's best prices equal a delta's best_bid and
// best_ask (null meaning an empty side).
func (b *Book) bestMatches(m *Message) bool {
	bid, okb := b.BestBid()
	ask, oka := b.BestAsk()
	return okb == m.HasBestBid && oka == m.HasBestAsk &&
		(!okb || bid.Price == m.BestBid) && (!oka || ask.Price == m.BestAsk)
}
