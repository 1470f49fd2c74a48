package wire

import (
	"testing"

	"github.com/bytedance/sonic/decoder"
)

// TestSonicReuseBehaviour pins what sonic does with a reused destination,
// which reset and presence detection rely on. If a sonic upgrade changes any
// of it, this fails before stale data can leak into events.
func TestSonicReuseBehaviour(t *testing.T) {
	type dst struct {
		S    string     `json:"s"`
		List []rawLevel `json:"list"`
	}
	buf := make([]rawLevel, 2, 4)
	buf[0] = rawLevel{Price: "old", Size: "old"}
	decode := func(in string) dst {
		v := dst{S: "prev", List: buf[:0]}
		j := decoder.NewDecoder(in)
		j.SetOptions(decoder.OptionCaseSensitive)
		if err := j.Decode(&v); err != nil {
			t.Fatalf("decode %s: %v", in, err)
		}
		return v
	}

	if v := decode(`{}`); v.S != "prev" {
		t.Errorf("absent key: S = %q; sonic is expected to keep the old value (reset depends on knowing)", v.S)
	}
	if v := decode(`{}`); !sameArray(v.List, buf) || len(v.List) != 0 {
		t.Errorf("absent list: got len %d, same array %v; want the slice untouched", len(v.List), sameArray(v.List, buf))
	}
	if v := decode(`{"list":[]}`); v.List == nil || sameArray(v.List, buf) {
		t.Errorf("empty list: got nil=%v same array=%v; want a new non-nil empty slice", v.List == nil, sameArray(v.List, buf))
	}
	if v := decode(`{"list":null}`); v.List != nil {
		t.Errorf("null list: got %v; want nil", v.List)
	}
	v := decode(`{"list":[{"size":"1"}]}`)
	if !sameArray(v.List, buf) {
		t.Fatal("list within capacity: sonic allocated a new array; the zero-alloc design assumes it reuses")
	}
	if v.List[0].Price != "old" {
		t.Errorf("element decoded in place: Price = %q; sonic is expected to leave an absent key's old value", v.List[0].Price)
	}
}

// TestResetClearsEverything decodes an object that sets every key, then an
// empty one, and checks that nothing of the first survives, on the raw
// struct itself and in the lists' reused arrays.
func TestResetClearsEverything(t *testing.T) {
	d := NewDecoder()
	if _, err := d.Decode(kitchenSink); err != nil {
		t.Fatal(err)
	}
	r := &d.raw
	r.reset()
	if r.EventType != "" || r.AssetID != "" || r.Market != "" || r.Hash != "" || r.Timestamp != (rawTimestamp{}) ||
		r.TickSize != "" || r.LastTradePrice != "" || r.Price != "" || r.Size != "" || r.Side != "" ||
		r.OldTickSize != "" || r.NewTickSize != "" || r.BestBid != "" || r.BestAsk != "" || r.Spread != "" ||
		r.ID != "" || r.Question != "" || r.Slug != "" || r.Active || r.OrderPriceMinTickSize != "" ||
		r.WinningAssetID != "" || r.WinningOutcome != "" || r.EventMessage != (rawEventMessage{}) {
		t.Fatalf("reset left scalar fields: %+v", *r)
	}
	lists := map[string]int{
		"bids": len(r.Bids), "asks": len(r.Asks), "buys": len(r.Buys), "sells": len(r.Sells),
		"price_changes": len(r.PriceChanges), "changes": len(r.Changes),
		"assets_ids": len(r.AssetsIDs), "outcomes": len(r.Outcomes), "tags": len(r.Tags),
	}
	for name, n := range lists {
		if n != 0 {
			t.Errorf("reset left %s with %d elements", name, n)
		}
	}
	// The arrays are kept for reuse, and the elements the decoder will write
	// into must be blank.
	if cap(r.Bids) == 0 || cap(r.PriceChanges) == 0 || cap(r.Tags) == 0 {
		t.Errorf("reset dropped the reused arrays: caps %d %d %d", cap(r.Bids), cap(r.PriceChanges), cap(r.Tags))
	}
	for i, l := range r.Bids[:cap(r.Bids)] {
		if l != (rawLevel{}) {
			t.Errorf("bids array element %d still holds %+v", i, l)
		}
	}
	for i, c := range r.PriceChanges[:cap(r.PriceChanges)] {
		if c != (rawChange{}) {
			t.Errorf("price_changes array element %d still holds %+v", i, c)
		}
	}
	for i, s := range r.Tags[:cap(r.Tags)] {
		if s != "" {
			t.Errorf("tags array element %d still holds %q", i, s)
		}
	}
}

