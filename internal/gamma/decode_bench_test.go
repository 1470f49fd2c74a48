package gamma

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/bytedance/sonic"
)

// listingPage is a keyset page of n copies of the captured market, each with
// its own id.
func listingPage(b *testing.B, n int) []byte {
	b.Helper()
	m, err := os.ReadFile("testdata/market.json")
	if err != nil {
		b.Fatal(err)
	}
	var sb strings.Builder
	sb.WriteString(`{"markets":[`)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strings.Replace(string(m), `"id"`, fmt.Sprintf(`"id":"%d","x_id"`, 900000+i), 1))
	}
	sb.WriteString(`],"next_cursor":"abc"}`)
	return []byte(sb.String())
}

// BenchmarkDecodeListing decodes a page of 500 captured-size markets as a
// listing does (the page checked and split, then each market), with sonic
// after encoding/json's check (the default) and with encoding/json alone (the
// baseline: unmarshalChecked then decodes with it too).
func BenchmarkDecodeListing(b *testing.B) {
	page := listingPage(b, 500)
	for _, dec := range []struct {
		name string
		f    func([]byte, any) error
	}{{"sonic", sonic.ConfigStd.Unmarshal}, {"stdlib", json.Unmarshal}} {
		b.Run(dec.name, func(b *testing.B) {
			defer func(old func([]byte, any) error) { unmarshal = old }(unmarshal)
			unmarshal = dec.f
			b.SetBytes(int64(len(page)))
			b.ReportAllocs()
			for b.Loop() {
				items, _, err := parseKeysetPage(page)
				if err != nil || len(items) != 500 {
					b.Fatalf("%d items, %v", len(items), err)
				}
				for _, raw := range items {
					if _, _, err := decodeMarket(raw); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
