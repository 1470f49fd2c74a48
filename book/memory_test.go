package book_test

import (
	"runtime"
	"strconv"
	"testing"

	"github.com/polyfeed/polyfeed/book"
)

// TestMemoryPerBook measures the heap a book with 100 levels a side costs,
// including its 77-digit asset id, averaged over many books.
func TestMemoryPerBook(t *testing.T) {
	const n = 2000
	bids, asks := venueSides(100)
	ids := make([]string, n)
	for i := range ids {
		// Real asset ids are ~77 decimal digits.
		ids[i] = "7132104567925221259462638553270691275033272857194253228963137931245558" + strconv.Itoa(1_000_000+i)
	}
	for _, build := range []struct {
		name string
		fill func(*book.Book)
	}{
		{"ApplySnapshot", func(b *book.Book) { b.ApplySnapshot(bids, asks, 1) }},
		{"Set one level at a time", func(b *book.Book) {
			for i := range bids {
				_ = b.Set(book.Bid, bids[i].Price, bids[i].Size)
				_ = b.Set(book.Ask, asks[i].Price, asks[i].Size)
			}
		}},
	} {
		books := make([]*book.Book, n)
		before := heapInUse()
		for i := range books {
			books[i] = book.New(ids[i])
			build.fill(books[i])
		}
		after := heapInUse()
		runtime.KeepAlive(books)
		per := float64(after-before) / n
		t.Logf("%s: %.0f bytes per book with 100 levels a side (levels alone: %d bytes)",
			build.name, per, 2*100*16)
		if per > 16<<10 {
			t.Errorf("%s: %.0f bytes per book; want < 16 KiB", build.name, per)
		}
		if books[n-1].Depth(book.Bid) != 100 || books[n-1].Depth(book.Ask) != 100 {
			t.Fatalf("%s: book does not hold 100 levels a side", build.name)
		}
	}
}

func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
