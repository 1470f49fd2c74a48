package book_test

import (
	"errors"
	"slices"
	"testing"
	"unsafe"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/fixed"
)

func px(s string) fixed.Point { return fixed.MustParse(s) }

// lv builds a level from decimal strings.
func lv(price, size string) book.Level { return book.Level{Price: px(price), Size: px(size)} }

// lvs builds levels from pairs of decimal strings.
func lvs(pairs ...string) []book.Level {
	out := make([]book.Level, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, lv(pairs[i], pairs[i+1]))
	}
	return out
}

func levels(b *book.Book, side book.Side) []book.Level { return b.Levels(side, nil) }

// wantSides fails t unless both sides, best first, are exactly bids and asks.
func wantSides(t *testing.T, b *book.Book, bids, asks []book.Level) {
	t.Helper()
	if got := levels(b, book.Bid); !slices.Equal(got, bids) {
		t.Errorf("bids = %v; want %v", got, bids)
	}
	if got := levels(b, book.Ask); !slices.Equal(got, asks) {
		t.Errorf("asks = %v; want %v", got, asks)
	}
	if got := b.Depth(book.Bid); got != len(bids) {
		t.Errorf("Depth(Bid) = %d; want %d", got, len(bids))
	}
	if got := b.Depth(book.Ask); got != len(asks) {
		t.Errorf("Depth(Ask) = %d; want %d", got, len(asks))
	}
}

// snapshot returns a valid book holding bids and asks.
func snapshot(t *testing.T, bids, asks []book.Level) *book.Book {
	t.Helper()
	b := book.New("asset")
	if r := b.ApplySnapshot(bids, asks, 1); r != 0 {
		t.Fatalf("ApplySnapshot rejected %d levels", r)
	}
	return b
}

func TestSet(t *testing.T) {
	// Best first on both sides.
	bids := lvs("0.5", "10", "0.48", "20", "0.45", "30")
	asks := lvs("0.52", "11", "0.55", "21", "0.6", "31")
	tests := []struct {
		name      string
		side      book.Side
		price     string
		size      string
		wantErr   error
		wantBids  []book.Level
		wantAsks  []book.Level
		unchanged bool // Seq must not move
	}{
		{"update best bid", book.Bid, "0.5", "12", nil,
			lvs("0.5", "12", "0.48", "20", "0.45", "30"), asks, false},
		{"update mid ask", book.Ask, "0.55", "1.5", nil,
			bids, lvs("0.52", "11", "0.55", "1.5", "0.6", "31"), false},
		{"insert new best bid", book.Bid, "0.51", "5", nil,
			lvs("0.51", "5", "0.5", "10", "0.48", "20", "0.45", "30"), asks, false},
		{"insert new best ask", book.Ask, "0.515", "5", nil,
			bids, lvs("0.515", "5", "0.52", "11", "0.55", "21", "0.6", "31"), false},
		{"insert middle bid", book.Bid, "0.49", "7", nil,
			lvs("0.5", "10", "0.49", "7", "0.48", "20", "0.45", "30"), asks, false},
		{"insert middle ask", book.Ask, "0.58", "7", nil,
			bids, lvs("0.52", "11", "0.55", "21", "0.58", "7", "0.6", "31"), false},
		{"insert worst bid", book.Bid, "0.01", "1", nil,
			lvs("0.5", "10", "0.48", "20", "0.45", "30", "0.01", "1"), asks, false},
		{"insert worst ask", book.Ask, "0.99", "1", nil,
			bids, lvs("0.52", "11", "0.55", "21", "0.6", "31", "0.99", "1"), false},
		{"delete best bid", book.Bid, "0.5", "0", nil,
			lvs("0.48", "20", "0.45", "30"), asks, false},
		{"delete middle ask", book.Ask, "0.55", "0", nil,
			bids, lvs("0.52", "11", "0.6", "31"), false},
		{"delete worst bid", book.Bid, "0.45", "0", nil,
			lvs("0.5", "10", "0.48", "20"), asks, false},
		{"delete missing bid is a no-op", book.Bid, "0.49", "0", nil, bids, asks, true},
		{"delete missing ask above best is a no-op", book.Ask, "0.7", "0", nil, bids, asks, true},
		{"same size is a no-op", book.Ask, "0.52", "11", nil, bids, asks, true},
		{"zero price refused", book.Bid, "0", "5", book.ErrPrice, bids, asks, true},
		{"negative price refused", book.Ask, "-0.5", "5", book.ErrPrice, bids, asks, true},
		{"negative size refused", book.Bid, "0.5", "-1", book.ErrSize, bids, asks, true},
		{"bid price above 1 allowed", book.Bid, "3", "1",
			nil, lvs("3", "1", "0.5", "10", "0.48", "20", "0.45", "30"), asks, false},
		{"large price allowed", book.Ask, "9000000000000", "1",
			nil, bids, lvs("0.52", "11", "0.55", "21", "0.6", "31", "9000000000000", "1"), false},
		{"smallest unit allowed", book.Bid, "0.000001", "0.000001",
			nil, lvs("0.5", "10", "0.48", "20", "0.45", "30", "0.000001", "0.000001"), asks, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := snapshot(t, bids, asks)
			seq := b.Seq()
			err := b.Set(tt.side, px(tt.price), px(tt.size))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Set(%v, %s, %s) = %v; want %v", tt.side, tt.price, tt.size, err, tt.wantErr)
			}
			wantSides(t, b, tt.wantBids, tt.wantAsks)
			if changed := b.Seq() != seq; changed == tt.unchanged {
				t.Errorf("Seq moved = %v; want %v", changed, !tt.unchanged)
			}
			if !b.Valid() {
				t.Error("Set invalidated the book")
			}
		})
	}
}

