package wire

import "testing"

// TestDecodeAllocs pins the hot path at zero allocations per frame once the
// decoder's buffers have grown (steady state).
func TestDecodeAllocs(t *testing.T) {
	skipUnderRace(t)
	cases := []struct {
		name   string
		frame  []byte
		events int
	}{
		{"price_change", priceChangeFrame, 1},
		{"legacy price_change", []byte(`{"event_type":"price_change","asset_id":"` + assetA + `","market":"` + marketA + `","hash":"h","changes":[{"price":"0.5","side":"BUY","size":"10"},{"price":"0.6","side":"SELL","size":"0"}],"timestamp":"3"}`), 1},
		{"book 20 levels a side", bookFrame(assetA, 20), 1},
		{"book without event_type", []byte(`{"asset_id":"` + assetA + `","market":"` + marketA + `","buys":[{"price":"0.5","size":"1"}],"sells":[],"timestamp":"1"}`), 1},
		{"array of 100 books", dumpFrame(100, 10), 100},
		{"last_trade_price", []byte(`{"event_type":"last_trade_price","asset_id":"` + assetA + `","market":"` + marketA + `","price":"0.51","side":"BUY","size":"25.0","timestamp":"1703875202000"}`), 1},
		{"tick_size_change", []byte(`{"asset_id":"` + assetA + `","new_tick_size":"0.001","old_tick_size":"0.01","timestamp":"1"}`), 1},
		{"best_bid_ask", []byte(`{"event_type":"best_bid_ask","asset_id":"` + assetA + `","best_bid":"0.73","best_ask":"0.77","spread":"0.04","timestamp":1766789469958}`), 1},
		{"market_resolved", []byte(`{"event_type":"market_resolved","id":"7","market":"m","assets_ids":["1","2"],"winning_asset_id":"1","winning_outcome":"Yes","timestamp":"15","tags":["a"]}`), 1},
		{"pong", []byte("PONG"), 0},
		{"known unknown type", []byte(`{"event_type":"something_new","x":1}`), 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder()
			if evs, err := d.Decode(tc.frame); err != nil || len(evs) != tc.events {
				t.Fatalf("warm-up: %d events, %v; want %d", len(evs), err, tc.events)
			}
			n := testing.AllocsPerRun(100, func() {
				if evs, err := d.Decode(tc.frame); err != nil || len(evs) != tc.events {
					t.Fatalf("%d events, %v", len(evs), err)
				}
			})
			if n != 0 {
				t.Errorf("Decode(%s) allocates %v times per frame; want 0", tc.name, n)
			}
		})
	}
}

// TestDecodeAllocsInterleaved alternates shapes on one decoder, as the router
// sees them: buffers sized by one shape must serve the others.
func TestDecodeAllocsInterleaved(t *testing.T) {
	skipUnderRace(t)
	frames := [][]byte{dumpFrame(20, 5), priceChangeFrame, bookFrame(assetB, 20), priceChangeFrame}
	d := NewDecoder()
	for _, f := range frames {
		if _, err := d.Decode(f); err != nil {
			t.Fatal(err)
		}
	}
	n := testing.AllocsPerRun(50, func() {
		for _, f := range frames {
			if _, err := d.Decode(f); err != nil {
				t.Fatal(err)
			}
		}
	})
	if n != 0 {
		t.Errorf("interleaved frames allocate %v times per round; want 0", n)
	}
}

func skipUnderRace(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race (sync.Pool drops items on purpose)")
	}
}
