package book_test

import (
	"encoding/json"
	"testing"

	"github.com/polyfeed/polyfeed/book"
)

// TestView: a view copies the book (capped to depth, best first), names the
// taker's side of the last trade as the venue does, and leaves the undefined
// figures of an empty side null.
func TestView(t *testing.T) {
	b := book.New("a1")
	b.ApplySnapshot(lvs("0.50", "10", "0.52", "20", "0.51", "5"), lvs("0.55", "7", "0.53", "1"), 1000)
	b.SetTickSize(px("0.01"))
	b.SetLastTrade(book.Trade{Price: px("0.53"), Size: px("2"), Side: book.Ask, Timestamp: 999})

	v := b.View("0xm", 2)
	if v.AssetID != "a1" || v.Market != "0xm" || !v.Valid || v.TickSize != px("0.01") || v.UpdatedAtMS != 1000 {
		t.Fatalf("view %+v", v)
	}
	if len(v.Bids) != 2 || v.Bids[0].Price != px("0.52") || v.Bids[1].Price != px("0.51") {
		t.Fatalf("bids %v; want 0.52, 0.51", v.Bids)
	}
	if len(v.Asks) != 2 || v.Asks[0].Price != px("0.53") || v.Asks[1].Size != px("7") {
		t.Fatalf("asks %v; want 0.53, 0.55", v.Asks)
	}
	if *v.BestBid != px("0.52") || *v.BestAsk != px("0.53") || *v.Spread != px("0.01") {
		t.Fatalf("best %v/%v spread %v", *v.BestBid, *v.BestAsk, *v.Spread)
	}
	if v.LastTrade == nil || v.LastTrade.Side != "SELL" || v.LastTrade.TimestampMS != 999 {
		t.Fatalf("last trade %+v; want SELL at 999", v.LastTrade)
	}
	if all := b.View("0xm", 0); len(all.Bids) != 3 || len(all.Asks) != 2 {
		t.Fatalf("depth 0: %d bids, %d asks; want all (3, 2)", len(all.Bids), len(all.Asks))
	}
	// The view is a copy: changing the book leaves it alone.
	if err := b.Set(book.Bid, px("0.52"), 0); err != nil {
		t.Fatal(err)
	}
	if v.Bids[0].Price != px("0.52") {
		t.Fatal("view changed with the book")
	}

	empty := book.New("a2").View("", 0)
	raw, err := json.Marshal(empty)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"best_bid", "best_ask", "spread", "mid", "last_trade"} {
		if v, ok := m[k]; !ok || v != nil {
			t.Errorf("empty book: %s = %v; want null", k, v)
		}
	}
}
