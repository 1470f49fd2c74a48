package book

import (
	"strconv"

	"github.com/polyfeed/polyfeed/fixed"
)

// Side is one side of the book.
type Side uint8

const (
	// Bid is the buy side (the venue's BUY / "bids" / "buys").
	Bid Side = iota
	// Ask is the sell side (the venue's SELL / "asks" / "sells").
	Ask
)

// String returns "bid", "ask", or "side(N)" for an invalid value.
func (s Side) String() string {
	switch s {
	case Bid:
		return "bid"
	case Ask:
		return "ask"
	}
	return "side(" + strconv.Itoa(int(s)) + ")"
}

// Level is the total resting size at one price.
type Level struct {
	Price, Size fixed.Point
}

// Trade is the venue's last trade of the asset. Side is the taker's side
// (BUY → Bid). Timestamp is venue Unix milliseconds.
type Trade struct {
	Price, Size fixed.Point
	Side        Side
	Timestamp   int64
}

// search finds price in one side's levels, which are ordered worst to best:
// ascending prices for bids (asc), descending for asks. It returns the index
// of the level, or where it would be inserted, and whether it is present.
//
// hot path: most updates touch the best level, which is the last element, so
// that case is answered before the binary search.
func search(levels []Level, price fixed.Point, asc bool) (int, bool) {
	n := len(levels)
	if n == 0 {
		return 0, false
	}
	top := levels[n-1].Price
	if top == price {
		return n - 1, true
	}
	if (price > top) == asc {
		return n, false // a new best level: append
	}
	lo, hi := 0, n-1 // levels[n-1] is already known to be after price
	if asc {
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if levels[m].Price < price {
				lo = m + 1
			} else {
				hi = m
			}
		}
	} else {
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if levels[m].Price > price {
				lo = m + 1
			} else {
				hi = m
			}
		}
	}
	return lo, levels[lo].Price == price
}
