package wire

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/polyfeed/polyfeed/fixed"
)

// Ids as the venue sends them: 77-digit token ids, 0x+64 hex condition ids.
const (
	assetA  = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
	assetB  = "52114319501245915516055106046884209969926127482827954674443846427813813222426"
	marketA = "0xdd22472e552920b8438158ea7238bfadfa4f736aa4cee91a6b86c39ead110917"
	marketN = "0x311d0c4b6671ab54af4970c06fcf58662516f5168997bdda209ec3db5aa6b0c1"
)

func fp(s string) fixed.Point { return fixed.MustParse(s) }

// bookFrame builds a book snapshot with n levels a side, prices on a 0.001
// grid, in the venue's order (bids ascending, asks descending).
func bookFrame(asset string, n int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"event_type":"book","asset_id":"%s","market":"%s","bids":[`, asset, marketA)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"price":"0.%03d","size":"%d.5"}`, 400+i, 100+7*i)
	}
	b.WriteString(`],"asks":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"price":"0.%03d","size":"%d.25"}`, 600-i, 200+3*i)
	}
	b.WriteString(`],"timestamp":"1703875200000","hash":"0123456789abcdef0123456789abcdef01234567"}`)
	return []byte(b.String())
}

// dumpFrame builds an initial-dump array of n books with `levels` a side.
func dumpFrame(n, levels int) []byte {
	var b strings.Builder
	b.WriteByte('[')
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		asset := fmt.Sprintf("%077d", i+1)
		b.Write(bookFrame(asset, levels))
	}
	b.WriteByte(']')
	return []byte(b.String())
}

var priceChangeFrame = []byte(`{"event_type":"price_change","market":"` + marketA + `","price_changes":[{"asset_id":"` + assetA + `","price":"0.51","side":"BUY","size":"150.0","hash":"0xhash001","best_bid":"0.51","best_ask":"0.52"},{"asset_id":"` + assetB + `","price":"0.49","side":"SELL","size":"100.0","hash":"0xhash002","best_bid":"0.48","best_ask":"0.49"}],"timestamp":"1703875201000"}`)

// kitchenSink sets every key of every kind, with long lists, so a decoder
// that used it afterwards holds stale values everywhere if reset is wrong.
var kitchenSink = []byte(`[` +
	`{"event_type":"book","asset_id":"STALE","market":"STALE","hash":"STALE","tick_size":"0.001","last_trade_price":"0.77","timestamp":"999",` +
	`"bids":[{"price":"0.11","size":"1"},{"price":"0.12","size":"2"},{"price":"0.13","size":"3"},{"price":"0.14","size":"4"}],` +
	`"asks":[{"price":"0.91","size":"1"},{"price":"0.92","size":"2"},{"price":"0.93","size":"3"}],` +
	`"buys":[{"price":"0.21","size":"1"},{"price":"0.22","size":"2"}],"sells":[{"price":"0.81","size":"1"},{"price":"0.82","size":"2"}],` +
	`"price_changes":[{"asset_id":"STALE","price":"0.3","size":"3","side":"BUY","hash":"STALE","best_bid":"0.3","best_ask":"0.4"},{"asset_id":"STALE2","price":"0.3","size":"3","side":"SELL","hash":"STALE","best_bid":"0.3","best_ask":"0.4"},{"asset_id":"STALE3","price":"0.3","size":"3","side":"SELL","hash":"STALE","best_bid":"0.3","best_ask":"0.4"}],` +
	`"changes":[{"price":"0.3","size":"3","side":"BUY"},{"price":"0.3","size":"3","side":"BUY"},{"price":"0.3","size":"3","side":"BUY"}],` +
	`"price":"0.66","size":"6","side":"SELL","old_tick_size":"0.1","new_tick_size":"0.01","best_bid":"0.1","best_ask":"0.2","spread":"0.1",` +
	`"id":"STALE","question":"STALE","slug":"STALE","assets_ids":["S1","S2","S3"],"outcomes":["S1","S2","S3"],"tags":["S1","S2","S3"],"active":true,` +
	`"order_price_min_tick_size":"0.001","winning_asset_id":"STALE","winning_outcome":"STALE","event_message":{"id":"STALE","slug":"STALE","title":"STALE"}},` +
	`{"event_type":"price_change","market":"STALE","price_changes":[{"asset_id":"STALE","price":"0.3","size":"3","side":"BUY","hash":"STALE","best_bid":"0.3","best_ask":"0.4"},{"asset_id":"STALE","price":"0.3","size":"3","side":"BUY","hash":"STALE","best_bid":"0.3","best_ask":"0.4"},{"asset_id":"STALE","price":"0.3","size":"3","side":"BUY","hash":"STALE","best_bid":"0.3","best_ask":"0.4"},{"asset_id":"STALE","price":"0.3","size":"3","side":"BUY","hash":"STALE","best_bid":"0.3","best_ask":"0.4"},{"asset_id":"STALE","price":"0.3","size":"3","side":"BUY","hash":"STALE","best_bid":"0.3","best_ask":"0.4"}],"timestamp":"999"},` +
	`{"event_type":"new_market","id":"STALE","market":"STALE","question":"STALE","slug":"STALE","assets_ids":["S1","S2","S3","S4"],"outcomes":["S1","S2","S3","S4"],"tags":["S1","S2","S3","S4"],"active":true,"order_price_min_tick_size":"0.001","event_message":{"id":"STALE","slug":"STALE","title":"STALE"},"timestamp":"999"}` +
	`]`)