// TestAbsentFieldsDoNotLeak is the end-to-end form: optional fields sent in
// one frame and absent in the next must read as absent.
func TestAbsentFieldsDoNotLeak(t *testing.T) {
	d := NewDecoder()
	steps := []struct {
		frame string
		check func(t *testing.T, ev Event)
	}{
		{`{"event_type":"book","asset_id":"a","hash":"h","tick_size":"0.01","last_trade_price":"0.5","timestamp":"9","bids":[{"price":"0.1","size":"1"},{"price":"0.2","size":"2"}]}`,
			func(t *testing.T, ev Event) {
				if ev.TickSize != fp("0.01") || len(ev.Bids) != 2 {
					t.Fatalf("setup book: %+v", ev)
				}
			}},
		{`{"event_type":"book","asset_id":"b","bids":[{"price":"0.3","size":"3"}]}`,
			func(t *testing.T, ev Event) {
				if ev.Hash != "" || ev.TickSize != 0 || ev.LastTradePrice != 0 || ev.Timestamp != 0 || len(ev.Asks) != 0 || len(ev.Bids) != 1 {
					t.Errorf("second book kept values of the first: %+v", ev)
				}
			}},
		{`{"event_type":"price_change","price_changes":[{"asset_id":"a","price":"0.5","size":"1","side":"BUY","hash":"x","best_bid":"0.5","best_ask":"0.6"},{"asset_id":"b","price":"0.5","size":"1","side":"BUY","best_bid":"0.5","best_ask":"0.6"}]}`,
			func(t *testing.T, ev Event) {
				if len(ev.Changes) != 2 || !ev.Changes[1].HasBest {
					t.Fatalf("setup price_change: %+v", ev)
				}
			}},
		{`{"event_type":"price_change","price_changes":[{"asset_id":"c","price":"0.5","size":"1","side":"SELL"}]}`,
			func(t *testing.T, ev Event) {
				c := ev.Changes[0]
				if len(ev.Changes) != 1 || c.HasBest || c.BestBid != 0 || c.BestAsk != 0 || c.Hash != "" {
					t.Errorf("second price_change kept values of the first: %+v", ev.Changes)
				}
			}},
	}
	for i, st := range steps {
		evs, err := d.Decode([]byte(st.frame))
		if err != nil || len(evs) != 1 {
			t.Fatalf("step %d: %d events, %v", i, len(evs), err)
		}
		st.check(t, evs[0])
	}
	// A level missing its price right after levels that had one must fail,
	// not inherit the previous price from the reused array.
	if _, err := d.Decode([]byte(`{"event_type":"book","asset_id":"a","bids":[{"price":"0.1","size":"1"},{"price":"0.2","size":"2"}]}`)); err != nil {
		t.Fatal(err)
	}
	evs, err := d.Decode([]byte(`{"event_type":"book","asset_id":"a","bids":[{"size":"1"},{"size":"2"}]}`))
	if err == nil || len(evs) != 0 {
		t.Fatalf("levels without price: %d events, err %v; want the stale price to be gone", len(evs), err)
	}
	// Absent list keys after present ones: a price_change must not become a
	// book because the previous frame had bids.
	evs, err = d.Decode([]byte(`{"asset_id":"a","best_bid":"0.1","best_ask":"0.2"}`))
	if err != nil || len(evs) != 1 || evs[0].Kind != KindBestBidAsk {
		t.Fatalf("after a book, a best_bid_ask without event_type decoded as %s", render(evs))
	}
}

func TestReusePresence(t *testing.T) {
	var u reuse[rawLevel]
	if got := u.begin(); got != nil {
		t.Fatalf("first begin = %v; want nil", got)
	}
	if u.end(nil, false) {
		t.Error("nil slice reported present")
	}
	if !u.end([]rawLevel{}, false) {
		t.Error("empty non-nil slice reported absent")
	}
	grown := make([]rawLevel, 3, 8)
	grown[2].Price = "x"
	if !u.end(grown, false) || cap(u.buf) != 8 || u.dirty != 3 {
		t.Fatalf("grown slice not adopted: cap %d dirty %d", cap(u.buf), u.dirty)
	}
	got := u.begin()
	if !sameArray(got, grown) || len(got) != 0 || grown[2].Price != "" {
		t.Fatalf("begin after adopt: same %v len %d stale %q", sameArray(got, grown), len(got), grown[2].Price)
	}
	if u.end(got, false) {
		t.Error("untouched slice reported present")
	}
	if u.end(got, true); u.dirty != 8 {
		t.Errorf("failed decode: dirty = %d; want the whole capacity", u.dirty)
	}
}
