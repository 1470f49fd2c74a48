package book_test

import (
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/fixed"
)

func benchBook(b *testing.B) (*book.Book, []book.Level, []book.Level) {
	bids, asks := venueSides(100)
	bk := book.New("asset")
	bk.ApplySnapshot(bids, asks, 1)
	b.ReportAllocs()
	return bk, bids, asks
}

// BenchmarkSetTop resizes the best bid: the most common price_change.
func BenchmarkSetTop(b *testing.B) {
	bk, bids, _ := benchBook(b)
	best := bids[len(bids)-1].Price
	var i fixed.Point
	for b.Loop() {
		i++
		_ = bk.Set(book.Bid, best, fixed.Scale+i&1)
	}
}

// BenchmarkSetInsertDeleteTop adds a new best bid and removes it again,
// one Set per op.
func BenchmarkSetInsertDeleteTop(b *testing.B) {
	bk, bids, _ := benchBook(b)
	p := bids[len(bids)-1].Price + 1
	var i fixed.Point
	for b.Loop() {
		i++
		_ = bk.Set(book.Bid, p, (i&1)*fixed.Scale)
	}
}

// BenchmarkSetInsertDeleteMid adds a level in the middle of a 100-level side
// and removes it again, one Set per op: each moves ~50 levels.
func BenchmarkSetInsertDeleteMid(b *testing.B) {
	bk, bids, _ := benchBook(b)
	p := bids[50].Price + 1
	var i fixed.Point
	for b.Loop() {
		i++
		_ = bk.Set(book.Bid, p, (i&1)*fixed.Scale)
	}
}

// BenchmarkApplySnapshot100 replaces a book with 100 levels a side.
func BenchmarkApplySnapshot100(b *testing.B) {
	bids, asks := venueSides(100)
	rev := func(in []book.Level) []book.Level {
		out := make([]book.Level, len(in))
		for i, l := range in {
			out[len(in)-1-i] = l
		}
		return out
	}
	shuf := func(in []book.Level) []book.Level {
		out := append([]book.Level(nil), in...)
		rand.New(rand.NewPCG(5, 6)).Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		return out
	}
	for _, bc := range []struct {
		name       string
		bids, asks []book.Level
	}{
		{"venue-order", bids, asks},
		{"reversed", rev(bids), rev(asks)},
		{"shuffled", shuf(bids), shuf(asks)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			bk := book.New("asset")
			bk.ApplySnapshot(bc.bids, bc.asks, 1)
			b.ReportAllocs()
			for b.Loop() {
				bk.ApplySnapshot(bc.bids, bc.asks, 2)
			}
		})
	}
}

var sinkLevel book.Level

func BenchmarkBest(b *testing.B) {
	bk, _, _ := benchBook(b)
	for b.Loop() {
		l, _ := bk.Best(book.Bid)
		sinkLevel = l
	}
}

func BenchmarkLevels100(b *testing.B) {
	bk, _, _ := benchBook(b)
	buf := make([]book.Level, 0, 100)
	for b.Loop() {
		buf = bk.Levels(book.Ask, buf[:0])
	}
}

// The ownership baseline: the same top-of-book update on one of 1000 books
// keyed by 77-digit asset id, (1) in a map shared behind a mutex, as a naive
// shared design would do, (2) in the worker's own map with no lock, (3) on a
// book pointer the worker already holds (the router hands it the asset).
// All single goroutine, so the difference is the uncontended lock alone;
// contention would only widen it.
func BenchmarkOwnership(b *testing.B) {
	const nBooks = 1000
	bids, asks := venueSides(100)
	ids := make([]string, nBooks)
	books := make(map[string]*book.Book, nBooks)
	ptrs := make([]*book.Book, nBooks)
	for i := range ids {
		ids[i] = "7132104567925221259462638553270691275033272857194253228963137931245558" + strconv.Itoa(1_000_000+i)
		ptrs[i] = book.New(ids[i])
		ptrs[i].ApplySnapshot(bids, asks, 1)
		books[ids[i]] = ptrs[i]
	}
	best := bids[len(bids)-1].Price
	b.Run("mutex-map", func(b *testing.B) {
		var mu sync.Mutex
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			mu.Lock()
			_ = books[ids[i%nBooks]].Set(book.Bid, best, fixed.Point(i&1)+fixed.Scale)
			mu.Unlock()
		}
	})
	b.Run("worker-map", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			_ = books[ids[i%nBooks]].Set(book.Bid, best, fixed.Point(i&1)+fixed.Scale)
		}
	})
	b.Run("worker-ptr", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			_ = ptrs[i%nBooks].Set(book.Bid, best, fixed.Point(i&1)+fixed.Scale)
		}
	})
}
