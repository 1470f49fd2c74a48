package wire

import (
	"fmt"
	"reflect"
	"testing"
)

func TestStats(t *testing.T) {
	d := NewDecoder()
	frames := []string{
		"PONG",
		string(priceChangeFrame),
		`{"event_type":"price_change","asset_id":"a","changes":[{"price":"0.5","side":"BUY","size":"1"}]}`,
		`[{"asset_id":"a","bids":[]},{"asset_id":"b","bids":[]},{"event_type":"mystery"},{"event_type":"mystery"},{"x":1}]`,
		`{"event_type":"last_trade_price","asset_id":"a","price":"0.5","side":"BUY","size":"1","timestamp":12}`,
		`{"event_type":"tick_size_change","asset_id":"a","new_tick_size":"0.01"}`,
		`{"event_type":"best_bid_ask","asset_id":"a","best_bid":"0.1","best_ask":"0.2"}`,
		`{"event_type":"new_market","market":"m"}`,
		`{"event_type":"market_resolved","market":"m"}`,
		`not json`,
		`[{"event_type":"book","asset_id":"a","bids":[{"price":"x","size":"1"}]},{"asset_id":"a","bids":[]}]`,
	}
	for _, f := range frames {
		_, _ = d.Decode([]byte(f))
	}
	s := d.Stats()
	want := DecoderStats{
		Frames: uint64(len(frames)), Pongs: 1,
		Events: [KindCount]uint64{KindBook: 3, KindPriceChange: 2, KindLastTrade: 1, KindTickSize: 1,
			KindBestBidAsk: 1, KindNewMarket: 1, KindMarketResolved: 1},
		Legacy: 1, Unknown: 3, Malformed: 2, NumericTimestamps: 1,
	}
	got := s
	got.UnknownTypes = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Stats() =\n %+v\nwant\n %+v", got, want)
	}
	if s.UnknownTypes["mystery"] != 2 || s.UnknownTypes[""] != 1 || len(s.UnknownTypes) != 2 {
		t.Errorf("UnknownTypes = %v; want mystery:2 and \"\":1", s.UnknownTypes)
	}
	// Stats returns a copy.
	s.UnknownTypes["mystery"] = 100
	if d.Stats().UnknownTypes["mystery"] != 2 {
		t.Error("Stats shares its map with the decoder")
	}
}

func TestStatsUnknownTypesBounded(t *testing.T) {
	d := NewDecoder()
	for i := 0; i < 3*MaxUnknownTypes; i++ {
		if _, err := d.Decode([]byte(fmt.Sprintf(`{"event_type":"type_%d_%0200d"}`, i, 0))); err != nil {
			t.Fatal(err)
		}
	}
	s := d.Stats()
	if len(s.UnknownTypes) != MaxUnknownTypes+1 {
		t.Errorf("UnknownTypes holds %d names; want %d plus %q", len(s.UnknownTypes), MaxUnknownTypes, unknownOther)
	}
	if got := s.UnknownTypes[unknownOther]; got != 2*MaxUnknownTypes {
		t.Errorf("%s = %d; want %d", unknownOther, got, 2*MaxUnknownTypes)
	}
	var sum uint64
	for name, n := range s.UnknownTypes {
		if len(name) > maxTypeName {
			t.Errorf("stored a %d-byte name", len(name))
		}
		sum += n
	}
	if sum != s.Unknown || s.Unknown != 3*MaxUnknownTypes {
		t.Errorf("sum of UnknownTypes = %d, Unknown = %d; want both %d", sum, s.Unknown, 3*MaxUnknownTypes)
	}
}

// TestStatsUnknownTypeKeysOwnTheirBytes pins issue 12 defect 11 (last item):
// /stats unknown_event_types showed keys that were fragments of later frames.
// The stored event_type name must not point into a frame buffer the reader
// reuses for the next frame, neither when the name is first stored nor when
// it is counted again (a Go map assignment to an existing string key stores
// the new key value, so the key written last is the one kept).
func TestStatsUnknownTypeKeysOwnTheirBytes(t *testing.T) {
	d := NewDecoder()
	buf := make([]byte, 0, 256)
	frame := `{"event_type":"mystery_event","timestamp":"1"}`
	for want := uint64(1); want <= 3; want++ {
		buf = append(buf[:0], frame...)
		if _, err := d.Decode(buf); err != nil {
			t.Fatal(err)
		}
		// The reader reuses its buffer: the next frame overwrites the bytes
		// the name was read from.
		buf = append(buf[:0], `{"event_type":"price_change","market":"0x30005.9"},{"price":"0.5"}`...)
		got := d.Stats().UnknownTypes
		if got["mystery_event"] != want || len(got) != 1 {
			t.Fatalf("after frame %d and an overwrite of its buffer, UnknownTypes = %q; want only mystery_event:%d", want, keys(got), want)
		}
	}
}

func keys(m map[string]uint64) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s:%d", k, v))
	}
	return out
}
