package publish

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/fixed"
)

const (
	goldenAsset  = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
	goldenMarket = "0x5f65177b394277fd294cd75650044e32ba009a95022d88a0c1d565897d72f8f1"
	goldenEpoch  = 1764547200000
)

func env(typ string, seq uint64, ts int64) *envelope {
	return &envelope{typ: typ, asset: goldenAsset, market: goldenMarket, epoch: goldenEpoch, seq: seq, ts: ts}
}

func goldenBook(t *testing.T) *book.Book {
	t.Helper()
	b := book.New(goldenAsset)
	p := fixed.MustParse
	b.ApplySnapshot(
		[]book.Level{{Price: p("0.47"), Size: p("125.5")}, {Price: p(".48"), Size: p("30")}},
		[]book.Level{{Price: p("0.52"), Size: p("25.000")}},
		1764547200123)
	b.SetTickSize(p("0.01"))
	return b
}

// TestGolden: the encoder writes exactly the example messages of
// docs/stream/, which docs/STREAM.md shows; they are valid JSON.
func TestGolden(t *testing.T) {
	p := fixed.MustParse
	b := goldenBook(t)
	bookMsg, _ := appendBook(nil, env(TypeBook, 1, 1764547200123), b, nil)
	if err := b.Set(book.Bid, p("0.49"), p("20")); err != nil {
		t.Fatal(err)
	}
	delta := appendDelta(nil, env(TypeDelta, 2, 1764547200456), book.Bid, p("0.49"), p("20"), b)
	// Removing the only ask empties the side: best_ask is null. The examples
	// form one sequence, so a consumer applying them in seq order stays exact.
	_ = b.Set(book.Ask, p("0.52"), 0)
	emptied := appendDelta(nil, env(TypeDelta, 3, 1764547200457), book.Ask, p("0.52"), 0, b)
	cases := map[string][]byte{
		"book.json":             bookMsg,
		"delta.json":            delta,
		"delta-empty-side.json": emptied,
		"trade.json":            appendTrade(nil, env(TypeTrade, 4, 1764547200789), book.Ask, p("0.49"), p("12.5")),
		"tick.json":             appendTick(nil, env(TypeTick, 5, 1764547201000), p("0.001")),
		"status-stale.json":     appendStatus(nil, env(TypeStatus, 6, 1764547201000), StateStale, reasonLost),
		"status-live.json":      appendStatus(nil, env(TypeStatus, 8, 1764547202000), StateLive, reasonResynced),
		"status-closed.json":    appendStatus(nil, env(TypeStatus, 9, 1764547202000), StateClosed, reasonExpired),
	}
	for name, got := range cases {
		want, err := os.ReadFile(filepath.Join("..", "docs", "stream", name))
		if err != nil {
			t.Fatal(err)
		}
		want = bytes.TrimSpace(want)
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
		var m map[string]any
		if err := json.Unmarshal(got, &m); err != nil {
			t.Errorf("%s: not JSON: %v", name, err)
		}
		if m["v"] != float64(1) || m["type"] == nil || m["epoch"] == nil || m["seq"] == nil {
			t.Errorf("%s: missing envelope fields: %v", name, m)
		}
	}
}

// TestEncodeAllocs: encoding into a buffer of sufficient capacity
// allocates nothing.
func TestEncodeAllocs(t *testing.T) {
	b := goldenBook(t)
	buf := make([]byte, 0, 4096)
	levels := make([]book.Level, 0, 16)
	e := env(TypeBook, 1, 1)
	n := testing.AllocsPerRun(100, func() {
		buf, levels = appendBook(buf[:0], e, b, levels)
		buf = appendDelta(buf[:0], e, book.Bid, 1, 2, b)
	})
	if n != 0 {
		t.Fatalf("encoding allocates %v times per run; want 0", n)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "abc", `a"b\c`, "\x00\x1f\n\t", "\xff", "é\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := appendString(nil, s)
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("appendString(%q) = %s: not a JSON string: %v", s, out, err)
		}
		if utf8.ValidString(s) && got != s {
			t.Fatalf("appendString(%q) decodes to %q", s, got)
		}
	})
}

func FuzzParseMsgID(f *testing.F) {
	for _, s := range []string{"123:1764547200000:7", "a:b:c", "::", "x:1:", ":1:2", "a:b:1:2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		asset, epoch, seq, ok := parseMsgID(id)
		if !ok {
			return
		}
		if back := msgID(asset, epoch, seq); back != id {
			// Numbers may be written differently ("+1", "01"): re-parse.
			a2, e2, s2, ok2 := parseMsgID(back)
			if !ok2 || a2 != asset || e2 != epoch || s2 != seq {
				t.Fatalf("parseMsgID(%q) = %q %d %d; round trip %q", id, asset, epoch, seq, back)
			}
		}
	})
}

func TestCheckPrefix(t *testing.T) {
	for _, ok := range []string{"polyfeed", "pf_2", "A-b"} {
		if err := CheckPrefix(ok); err != nil {
			t.Errorf("CheckPrefix(%q) = %v; want nil", ok, err)
		}
	}
	for _, bad := range []string{"", "a.b", "a b", "a>", "*", "é"} {
		if err := CheckPrefix(bad); err == nil {
			t.Errorf("CheckPrefix(%q) = nil; want an error", bad)
		}
	}
}