// dirtyDecoder returns a decoder that has already decoded kitchenSink and
// a deep book, so stale state would show up in whatever it decodes next.
func dirtyDecoder(t testing.TB) *Decoder {
	t.Helper()
	d := NewDecoder()
	if _, err := d.Decode(bookFrame(assetB, 50)); err != nil {
		t.Fatal(err)
	}
	if evs, err := d.Decode(kitchenSink); err != nil || len(evs) != 3 {
		t.Fatalf("kitchen sink: %d events, %v", len(evs), err)
	}
	return d
}

// cloneEvents deep-copies events so they survive the next Decode; empty
// slices become nil so comparisons do not depend on how emptiness is stored.
func cloneEvents(evs []Event) []Event {
	if len(evs) == 0 {
		return nil
	}
	out := make([]Event, len(evs))
	for i, ev := range evs {
		ev.AssetID = strings.Clone(ev.AssetID)
		ev.Market = strings.Clone(ev.Market)
		ev.Hash = strings.Clone(ev.Hash)
		ev.Bids = cloneSlice(ev.Bids)
		ev.Asks = cloneSlice(ev.Asks)
		ev.Changes = cloneSlice(ev.Changes)
		for j := range ev.Changes {
			ev.Changes[j].AssetID = strings.Clone(ev.Changes[j].AssetID)
			ev.Changes[j].Hash = strings.Clone(ev.Changes[j].Hash)
		}
		if ev.Info != nil {
			info := *ev.Info
			info.AssetIDs = cloneSlice(info.AssetIDs)
			info.Outcomes = cloneSlice(info.Outcomes)
			info.Tags = cloneSlice(info.Tags)
			ev.Info = &info
		}
		out[i] = ev
	}
	return out
}

func cloneSlice[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return append([]T(nil), s...)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// diffEvents reports the first difference between two event lists.
func diffEvents(got, want []Event) string {
	got, want = cloneEvents(got), cloneEvents(want)
	if len(got) != len(want) {
		return fmt.Sprintf("got %d events, want %d:\n got  %s\n want %s", len(got), len(want), render(got), render(want))
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], want[i]) {
			return fmt.Sprintf("event %d:\n got  %s\n want %s", i, render(got[i:i+1]), render(want[i:i+1]))
		}
	}
	return ""
}

func render(evs []Event) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "%+v", ev)
		if ev.Info != nil {
			fmt.Fprintf(&b, " info=%+v", *ev.Info)
		}
		b.WriteString("; ")
	}
	return b.String()
}