func TestSetInvalidSide(t *testing.T) {
	b := snapshot(t, lvs("0.5", "1"), nil)
	if err := b.Set(book.Side(2), px("0.4"), px("1")); !errors.Is(err, book.ErrSide) {
		t.Fatalf("Set(side 2) = %v; want ErrSide", err)
	}
	wantSides(t, b, lvs("0.5", "1"), nil)
	if _, ok := b.Best(book.Side(7)); ok {
		t.Error("Best(side 7) reported a level")
	}
	if d := b.Depth(book.Side(7)); d != 0 {
		t.Errorf("Depth(side 7) = %d; want 0", d)
	}
	if got := b.Levels(book.Side(7), lvs("1", "1")); !slices.Equal(got, lvs("1", "1")) {
		t.Errorf("Levels(side 7) = %v; want dst unchanged", got)
	}
}

func TestSetBuildsFromEmpty(t *testing.T) {
	// Every insert position, on both sides, from an empty book.
	b := book.New("asset")
	for _, p := range []string{"0.5", "0.3", "0.7", "0.4", "0.6", "0.1", "0.9"} {
		if err := b.Set(book.Bid, px(p), px("1")); err != nil {
			t.Fatal(err)
		}
		if err := b.Set(book.Ask, px(p), px("2")); err != nil {
			t.Fatal(err)
		}
	}
	wantSides(t, b,
		lvs("0.9", "1", "0.7", "1", "0.6", "1", "0.5", "1", "0.4", "1", "0.3", "1", "0.1", "1"),
		lvs("0.1", "2", "0.3", "2", "0.4", "2", "0.5", "2", "0.6", "2", "0.7", "2", "0.9", "2"))
	if b.Valid() {
		t.Error("a book never snapshotted is valid")
	}
}

