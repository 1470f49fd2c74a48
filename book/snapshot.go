package book

import (
	"cmp"
	"slices"
)

// ApplySnapshot replaces both sides with a venue snapshot, stamps the book
// with ts (venue Unix ms) and marks it valid. The result is the same as Reset
// followed by Set of every level in input order: levels may come in any
// order, a repeated price keeps its last size, and a zero size is no level
// (it also removes an earlier entry at that price). Levels Set would refuse
// (non-positive price, negative size) are skipped; their count is returned so
// the caller can count them. The inputs are copied, never retained.
//
// The venue sends bids ascending and asks descending, which is already the
// storage order; the reverse order is detected too, and anything else is
// sorted. No allocation happens unless a side is larger than ever before.
func (b *Book) ApplySnapshot(bids, asks []Level, ts int64) (rejected int) {
	rejected = b.load(Bid, bids) + b.load(Ask, asks)
	b.valid = true
	b.Stamp(ts)
	return rejected
}

// load replaces one side with in and returns how many levels it refused.
func (b *Book) load(side Side, in []Level) (rejected int) {
	asc := side == Bid
	dst := b.sides[side][:0]
	if cap(dst) < len(in) {
		// One allocation sized for this snapshot (rounded up to the size
		// class by append) instead of repeated doubling.
		dst = slices.Grow(dst, len(in))
	}
	inOrder, reversed := true, true // strictly, in storage order or its reverse
	for _, l := range in {
		if l.Price <= 0 || l.Size < 0 {
			rejected++
			continue
		}
		if n := len(dst); n > 0 {
			prev := dst[n-1].Price
			if (l.Price > prev) == asc || l.Price == prev {
				reversed = false
			}
			if (l.Price < prev) == asc || l.Price == prev {
				inOrder = false
			}
		}
		dst = append(dst, l)
	}
	switch {
	case inOrder:
	case reversed:
		slices.Reverse(dst)
	default:
		dst = sortLevels(dst, in, asc)
	}
	// Keep the last entry of each run of equal prices, unless its size is 0.
	n := 0
	for i, l := range dst {
		if i+1 < len(dst) && dst[i+1].Price == l.Price {
			continue
		}
		if l.Size != 0 {
			dst[n] = l
			n++
		}
	}
	b.sides[side] = dst[:n]
	return rejected
}

// sortLevels sorts dst, the valid levels of in, into storage order. Equal
// prices must keep their input order (the last one wins), which only a stable
// sort guarantees, but the stable sort is several times slower than pdqsort.
// Duplicates are rare, so sort unstably and, only if equal prices turned up,
// rebuild dst from in and sort it stably.
func sortLevels(dst, in []Level, asc bool) []Level {
	order := descending
	if asc {
		order = ascending
	}
	slices.SortFunc(dst, order)
	dup := false
	for i := 1; i < len(dst) && !dup; i++ {
		dup = dst[i].Price == dst[i-1].Price
	}
	if !dup {
		return dst
	}
	dst = dst[:0]
	for _, l := range in {
		if l.Price > 0 && l.Size >= 0 {
			dst = append(dst, l) // fits: the first pass appended the same levels
		}
	}
	slices.SortStableFunc(dst, order)
	return dst
}

func ascending(x, y Level) int  { return cmp.Compare(x.Price, y.Price) }
func descending(x, y Level) int { return cmp.Compare(y.Price, x.Price) }
