package sim

import (
	"sort"

	"github.com/polyfeed/polyfeed/fixed"
)

// Level is one price level of a book.
type Level struct {
	Price fixed.Point `json:"price"`
	Size  fixed.Point `json:"size"`
}

const (
	sideBid = 0
	sideAsk = 1
)

// truthBook is the simulator's own book of one asset: per side a slice of levels sorted by
// ascending price (so the best bid is last and the best ask first). Books hold tens of levels;
// a sorted slice is simpler and faster than a tree here, and deliberately shares nothing with
// the engine's book.
type truthBook struct {
	sides [2][]Level
}

func (b *truthBook) find(side int, price fixed.Point) (int, bool) {
	l := b.sides[side]
	i := sort.Search(len(l), func(i int) bool { return l[i].Price >= price })
	return i, i < len(l) && l[i].Price == price
}

// set stores the absolute size at price; size 0 deletes the level.
func (b *truthBook) set(side int, price, size fixed.Point) {
	i, ok := b.find(side, price)
	l := b.sides[side]
	switch {
	case ok && size == 0:
		b.sides[side] = append(l[:i], l[i+1:]...)
	case ok:
		l[i].Size = size
	case size != 0:
		l = append(l, Level{})
		copy(l[i+1:], l[i:])
		l[i] = Level{price, size}
		b.sides[side] = l
	}
}

func (b *truthBook) size(side int, price fixed.Point) fixed.Point {
	if i, ok := b.find(side, price); ok {
		return b.sides[side][i].Size
	}
	return 0
}

// top returns the best price of side as the venue reports it in best_bid/best_ask: an
// empty side shows as the sentinel 0 (no bids) or 1 (no asks), per PROTOCOL.md.
func (b *truthBook) top(side int) fixed.Point {
	if side == sideAsk && len(b.sides[sideAsk]) == 0 {
		return one
	}
	return b.best(side)
}

// best returns the best price of side, 0 when the side is empty.
func (b *truthBook) best(side int) fixed.Point {
	l := b.sides[side]
	if len(l) == 0 {
		return 0
	}
	if side == sideBid {
		return l[len(l)-1].Price
	}
	return l[0].Price
}

func (b *truthBook) depth(side int) int { return len(b.sides[side]) }

// bestFirst appends the levels of side to dst, best level first.
func (b *truthBook) bestFirst(side int, dst []Level) []Level {
	l := b.sides[side]
	if side == sideAsk {
		return append(dst, l...)
	}
	for i := len(l) - 1; i >= 0; i-- {
		dst = append(dst, l[i])
	}
	return dst
}

// hash is a 64-bit FNV-1a digest of the book, the basis of the 40-hex hash field: the same
// book always carries the same hash.
func (b *truthBook) hash(seed uint64) uint64 {
	h := uint64(14695981039346656037) ^ seed
	for s := range b.sides {
		for _, l := range b.sides[s] {
			for _, v := range [2]uint64{uint64(l.Price), uint64(l.Size)} {
				for k := 0; k < 64; k += 8 {
					h ^= (v >> k) & 0xff
					h *= 1099511628211
				}
			}
		}
		h ^= 0xff
		h *= 1099511628211
	}
	return h
}