func TestBestSpreadMid(t *testing.T) {
	tests := []struct {
		name             string
		bids, asks       []book.Level
		bestBid, bestAsk string // "" = side empty
		spread, mid      string // "" = not defined
		crossed          bool
	}{
		{"empty", nil, nil, "", "", "", "", false},
		{"bids only", lvs("0.4", "1", "0.45", "2"), nil, "0.45", "", "", "", false},
		{"asks only", nil, lvs("0.6", "1", "0.55", "2"), "", "0.55", "", "", false},
		{"normal", lvs("0.48", "1"), lvs("0.52", "1"), "0.48", "0.52", "0.04", "0.5", false},
		{"odd mid rounds down", lvs("0.000001", "1"), lvs("0.000004", "1"),
			"0.000001", "0.000004", "0.000003", "0.000002", false},
		{"locked", lvs("0.5", "1"), lvs("0.5", "1"), "0.5", "0.5", "0", "0.5", true},
		{"crossed", lvs("0.55", "1", "0.4", "1"), lvs("0.5", "1", "0.6", "1"),
			"0.55", "0.5", "-0.05", "0.525", true},
		{"huge prices do not overflow mid", lvs("9000000000000", "1"), lvs("9000000000001", "1"),
			"9000000000000", "9000000000001", "1", "9000000000000.5", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := snapshot(t, tt.bids, tt.asks)
			checkBest := func(name string, l book.Level, ok bool, want string) {
				t.Helper()
				if want == "" {
					if ok {
						t.Errorf("%s = %v; want none", name, l)
					}
					return
				}
				if !ok || l.Price != px(want) {
					t.Errorf("%s = %v, %v; want %s", name, l, ok, want)
				}
			}
			l, ok := b.BestBid()
			checkBest("BestBid", l, ok, tt.bestBid)
			l, ok = b.Best(book.Bid)
			checkBest("Best(Bid)", l, ok, tt.bestBid)
			l, ok = b.BestAsk()
			checkBest("BestAsk", l, ok, tt.bestAsk)
			l, ok = b.Best(book.Ask)
			checkBest("Best(Ask)", l, ok, tt.bestAsk)
			checkPoint := func(name string, p fixed.Point, ok bool, want string) {
				t.Helper()
				if want == "" {
					if ok {
						t.Errorf("%s = %v; want undefined", name, p)
					}
					return
				}
				if !ok || p != px(want) {
					t.Errorf("%s = %v, %v; want %s", name, p, ok, want)
				}
			}
			s, ok := b.Spread()
			checkPoint("Spread", s, ok, tt.spread)
			m, ok := b.Mid()
			checkPoint("Mid", m, ok, tt.mid)
			if got := b.Crossed(); got != tt.crossed {
				t.Errorf("Crossed() = %v; want %v", got, tt.crossed)
			}
		})
	}
}

func TestCrossedByUpdate(t *testing.T) {
	b := snapshot(t, lvs("0.48", "1"), lvs("0.52", "1"))
	if b.Crossed() {
		t.Fatal("Crossed() before the update")
	}
	// A missed delete of the ask leaves a bid through it.
	if err := b.Set(book.Bid, px("0.53"), px("5")); err != nil {
		t.Fatal(err)
	}
	if !b.Crossed() {
		t.Error("Crossed() = false with bid 0.53 over ask 0.52")
	}
	if err := b.Set(book.Ask, px("0.52"), 0); err != nil {
		t.Fatal(err)
	}
	if b.Crossed() {
		t.Error("Crossed() = true with no asks")
	}
}

func TestMatchesBest(t *testing.T) {
	b := snapshot(t, lvs("0.48", "1", "0.47", "1"), lvs("0.52", "1"))
	tests := []struct {
		bid, ask string
		want     bool
	}{
		{"0.48", "0.52", true},
		{"0.47", "0.52", false},
		{"0.48", "0.53", false},
		{"0", "0.52", false},
		{"0.48", "0", false},
		{"0", "0", false},
	}
	for _, tt := range tests {
		if got := b.MatchesBest(px(tt.bid), px(tt.ask)); got != tt.want {
			t.Errorf("MatchesBest(%s, %s) = %v; want %v", tt.bid, tt.ask, got, tt.want)
		}
	}
	oneSided := snapshot(t, nil, lvs("0.52", "1"))
	if !oneSided.MatchesBest(0, px("0.52")) {
		t.Error("MatchesBest(0, 0.52) = false on a book with no bids")
	}
	if oneSided.MatchesBest(px("0.48"), px("0.52")) {
		t.Error("MatchesBest(0.48, 0.52) = true on a book with no bids")
	}
	if !book.New("x").MatchesBest(0, 0) {
		t.Error("MatchesBest(0, 0) = false on an empty book")
	}
}

