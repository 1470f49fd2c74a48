package book_test

import (
	"math/rand/v2"
	"testing"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/fixed"
)

// venueSides returns n bids and n asks in the venue's order, best last:
// bids ascend from 0.001 and asks descend from 0.999 on a 0.001 grid.
func venueSides(n int) (bids, asks []book.Level) {
	for i := range n {
		bids = append(bids, book.Level{Price: fixed.Point(i+1) * 1000, Size: fixed.Point(i+1) * fixed.Scale})
		asks = append(asks, book.Level{Price: fixed.Point(999-i) * 1000, Size: fixed.Point(i+1) * fixed.Scale})
	}
	return bids, asks
}

func wantNoAllocs(t *testing.T, name string, f func()) {
	t.Helper()
	wantNoAllocsN(t, 100, name, f)
}

func wantNoAllocsN(t *testing.T, runs int, name string, f func()) {
	t.Helper()
	if got := testing.AllocsPerRun(runs, f); got != 0 {
		t.Errorf("%s: %v allocations per run; want 0", name, got)
	}
}

func TestAllocsSet(t *testing.T) {
	bids, asks := venueSides(100)
	b := book.New("asset")
	b.ApplySnapshot(bids, asks, 1)
	best := bids[99].Price
	mid := bids[50].Price
	var flip fixed.Point
	wantNoAllocs(t, "Set update existing best", func() {
		flip ^= 1
		_ = b.Set(book.Bid, best, fixed.Scale+flip)
	})
	wantNoAllocs(t, "Set update existing mid-book", func() {
		flip ^= 1
		_ = b.Set(book.Ask, asks[50].Price, fixed.Scale+flip)
		_ = b.Set(book.Bid, mid, fixed.Scale+flip)
	})

	// Free every other level, then put them back: inserts inside the side,
	// within the capacity the snapshot left.
	for j := 0; j < 100; j += 2 {
		_ = b.Set(book.Bid, bids[j].Price, 0)
		_ = b.Set(book.Ask, asks[j].Price, 0)
	}
	j := 0
	wantNoAllocsN(t, 49, "Set insert within capacity", func() { // 1 warm-up + 49 runs = 50 free slots
		_ = b.Set(book.Bid, bids[j].Price, bids[j].Size)
		_ = b.Set(book.Ask, asks[j].Price, asks[j].Size)
		j += 2
	})
	if b.Depth(book.Bid) != 100 || b.Depth(book.Ask) != 100 {
		t.Fatalf("Depth = %d/%d after re-inserting; want 100/100", b.Depth(book.Bid), b.Depth(book.Ask))
	}
	j = 0
	wantNoAllocsN(t, 99, "Set delete", func() {
		_ = b.Set(book.Bid, bids[j].Price, 0)
		_ = b.Set(book.Ask, asks[j].Price, 0)
		j++
	})
	if b.Depth(book.Bid) != 0 || b.Depth(book.Ask) != 0 {
		t.Fatalf("Depth = %d/%d after deleting all; want 0/0", b.Depth(book.Bid), b.Depth(book.Ask))
	}
	wantNoAllocs(t, "Set delete missing", func() {
		_ = b.Set(book.Bid, 7, 0)
	})
	wantNoAllocs(t, "Set refused", func() {
		_ = b.Set(book.Bid, -1, 1)
		_ = b.Set(book.Ask, 1, -1)
		_ = b.Set(3, 1, 1)
	})
	wantNoAllocs(t, "Set insert new best then delete it", func() {
		_ = b.Set(book.Bid, best+1, 1)
		_ = b.Set(book.Bid, best+1, 0)
	})
}

func TestAllocsReads(t *testing.T) {
	bids, asks := venueSides(100)
	b := book.New("asset")
	b.ApplySnapshot(bids, asks, 1)
	var sink fixed.Point
	wantNoAllocs(t, "Best, Spread, Mid, Crossed, MatchesBest", func() {
		bb, _ := b.BestBid()
		ba, _ := b.BestAsk()
		l, _ := b.Best(book.Bid)
		s, _ := b.Spread()
		m, _ := b.Mid()
		sink += bb.Price + ba.Price + l.Size + s + m + b.TickSize()
		if b.Crossed() || !b.MatchesBest(bb.Price, ba.Price) || !b.Valid() {
			t.Fatal("unexpected book state")
		}
	})
	buf := make([]book.Level, 0, 100)
	wantNoAllocs(t, "Levels into a sized buffer", func() {
		buf = b.Levels(book.Bid, buf[:0])
		buf = b.Levels(book.Ask, buf[:0])
	})
	if len(buf) != 100 {
		t.Fatalf("Levels returned %d levels; want 100", len(buf))
	}
	wantNoAllocs(t, "Stamp, SetTickSize, SetLastTrade, Invalidate", func() {
		b.Stamp(2)
		b.SetTickSize(1000)
		b.SetLastTrade(book.Trade{Price: 5, Size: 6, Side: book.Ask, Timestamp: 3})
		b.Invalidate()
	})
	_ = sink
}

func TestAllocsApplySnapshot(t *testing.T) {
	bids, asks := venueSides(100)
	rev := func(in []book.Level) []book.Level {
		out := make([]book.Level, len(in))
		for i, l := range in {
			out[len(in)-1-i] = l
		}
		return out
	}
	shuffled := func(in []book.Level) []book.Level {
		out := append([]book.Level(nil), in...)
		out = append(out[:90], out[:10]...) // 10 duplicates in place of 10 levels
		rand.New(rand.NewPCG(3, 4)).Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		return out
	}
	for _, tc := range []struct {
		name       string
		bids, asks []book.Level
	}{
		{"venue order", bids, asks},
		{"reversed order", rev(bids), rev(asks)},
		{"shuffled with duplicates", shuffled(bids), shuffled(asks)},
	} {
		b := book.New("asset")
		b.ApplySnapshot(tc.bids, tc.asks, 1)
		wantNoAllocs(t, "ApplySnapshot same size, "+tc.name, func() {
			b.ApplySnapshot(tc.bids, tc.asks, 2)
		})
	}
}
