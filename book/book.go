package book

import (
	"errors"
	"strings"

	"github.com/polyfeed/polyfeed/fixed"
)

// Errors returned by Set for a level the book refuses. They are values, so
// returning one allocates nothing; callers count them per event.
var (
	ErrSide  = errors.New("side is neither bid nor ask")
	ErrPrice = errors.New("price is not positive")
	ErrSize  = errors.New("size is negative")
)

// Book is the L2 book of one asset. It must be created with New and is owned
// by one goroutine (see the package doc).
//
// Each side is a slice ordered from the worst level to the best: bids by
// ascending price, asks by descending price. The best level is therefore the
// last element on both sides, and the updates that dominate the feed (near
// the top of the book) insert, resize or delete at or near the tail, moving
// few elements. Capacity is kept when levels go away, so a book that once
// held n levels a side never allocates again while it holds n or fewer.
type Book struct {
	sides     [2][]Level // indexed by Side
	assetID   string
	tick      fixed.Point
	last      Trade
	seq       uint64
	updatedAt int64
	hasLast   bool
	valid     bool
}

// New returns an empty, invalid book for assetID. The id is copied, so it may
// alias a decoder's reused buffer.
func New(assetID string) *Book {
	return &Book{assetID: strings.Clone(assetID)}
}

// AssetID returns the asset (CLOB token) id the book was created for.
func (b *Book) AssetID() string { return b.assetID }

// Reset empties both sides, keeping their capacity, and marks the book
// invalid: an empty book is not the venue's book until a snapshot fills it.
// Tick size and last trade are kept.
func (b *Book) Reset() {
	b.sides[Bid] = b.sides[Bid][:0]
	b.sides[Ask] = b.sides[Ask][:0]
	b.valid = false
	b.seq++
}

// Set makes size the resting size at price on side: size is absolute, as the
// venue's price_change sends it, and 0 deletes the level (deleting a level
// that is not there does nothing). A level with a non-positive price or a
// negative size, or an invalid side, is refused with ErrPrice, ErrSize or
// ErrSide and leaves the book unchanged. Seq increases when the book changed.
//
// hot path: no allocation unless the side grows past its largest size so far.
func (b *Book) Set(side Side, price, size fixed.Point) error {
	if side > Ask {
		return ErrSide
	}
	if price <= 0 {
		return ErrPrice
	}
	if size < 0 {
		return ErrSize
	}
	levels := b.sides[side]
	i, found := search(levels, price, side == Bid)
	switch {
	case found && size == 0:
		copy(levels[i:], levels[i+1:])
		b.sides[side] = levels[:len(levels)-1]
	case found:
		if levels[i].Size == size {
			return nil
		}
		levels[i].Size = size
	case size == 0:
		return nil
	case i == len(levels):
		b.sides[side] = append(levels, Level{price, size})
	default:
		levels = append(levels, Level{}) // grows only past the capacity
		copy(levels[i+1:], levels[i:])
		levels[i] = Level{price, size}
		b.sides[side] = levels
	}
	b.seq++
	return nil
}

// Best returns the best level of side (highest bid, lowest ask) and whether
// the side has any level.
func (b *Book) Best(side Side) (Level, bool) {
	if side > Ask {
		return Level{}, false
	}
	levels := b.sides[side]
	if len(levels) == 0 {
		return Level{}, false
	}
	return levels[len(levels)-1], true
}

// BestBid returns the highest bid.
func (b *Book) BestBid() (Level, bool) { return b.Best(Bid) }

// BestAsk returns the lowest ask.
func (b *Book) BestAsk() (Level, bool) { return b.Best(Ask) }

// Spread returns best ask minus best bid, when both sides have a level. It is
// zero or negative when the book is crossed (see Crossed).
func (b *Book) Spread() (fixed.Point, bool) {
	bid, okb := b.BestBid()
	ask, oka := b.BestAsk()
	if !okb || !oka {
		return 0, false
	}
	return ask.Price - bid.Price, true
}

