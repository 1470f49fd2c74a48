package book_test

import (
	"testing"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/fixed"
)

func TestApplySnapshot(t *testing.T) {
	// Best first, as Levels reports them.
	wantBids := lvs("0.5", "10", "0.48", "20", "0.45", "30")
	wantAsks := lvs("0.52", "11", "0.55", "21", "0.6", "31")
	tests := []struct {
		name         string
		bids, asks   []book.Level
		wantBids     []book.Level
		wantAsks     []book.Level
		wantRejected int
	}{
		{"venue order: bids ascending, asks descending",
			lvs("0.45", "30", "0.48", "20", "0.5", "10"), lvs("0.6", "31", "0.55", "21", "0.52", "11"),
			wantBids, wantAsks, 0},
		{"docs order: bids descending, asks ascending",
			lvs("0.5", "10", "0.48", "20", "0.45", "30"), lvs("0.52", "11", "0.55", "21", "0.6", "31"),
			wantBids, wantAsks, 0},
		{"shuffled",
			lvs("0.48", "20", "0.5", "10", "0.45", "30"), lvs("0.55", "21", "0.6", "31", "0.52", "11"),
			wantBids, wantAsks, 0},
		{"duplicates: last wins",
			lvs("0.45", "1", "0.48", "20", "0.45", "2", "0.5", "10", "0.45", "30"),
			lvs("0.6", "31", "0.52", "99", "0.55", "21", "0.52", "11"),
			wantBids, wantAsks, 0},
		{"duplicates in otherwise sorted input",
			lvs("0.45", "30", "0.48", "1", "0.48", "20", "0.5", "10"),
			lvs("0.6", "31", "0.55", "21", "0.52", "1", "0.52", "11"),
			wantBids, wantAsks, 0},
		{"zero sizes skipped",
			lvs("0.1", "0", "0.45", "30", "0.48", "20", "0.49", "0", "0.5", "10", "0.9", "0"),
			lvs("0.99", "0", "0.6", "31", "0.55", "21", "0.52", "11", "0.51", "0"),
			wantBids, wantAsks, 0},
		{"zero after a duplicate removes the level",
			lvs("0.45", "30", "0.48", "20", "0.5", "10", "0.49", "5", "0.49", "0"),
			lvs("0.52", "11", "0.55", "21", "0.6", "31", "0.51", "4", "0.51", "0"),
			wantBids, wantAsks, 0},
		{"size after a zero restores the level",
			lvs("0.5", "0", "0.45", "30", "0.48", "20", "0.5", "10"),
			lvs("0.52", "0", "0.52", "11", "0.55", "21", "0.6", "31"),
			wantBids, wantAsks, 0},
		{"bad levels skipped and counted",
			lvs("0", "5", "0.45", "30", "-0.1", "1", "0.48", "20", "0.5", "10", "0.47", "-3"),
			lvs("0.6", "31", "0.55", "21", "0.52", "11", "-1", "1"),
			wantBids, wantAsks, 4},
		{"crossed input is kept as sent",
			lvs("0.5", "1", "0.55", "2"), lvs("0.52", "3", "0.6", "4"),
			lvs("0.55", "2", "0.5", "1"), lvs("0.52", "3", "0.6", "4"), 0},
		{"one side empty", nil, lvs("0.6", "31", "0.55", "21", "0.52", "11"), nil, wantAsks, 0},
		{"both empty", nil, nil, nil, nil, 0},
		{"single level", lvs("0.5", "10"), lvs("0.52", "11"), lvs("0.5", "10"), lvs("0.52", "11"), 0},
		{"all zero", lvs("0.5", "0", "0.4", "0"), lvs("0.6", "0"), nil, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Onto a fresh book and onto a book holding other levels: a
			// snapshot replaces, never merges.
			for _, b := range []*book.Book{
				book.New("asset"),
				snapshot(t, lvs("0.3", "1", "0.49", "7", "0.51", "1"), lvs("0.53", "2", "0.7", "1", "0.9", "3")),
			} {
				b.Invalidate()
				seq := b.Seq()
				if got := b.ApplySnapshot(tt.bids, tt.asks, 1750428146322); got != tt.wantRejected {
					t.Errorf("ApplySnapshot rejected %d; want %d", got, tt.wantRejected)
				}
				wantSides(t, b, tt.wantBids, tt.wantAsks)
				if !b.Valid() {
					t.Error("Valid() = false after ApplySnapshot")
				}
				if b.UpdatedAt() != 1750428146322 {
					t.Errorf("UpdatedAt() = %d; want 1750428146322", b.UpdatedAt())
				}
				if b.Seq() == seq {
					t.Error("ApplySnapshot did not move Seq")
				}
			}
		})
	}
}

func TestApplySnapshotDoesNotKeepInput(t *testing.T) {
	bids := lvs("0.4", "1", "0.5", "2")
	asks := lvs("0.7", "1", "0.6", "2")
	b := book.New("asset")
	b.ApplySnapshot(bids, asks, 1)
	bids[1].Size = 99 // the decoder reuses its buffers
	asks[1].Price = px("0.1")
	wantSides(t, b, lvs("0.5", "2", "0.4", "1"), lvs("0.6", "2", "0.7", "1"))
}

func TestApplySnapshotReusesCapacity(t *testing.T) {
	b := book.New("asset")
	big := make([]book.Level, 0, 200)
	for i := 1; i <= 200; i++ {
		big = append(big, book.Level{Price: fixed.Point(i) * 1000, Size: fixed.Scale})
	}
	b.ApplySnapshot(big, big, 1)
	// Smaller snapshots in every order, then the largest again: no allocation.
	small := big[:50]
	allocs := testing.AllocsPerRun(20, func() {
		b.ApplySnapshot(small, small, 2)
		b.ApplySnapshot(big, big, 3)
	})
	if allocs != 0 {
		t.Errorf("ApplySnapshot after a larger one allocated %v times per run; want 0", allocs)
	}
	if b.Depth(book.Bid) != 200 || b.Depth(book.Ask) != 200 {
		t.Errorf("Depth = %d/%d; want 200/200", b.Depth(book.Bid), b.Depth(book.Ask))
	}
}