func TestLevelsOrdering(t *testing.T) {
	b := snapshot(t,
		lvs("0.1", "1", "0.3", "3", "0.2", "2"),
		lvs("0.9", "9", "0.7", "7", "0.8", "8"))
	prefix := lvs("5", "5")
	got := b.Levels(book.Bid, slices.Clone(prefix))
	want := append(slices.Clone(prefix), lvs("0.3", "3", "0.2", "2", "0.1", "1")...)
	if !slices.Equal(got, want) {
		t.Errorf("Levels(Bid, prefix) = %v; want %v", got, want)
	}
	got = b.Levels(book.Ask, got[:0])
	if want := lvs("0.7", "7", "0.8", "8", "0.9", "9"); !slices.Equal(got, want) {
		t.Errorf("Levels(Ask) = %v; want %v", got, want)
	}
	// The returned slice is a copy: changing it leaves the book alone.
	got[0].Size = 0
	if l, _ := b.BestAsk(); l != lv("0.7", "7") {
		t.Errorf("BestAsk after editing Levels' result = %v; want 0.7/7", l)
	}
}

func TestValidity(t *testing.T) {
	b := book.New("asset")
	step := func(name string, f func(), wantValid, wantSeqMove bool) {
		t.Helper()
		seq := b.Seq()
		f()
		if b.Valid() != wantValid {
			t.Errorf("after %s: Valid() = %v; want %v", name, b.Valid(), wantValid)
		}
		if moved := b.Seq() != seq; moved != wantSeqMove {
			t.Errorf("after %s: Seq moved = %v; want %v", name, moved, wantSeqMove)
		}
	}
	if b.Valid() {
		t.Fatal("new book is valid")
	}
	step("Set before any snapshot", func() { _ = b.Set(book.Bid, px("0.4"), px("1")) }, false, true)
	step("Invalidate of an invalid book", b.Invalidate, false, false)
	step("ApplySnapshot", func() { b.ApplySnapshot(lvs("0.4", "1"), lvs("0.6", "1"), 10) }, true, true)
	step("Set", func() { _ = b.Set(book.Ask, px("0.6"), 0) }, true, true)
	step("SetTickSize", func() { b.SetTickSize(px("0.001")) }, true, true)
	step("Invalidate", b.Invalidate, false, true)
	wantSides(t, b, lvs("0.4", "1"), nil) // stale levels stay readable
	step("Invalidate again", b.Invalidate, false, false)
	step("Set while invalid", func() { _ = b.Set(book.Bid, px("0.41"), px("1")) }, false, true)
	step("ApplySnapshot after Invalidate", func() { b.ApplySnapshot(nil, lvs("0.6", "2"), 11) }, true, true)
	step("Reset", b.Reset, false, true)
	wantSides(t, b, nil, nil)
	step("empty ApplySnapshot", func() { b.ApplySnapshot(nil, nil, 12) }, true, true)
}

func TestTickSizeChange(t *testing.T) {
	b := snapshot(t, lvs("0.04", "10", "0.03", "5"), lvs("0.05", "7"))
	if got := b.TickSize(); got != 0 {
		t.Fatalf("TickSize() = %v before any; want 0", got)
	}
	b.SetTickSize(px("0.01"))
	seq := b.Seq()
	b.SetTickSize(px("0.01"))
	if b.Seq() != seq {
		t.Error("SetTickSize with the same value moved Seq")
	}
	b.SetTickSize(px("0.001"))
	if got := b.TickSize(); got != px("0.001") {
		t.Errorf("TickSize() = %v; want 0.001", got)
	}
	if b.Seq() == seq {
		t.Error("SetTickSize to a new value did not move Seq")
	}
	// The finer grid takes levels between the old ticks; old levels stay.
	if err := b.Set(book.Bid, px("0.041"), px("3")); err != nil {
		t.Fatal(err)
	}
	wantSides(t, b, lvs("0.041", "3", "0.04", "10", "0.03", "5"), lvs("0.05", "7"))
	if !b.Valid() {
		t.Error("SetTickSize changed validity; that is the owner's policy")
	}
}