// Mid returns the midpoint of the best bid and best ask, when both sides have
// a level, rounded down to a whole fixed.Point unit. It cannot overflow.
func (b *Book) Mid() (fixed.Point, bool) {
	bid, okb := b.BestBid()
	ask, oka := b.BestAsk()
	if !okb || !oka {
		return 0, false
	}
	x, y := bid.Price, ask.Price // both positive: halving each is exact floor arithmetic
	return x/2 + y/2 + (x & y & 1), true
}

// Depth returns the number of levels on side.
func (b *Book) Depth(side Side) int {
	if side > Ask {
		return 0
	}
	return len(b.sides[side])
}

// Levels appends the levels of side to dst, best first, and returns the
// extended slice. With a dst of sufficient capacity it allocates nothing.
func (b *Book) Levels(side Side, dst []Level) []Level {
	if side > Ask {
		return dst
	}
	levels := b.sides[side]
	for i := len(levels) - 1; i >= 0; i-- {
		dst = append(dst, levels[i])
	}
	return dst
}

// Crossed reports whether both sides have a level and the best bid is at or
// above the best ask: a book the venue cannot have, so a sign of a missed or
// misapplied update.
func (b *Book) Crossed() bool {
	s, ok := b.Spread()
	return ok && s <= 0
}

// MatchesBest reports whether the book's top agrees with the best_bid and
// best_ask the venue attaches to a price_change. A mismatch means the book
// diverged from the venue's.
//
// The venue reports an empty side with a sentinel outside the price range
// (0, 1): best_bid 0 means no bids, best_ask 1 means no asks (its own
// documented example carries "best_ask":"1"). An empty ask side also agrees
// with any best_ask above 1 and with 0, which no ask can be either; a side
// that has levels never agrees with a sentinel.
func (b *Book) MatchesBest(bestBid, bestAsk fixed.Point) bool {
	return b.topIs(Bid, bestBid) && b.topIs(Ask, bestAsk)
}

// priceOne is the top of the venue's price range; asks at or above it are the
// venue's "no asks" sentinel.
const priceOne = fixed.Point(fixed.Scale)

func (b *Book) topIs(side Side, price fixed.Point) bool {
	l, ok := b.Best(side)
	if !ok {
		if side == Ask {
			return price == 0 || price >= priceOne
		}
		return price == 0
	}
	return l.Price == price
}

// TickSize returns the price grid step last set, 0 if never set.
func (b *Book) TickSize() fixed.Point { return b.tick }

// SetTickSize records the price grid step. It does not touch the levels or
// the validity: whether a tick-size change calls for a new snapshot is the
// owner's policy. Seq increases when the value changed.
func (b *Book) SetTickSize(tick fixed.Point) {
	if tick != b.tick {
		b.tick = tick
		b.seq++
	}
}

// LastTrade returns the last trade set and whether one was.
func (b *Book) LastTrade() (Trade, bool) { return b.last, b.hasLast }

// SetLastTrade records the asset's last trade and increases Seq.
func (b *Book) SetLastTrade(t Trade) {
	b.last = t
	b.hasLast = true
	b.seq++
}

// Seq is a counter that increases on every change to the book (levels,
// validity, tick size, last trade) and on every Stamp. Only its changes carry
// meaning: a reader that saw the same Seq twice saw the same book.
func (b *Book) Seq() uint64 { return b.seq }

// UpdatedAt returns the venue timestamp (Unix ms) given to the last Stamp or
// ApplySnapshot, 0 before any.
func (b *Book) UpdatedAt() int64 { return b.updatedAt }

// Stamp records that an event with venue time ts (Unix ms) was applied and
// increases Seq. The time is taken as given, even if older than the last.
func (b *Book) Stamp(ts int64) {
	b.updatedAt = ts
	b.seq++
}

// Valid reports whether the book mirrors the venue's: true from an
// ApplySnapshot until Invalidate or Reset.
func (b *Book) Valid() bool { return b.valid }

// Invalidate marks the book untrustworthy (an event was dropped, the
// best_bid/best_ask cross-check failed, the tick size changed) until the next
// ApplySnapshot. Levels are kept so readers can still see the stale book.
func (b *Book) Invalidate() {
	if b.valid {
		b.valid = false
		b.seq++
	}
}
