package wire

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode feeds arbitrary frames to Decode. Properties: it never panics;
// every event has a known kind and the fields that kind requires; decoding
// is deterministic, both on repeat and on a decoder whose buffers hold the
// previous frame's data (reset correctness); Malformed grows exactly when an
// error is returned.
func FuzzDecode(f *testing.F) {
	seeds := [][]byte{priceChangeFrame, bookFrame(assetA, 3), dumpFrame(3, 2), kitchenSink, []byte("PONG"), []byte("[]"), []byte("")}
	for _, tc := range decodeCases {
		seeds = append(seeds, []byte(tc.frame))
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "ws", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	for i, s := range seeds {
		f.Add(s, seeds[(i+1)%len(seeds)])
	}

	f.Fuzz(func(t *testing.T, frame, previous []byte) {
		d := NewDecoder()
		evs, err := d.Decode(frame)
		checkEvents(t, evs)
		first, firstErr := cloneEvents(evs), errString(err)
		if s := d.Stats(); (err != nil) != (s.Malformed > 0) {
			t.Fatalf("err = %v but Malformed = %d", err, s.Malformed)
		}

		evs, err = d.Decode(frame)
		if diff := diffEvents(evs, first); diff != "" || errString(err) != firstErr {
			t.Fatalf("second decode differs: %s\nerr %q vs %q", diff, errString(err), firstErr)
		}

		d2 := NewDecoder()
		_, _ = d2.Decode(previous)
		evs, err = d2.Decode(frame)
		if diff := diffEvents(evs, first); diff != "" || errString(err) != firstErr {
			t.Fatalf("decode after %q differs: %s\nerr %q vs %q", previous, diff, errString(err), firstErr)
		}
	})
}

// checkEvents asserts what every returned event guarantees.
func checkEvents(t *testing.T, evs []Event) {
	t.Helper()
	for i, ev := range evs {
		switch ev.Kind {
		case KindBook, KindLastTrade, KindTickSize, KindBestBidAsk:
			if ev.AssetID == "" {
				t.Fatalf("event %d (%s) without asset id", i, ev.Kind)
			}
		case KindPriceChange:
			for _, c := range ev.Changes {
				if c.AssetID == "" || (c.Side != SideBuy && c.Side != SideSell) || c.Price < 0 || c.Size < 0 {
					t.Fatalf("event %d: bad change %+v", i, c)
				}
			}
		case KindNewMarket, KindMarketResolved:
			if ev.Info == nil || ev.Info.Market == "" {
				t.Fatalf("event %d (%s) without market info", i, ev.Kind)
			}
		default:
			t.Fatalf("event %d has kind %d", i, ev.Kind)
		}
		if ev.Kind == KindLastTrade && ev.Side != SideBuy && ev.Side != SideSell {
			t.Fatalf("event %d: trade side %d", i, ev.Side)
		}
		for _, l := range append(ev.Bids[:len(ev.Bids):len(ev.Bids)], ev.Asks...) {
			if l.Price < 0 || l.Size < 0 {
				t.Fatalf("event %d: negative level %+v", i, l)
			}
		}
	}
}
