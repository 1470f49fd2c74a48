package stream

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/polyfeed/polyfeed/fixed"
)

// TestDecodeGolden pins testdata/v1: inputs consumers must accept that the v1 publisher
// does not write (several changes in one delta, a reason it does not use). The
// publisher's own output is docs/stream/, decoded by TestDecodeDocExamples.
func TestDecodeGolden(t *testing.T) {
	p := fixed.MustParse
	want := map[string]func(m Message) bool{
		"book.json": func(m Message) bool {
			return m.Type == TypeBook && m.Asset == "7124" && m.Market == "0xabc" && m.Epoch == 1764547200000 &&
				m.Seq == 1 && m.TsMs == 1764547200123 && m.Valid && m.TickSize == p("0.01") &&
				len(m.Bids) == 2 && m.Bids[1] == Level{p("0.47"), p("12.5")} &&
				len(m.Asks) == 2 && m.Asks[0] == Level{p("0.52"), p("25")}
		},
		"delta.json": func(m Message) bool {
			return m.Type == TypeDelta && len(m.Changes) == 2 &&
				m.Changes[0] == Change{SideBuy, p("0.49"), p("20")} && m.Changes[1] == Change{SideSell, p("0.52"), 0} &&
				m.HasBestBid && m.BestBid == p("0.49") && m.HasBestAsk && m.BestAsk == p("0.53")
		},
		"delta_empty_side.json": func(m Message) bool {
			return m.Type == TypeDelta && m.HasBestBid && !m.HasBestAsk
		},
		"trade.json": func(m Message) bool {
			return m.Type == TypeTrade && m.Price == p("0.49") && m.Size == p("5") && m.Side == SideSell
		},
		"tick.json":   func(m Message) bool { return m.Type == TypeTick && m.TickSize == p("0.001") },
		"status.json": func(m Message) bool { return m.State == StatusStale && m.Reason == "publish queue overflow" },
	}
	files, _ := filepath.Glob("testdata/v1/*.json")
	if len(files) != len(want) {
		t.Fatalf("found %d golden files, want %d", len(files), len(want))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Decode(data)
		if err != nil {
			t.Errorf("Decode(%s) error: %v", f, err)
			continue
		}
		if !want[filepath.Base(f)](m) {
			t.Errorf("Decode(%s) = %+v", f, m)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	const head = `"v":1,"asset_id":"a","market":"m","epoch":5,"seq":1,"ts_ms":1,`
	cases := map[string]string{
		"not json":        `{`,
		"version 2":       `{"v":2,"type":"tick","asset_id":"a","market":"m","epoch":5,"seq":1,"ts_ms":1,"tick_size":"0.01"}`,
		"no v":            `{"type":"tick","asset_id":"a","market":"m","epoch":5,"seq":1,"ts_ms":1,"tick_size":"0.01"}`,
		"no market":       `{"v":1,"type":"tick","asset_id":"a","epoch":5,"seq":1,"ts_ms":1,"tick_size":"0.01"}`,
		"epoch too big":   `{"v":1,"type":"tick","asset_id":"a","market":"m","epoch":9007199254740992,"seq":1,"ts_ms":1,"tick_size":"0.01"}`,
		"float epoch":     `{"v":1,"type":"tick","asset_id":"a","market":"m","epoch":5.5,"seq":1,"ts_ms":1,"tick_size":"0.01"}`,
		"string seq":      `{"v":1,"type":"tick","asset_id":"a","market":"m","epoch":5,"seq":"1","ts_ms":1,"tick_size":"0.01"}`,
		"seq zero":        `{"v":1,"type":"tick","asset_id":"a","market":"m","epoch":5,"seq":0,"ts_ms":1,"tick_size":"0.01"}`,
		"unknown type":    `{` + head + `"type":"quote"}`,
		"book unordered":  `{` + head + `"type":"book","bids":[["0.4","1"],["0.5","1"]],"asks":[],"tick_size":"0.01","valid":true}`,
		"book dup":        `{` + head + `"type":"book","bids":[],"asks":[["0.5","1"],["0.5","2"]],"tick_size":"0.01","valid":true}`,
		"book zero size":  `{` + head + `"type":"book","bids":[["0.5","0"]],"asks":[],"tick_size":"0.01","valid":true}`,
		"book no valid":   `{` + head + `"type":"book","bids":[],"asks":[],"tick_size":"0.01"}`,
		"book number":     `{` + head + `"type":"book","bids":[[0.5,1]],"asks":[],"tick_size":"0.01","valid":true}`,
		"book 7 decimals": `{` + head + `"type":"book","bids":[["0.5000001","1"]],"asks":[],"tick_size":"0.01","valid":true}`,
		"delta side":      `{` + head + `"type":"delta","changes":[["BID","0.5","1"]],"best_bid":"0.5","best_ask":null}`,
		"delta no best":   `{` + head + `"type":"delta","changes":[["BUY","0.5","1"]],"best_bid":"0.5"}`,
		"delta negative":  `{` + head + `"type":"delta","changes":[["BUY","0.5","-1"]],"best_bid":null,"best_ask":null}`,
		"delta best num":  `{` + head + `"type":"delta","changes":[],"best_bid":0.5,"best_ask":null}`,
		"trade side":      `{` + head + `"type":"trade","price":"0.5","size":"1","side":"buy"}`,
		"status state":    `{` + head + `"type":"status","state":"open"}`,
		"empty asset":     `{"v":1,"type":"tick","asset_id":"","market":"m","epoch":5,"seq":1,"ts_ms":1,"tick_size":"0.01"}`,
	}
	for name, in := range cases {
		if m, err := Decode([]byte(in)); err == nil {
			t.Errorf("%s: Decode(%s) = %+v, want an error", name, in, m)
		} else if !strings.HasPrefix(err.Error(), "cannot decode message: ") {
			t.Errorf("%s: error %q lacks context", name, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/v1/*.json")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"v":1,"type":"delta","asset_id":"a","market":"m","epoch":1,"seq":1,"ts_ms":1,"changes":[["BUY","1e3","1"]],"best_bid":null,"best_ask":null}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"v":1,"type":"book","asset_id":"a","market":"m","epoch":1,"seq":1,"ts_ms":1,"bids":[["0.5"]],"asks":null,"tick_size":"0.01","valid":true}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			return
		}
		// Whatever decodes must satisfy the contract's invariants.
		if m.Epoch < 1 || m.Epoch > maxEpoch || m.Seq < 1 || m.Asset == "" {
			t.Fatalf("decoded out-of-contract header %+v", m)
		}
		for i := 1; i < len(m.Bids); i++ {
			if m.Bids[i].Price >= m.Bids[i-1].Price {
				t.Fatalf("bids not descending: %v", m.Bids)
			}
		}
		for i := 1; i < len(m.Asks); i++ {
			if m.Asks[i].Price <= m.Asks[i-1].Price {
				t.Fatalf("asks not ascending: %v", m.Asks)
			}
		}
		for _, l := range append(m.Bids, m.Asks...) {
			if l.Price <= 0 || l.Size <= 0 {
				t.Fatalf("non-positive level %v", l)
			}
		}
		for _, c := range m.Changes {
			if c.Size < 0 || c.Price <= 0 || c.Side != SideBuy && c.Side != SideSell {
				t.Fatalf("bad change %v", c)
			}
		}
		// Applying a decoded book and its changes never breaks the book's order.
		var b Book
		b.reset(&m)
		for _, c := range m.Changes {
			b.apply(c)
		}
		for i := 1; i < len(b.bids); i++ {
			if b.bids[i].Price >= b.bids[i-1].Price {
				t.Fatalf("book bids out of order after changes: %v", b.bids)
			}
		}
	})
}

// TestDecodeDocExamples decodes the publisher's documented examples (docs/stream/*.json,
// byte for byte what it writes) and applies the book and the deltas among them: both
// sides reading the same documents is what keeps them on one contract.
func TestDecodeDocExamples(t *testing.T) {
	files, _ := filepath.Glob("../docs/stream/*.json")
	if len(files) != 8 {
		t.Fatalf("found %d examples in docs/stream/, want 8", len(files))
	}
	var c counters
	tr := newTracker(&c, 0)
	tr.live = true
	msgs := map[int64]Message{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Decode(data)
		if err != nil {
			t.Errorf("Decode(%s): %v", f, err)
			continue
		}
		if want := strings.TrimSuffix(filepath.Base(f), ".json"); !strings.HasPrefix(want, m.Type) {
			t.Errorf("%s decodes as type %q", f, m.Type)
		}
		msgs[m.Seq] = m
	}
	// In seq order up to the first hole: every example after the book applies on top.
	for seq := int64(1); ; seq++ {
		m, ok := msgs[seq]
		if !ok {
			break
		}
		before := c.mismatches.Load()
		tr.handle(&m, time.Unix(0, 0))
		if c.mismatches.Load() != before {
			t.Errorf("example seq %d (%s): its best_bid/best_ask disagree with the book the examples before it build", seq, m.Type)
		}
	}
	if c.applied.Load() < 2 || c.gaps.Load() != 0 {
		t.Errorf("applying the examples: applied %d, gaps %d", c.applied.Load(), c.gaps.Load())
	}
}

// FuzzDecodeMatchesStdlib holds Decode (sonic) to what encoding/json makes of the
// same bytes: both reject, or both accept with the same Message. Input that is not
// valid UTF-8 is left out: encoding/json replaces bad bytes, sonic's checked
// strings reject them, and the contract's JSON is UTF-8.
func FuzzDecodeMatchesStdlib(f *testing.F) {
	files, _ := filepath.Glob("testdata/v1/*.json")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"V":1,"TYPE":"tick","asset_id":"a","market":"m","epoch":1,"seq":1,"ts_ms":1,"tick_size":"0.01"}`))
	f.Add([]byte(`{"v":1,"type":"tick","asset_id":"a","asset_id":"b","market":"m","epoch":1,"seq":1,"ts_ms":1,"tick_size":"0.01"}`))
	f.Add([]byte(`{"v":1,"type":"delta","asset_id":"a\u00e9","market":"m","epoch":1,"seq":1,"ts_ms":1,"changes":[],"best_bid":null,"best_ask":"0.5"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if !utf8.Valid(data) {
			return
		}
		got, gotErr := Decode(data)
		want, wantErr := decodeWith(json.Unmarshal, data)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("Decode(%q): error %v; encoding/json: %v", data, gotErr, wantErr)
		}
		if gotErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("Decode(%q) = %+v; encoding/json: %+v", data, got, want)
		}
	})
}