func TestLastTradeAndStamp(t *testing.T) {
	b := book.New("asset")
	if _, ok := b.LastTrade(); ok {
		t.Error("LastTrade() reported a trade on a new book")
	}
	if b.UpdatedAt() != 0 {
		t.Errorf("UpdatedAt() = %d on a new book; want 0", b.UpdatedAt())
	}
	tr := book.Trade{Price: px("0.456"), Size: px("219.217767"), Side: book.Ask, Timestamp: 1750428146322}
	seq := b.Seq()
	b.SetLastTrade(tr)
	if got, ok := b.LastTrade(); !ok || got != tr {
		t.Errorf("LastTrade() = %v, %v; want %v, true", got, ok, tr)
	}
	if b.Seq() == seq {
		t.Error("SetLastTrade did not move Seq")
	}
	seq = b.Seq()
	b.Stamp(1750428146400)
	if b.UpdatedAt() != 1750428146400 || b.Seq() == seq {
		t.Errorf("after Stamp: UpdatedAt() = %d, Seq moved %v", b.UpdatedAt(), b.Seq() != seq)
	}
	b.Stamp(5) // taken as given
	if b.UpdatedAt() != 5 {
		t.Errorf("UpdatedAt() = %d; want 5", b.UpdatedAt())
	}
	b.ApplySnapshot(nil, nil, 77)
	if b.UpdatedAt() != 77 {
		t.Errorf("UpdatedAt() after ApplySnapshot = %d; want 77", b.UpdatedAt())
	}
	b.Reset()
	if got, ok := b.LastTrade(); !ok || got != tr {
		t.Errorf("Reset dropped the last trade: %v, %v", got, ok)
	}
}

func TestNewCopiesAssetID(t *testing.T) {
	// Decoded ids alias a reused frame buffer; the book must not.
	buf := []byte("71321045679252212594626385532706912750332728571942532289631379312455583992563")
	b := book.New(unsafe.String(&buf[0], len(buf)))
	want := string(buf)
	for i := range buf {
		buf[i] = 'x'
	}
	if got := b.AssetID(); got != want {
		t.Errorf("AssetID() = %q after the caller's buffer changed; want %q", got, want)
	}
}

func TestSideString(t *testing.T) {
	for s, want := range map[book.Side]string{book.Bid: "bid", book.Ask: "ask", 9: "side(9)"} {
		if got := s.String(); got != want {
			t.Errorf("Side(%d).String() = %q; want %q", s, got, want)
		}
	}
}

// TestMatchesBestEmptySideSentinels pins issue 12 defect 5: the venue reports
// an empty side as best_ask "1" (no asks) and best_bid "0" (no bids), as in
// its documented price_change example. A one-sided book agrees with those
// sentinels; treating "1" as a price looped resyncs on every change.
func TestMatchesBestEmptySideSentinels(t *testing.T) {
	noAsks := snapshot(t, lvs("0.97", "10", "0.96", "5"), nil)
	noBids := snapshot(t, nil, lvs("0.03", "10"))
	empty := book.New("x")
	tests := []struct {
		name     string
		b        *book.Book
		bid, ask string
		want     bool
	}{
		{"no asks, best_ask 1", noAsks, "0.97", "1", true},
		{"no asks, best_ask above the range", noAsks, "0.97", "1.5", true},
		{"no asks, best_ask 0", noAsks, "0.97", "0", true},
		{"no asks, wrong bid", noAsks, "0.96", "1", false},
		{"no asks, an ask price", noAsks, "0.97", "0.99", false},
		{"no bids, best_bid 0", noBids, "0", "0.03", true},
		{"no bids, a bid price", noBids, "0.01", "0.03", false},
		{"no bids, wrong ask", noBids, "0", "0.04", false},
		{"empty, sentinels", empty, "0", "1", true},
		{"empty, bid 1", empty, "1", "1", false},
	}
	for _, tt := range tests {
		if got := tt.b.MatchesBest(px(tt.bid), px(tt.ask)); got != tt.want {
			t.Errorf("%s: MatchesBest(%s, %s) = %v; want %v", tt.name, tt.bid, tt.ask, got, tt.want)
		}
	}
	// Both sides present: 1 is not an ask the book can have.
	two := snapshot(t, lvs("0.48", "1"), lvs("0.52", "1"))
	if two.MatchesBest(px("0.48"), px("1")) {
		t.Error("MatchesBest(0.48, 1) = true on a book with asks")
	}
}
