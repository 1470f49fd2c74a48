package wire

import (
	"errors"
	"strings"
	"testing"

	"github.com/polyfeed/polyfeed/fixed"
)

type decodeCase struct {
	name    string
	frame   string
	want    []Event
	errs    []string // substrings the error must contain; none means err == nil
	is      error    // a cause the error must wrap, when set
	unknown uint64   // objects expected to be skipped as unknown
}

var decodeCases = []decodeCase{
	// book
	{
		name:  "book object",
		frame: `{"event_type":"book","asset_id":"` + assetA + `","market":"` + marketA + `","bids":[{"price":"0.50","size":"200.0"},{"price":"0.49","size":"350.0"}],"asks":[{"price":"0.51","size":"150.0"}],"timestamp":"1703875200000","hash":"abc","tick_size":"0.01","last_trade_price":"0.505"}`,
		want: []Event{{Kind: KindBook, AssetID: assetA, Market: marketA, Hash: "abc", Timestamp: 1703875200000,
			Bids:     []Level{{fp("0.5"), fp("200")}, {fp("0.49"), fp("350")}},
			Asks:     []Level{{fp("0.51"), fp("150")}},
			TickSize: fp("0.01"), LastTradePrice: fp("0.505")}},
	},
	{
		name:  "book without event_type",
		frame: `{"asset_id":"a","market":"m","bids":[{"price":".48","size":"1"}],"asks":[{"price":".52","size":"2"}],"timestamp":"5"}`,
		want:  []Event{{Kind: KindBook, AssetID: "a", Market: "m", Timestamp: 5, Bids: []Level{{fp("0.48"), fp("1")}}, Asks: []Level{{fp("0.52"), fp("2")}}}},
	},
	{
		name:  "book buys sells without event_type",
		frame: `{"asset_id":"a","buys":[{"price":"0.1","size":"1"}],"sells":[{"price":"0.9","size":"2"},{"price":"0.8","size":"3"}]}`,
		want:  []Event{{Kind: KindBook, AssetID: "a", Bids: []Level{{fp("0.1"), fp("1")}}, Asks: []Level{{fp("0.9"), fp("2")}, {fp("0.8"), fp("3")}}}},
	},
	{
		name:  "book buys sells with event_type",
		frame: `{"event_type":"book","asset_id":"a","buys":[{"price":"0.1","size":"1"}],"sells":[]}`,
		want:  []Event{{Kind: KindBook, AssetID: "a", Bids: []Level{{fp("0.1"), fp("1")}}}},
	},
	{
		name:  "book with empty sides and no event_type",
		frame: `{"asset_id":"a","market":"m","bids":[],"asks":[],"timestamp":"7"}`,
		want:  []Event{{Kind: KindBook, AssetID: "a", Market: "m", Timestamp: 7}},
	},
	{
		name:  "book with one side",
		frame: `{"event_type":"book","asset_id":"a","asks":[{"price":"0.9","size":"2"}]}`,
		want:  []Event{{Kind: KindBook, AssetID: "a", Asks: []Level{{fp("0.9"), fp("2")}}}},
	},
	{
		name:  "bids win over buys when both sent",
		frame: `{"asset_id":"a","bids":[{"price":"0.2","size":"1"}],"buys":[{"price":"0.1","size":"1"}]}`,
		want:  []Event{{Kind: KindBook, AssetID: "a", Bids: []Level{{fp("0.2"), fp("1")}}}},
	},
	{
		name:  "book without sides",
		frame: `{"event_type":"book","asset_id":"a","timestamp":"1"}`,
		errs:  []string{"cannot decode book: bids: missing"},
		is:    ErrMissing,
	},
	{
		name:  "book without asset_id",
		frame: `{"event_type":"book","bids":[]}`,
		errs:  []string{"cannot decode book: asset_id: missing"},
		is:    ErrMissing,
	},
	{
		name:  "book level without price",
		frame: `{"event_type":"book","asset_id":"a","bids":[{"price":"0.1","size":"1"},{"size":"1"}]}`,
		errs:  []string{`cannot decode book: bids[1].price "": empty number`},
		is:    fixed.ErrEmpty,
	},
	{
		name:  "book level with number price",
		frame: `{"event_type":"book","asset_id":"a","bids":[{"price":0.1,"size":"1"}]}`,
		errs:  []string{"cannot decode book: price at offset 53: wrong JSON type: got number, want string"},
		is:    ErrWrongType,
	},
	{
		name:  "book sides not arrays",
		frame: `{"event_type":"book","asset_id":"a","bids":"none"}`,
		errs:  []string{"bids at offset 43: wrong JSON type: got string, want array"},
		is:    ErrWrongType,
	},
	{
		name:  "book negative size",
		frame: `{"event_type":"book","asset_id":"a","asks":[{"price":"0.1","size":"-1"}]}`,
		errs:  []string{`asks[0].size "-1": negative`},
		is:    ErrNegative,
	},
	{
		name:  "book bad tick size",
		frame: `{"event_type":"book","asset_id":"a","bids":[],"tick_size":"0.0.1"}`,
		errs:  []string{`tick_size "0.0.1": not a decimal number`},
		is:    fixed.ErrSyntax,
	},

	// price_change
	{
		name:  "price_change two assets",
		frame: string(priceChangeFrame),
		want: []Event{{Kind: KindPriceChange, Market: marketA, Timestamp: 1703875201000, Changes: []PriceChange{
			{AssetID: assetA, Price: fp("0.51"), Size: fp("150"), Side: SideBuy, Hash: "0xhash001", BestBid: fp("0.51"), BestAsk: fp("0.52"), HasBest: true},
			{AssetID: assetB, Price: fp("0.49"), Size: fp("100"), Side: SideSell, Hash: "0xhash002", BestBid: fp("0.48"), BestAsk: fp("0.49"), HasBest: true},
		}}},
	},
	{
		name:  "price_change without event_type and without best",
		frame: `{"market":"m","price_changes":[{"asset_id":"a","price":"0.5","size":"0","side":"sell"}],"timestamp":"9"}`,
		want:  []Event{{Kind: KindPriceChange, Market: "m", Timestamp: 9, Changes: []PriceChange{{AssetID: "a", Price: fp("0.5"), Side: SideSell}}}},
	},
	{
		name:  "price_change with one best side",
		frame: `{"event_type":"price_change","price_changes":[{"asset_id":"a","price":"0.5","size":"1","side":"Buy","best_bid":"0.5"}]}`,
		want:  []Event{{Kind: KindPriceChange, Changes: []PriceChange{{AssetID: "a", Price: fp("0.5"), Size: fp("1"), Side: SideBuy, BestBid: fp("0.5"), HasBest: true}}}},
	},
	{
		name:  "price_change legacy",
		frame: `{"event_type":"price_change","asset_id":"a","market":"m","hash":"h","changes":[{"price":"0.5","side":"BUY","size":"10"},{"price":"0.6","side":"SELL","size":"0"}],"timestamp":"3"}`,
		want: []Event{{Kind: KindPriceChange, Legacy: true, Market: "m", Hash: "h", Timestamp: 3, Changes: []PriceChange{
			{AssetID: "a", Price: fp("0.5"), Size: fp("10"), Side: SideBuy, Hash: "h"},
			{AssetID: "a", Price: fp("0.6"), Side: SideSell, Hash: "h"},
		}}},
	},
	{
		name:  "price_change legacy without event_type",
		frame: `{"asset_id":"a","hash":"h","changes":[{"price":"0.5","side":"BUY","size":"10"}]}`,
		want:  []Event{{Kind: KindPriceChange, Legacy: true, Hash: "h", Changes: []PriceChange{{AssetID: "a", Price: fp("0.5"), Size: fp("10"), Side: SideBuy, Hash: "h"}}}},
	},
	{
		name:  "price_change legacy without asset_id",
		frame: `{"event_type":"price_change","changes":[{"price":"0.5","side":"BUY","size":"10"}]}`,
		errs:  []string{"cannot decode price_change: asset_id: missing"},
		is:    ErrMissing,
	},
	{
		name:  "price_change empty list",
		frame: `{"event_type":"price_change","market":"m","price_changes":[],"timestamp":"4"}`,
		want:  []Event{{Kind: KindPriceChange, Market: "m", Timestamp: 4}},
	},
	{
		name:  "price_change without changes",
		frame: `{"event_type":"price_change","market":"m"}`,
		errs:  []string{"price_changes: missing"},
		is:    ErrMissing,
	},
	{
		name:  "price_change bad element keeps the others",
		frame: `{"event_type":"price_change","market":"m","price_changes":[{"asset_id":"a","price":"0.5","size":"1","side":"BUY"},{"asset_id":"b","price":"0.5","size":"1e5","side":"BUY"}]}`,
		want:  []Event{{Kind: KindPriceChange, Market: "m", Changes: []PriceChange{{AssetID: "a", Price: fp("0.5"), Size: fp("1"), Side: SideBuy}}}},
		errs:  []string{`cannot decode price_change: price_changes[1].size "1e5": not a decimal number`},
		is:    fixed.ErrSyntax,
	},
	{
		name:  "price_change every element bad",
		frame: `{"event_type":"price_change","market":"m","price_changes":[{"asset_id":"a","price":"0.5","size":"1","side":"HOLD"},{"price":"0.5","size":"1","side":"BUY"}]}`,
		errs:  []string{`price_changes[0].side "HOLD": not BUY or SELL`, "price_changes[1].asset_id: missing"},
		is:    ErrSide,
	},
	{
		name:  "price_change absurd numbers",
		frame: `{"event_type":"price_change","price_changes":[{"asset_id":"a","price":"0.0000001","size":"1","side":"BUY"},{"asset_id":"a","price":"0.5","size":"99999999999999999999","side":"BUY"},{"asset_id":"a","price":"NaN","size":"1","side":"BUY"},{"asset_id":"a","price":"0.5","size":"1","side":"BUY","best_ask":"Infinity"}]}`,
		errs: []string{`price_changes[0].price "0.0000001": more than 6 significant decimals`,
			`price_changes[1].size "99999999999999999999": number out of range`,
			`price_changes[2].price "NaN": not a decimal number`,
			`price_changes[3].best_ask "Infinity": not a decimal number`},
		is: fixed.ErrRange,
	},

	// last_trade_price
	{
		name:  "last_trade_price",
		frame: `{"event_type":"last_trade_price","asset_id":"a","market":"m","price":"0.51","side":"BUY","size":"25.0","fee_rate_bps":"0","transaction_hash":"0x1","timestamp":"11"}`,
		want:  []Event{{Kind: KindLastTrade, AssetID: "a", Market: "m", Timestamp: 11, Price: fp("0.51"), Size: fp("25"), Side: SideBuy}},
	},
	{
		name:  "last_trade_price without event_type",
		frame: `{"asset_id":"a","price":"0.51","side":"sell","size":"2"}`,
		want:  []Event{{Kind: KindLastTrade, AssetID: "a", Price: fp("0.51"), Size: fp("2"), Side: SideSell}},
	},
	{
		name:  "last_trade_price without side",
		frame: `{"event_type":"last_trade_price","asset_id":"a","price":"0.51","size":"2"}`,
		errs:  []string{`cannot decode last_trade_price: side "": not BUY or SELL`},
		is:    ErrSide,
	},

	// tick_size_change
	{
		name:  "tick_size_change",
		frame: `{"event_type":"tick_size_change","asset_id":"a","market":"m","old_tick_size":"0.01","new_tick_size":"0.001","timestamp":"12"}`,
		want:  []Event{{Kind: KindTickSize, AssetID: "a", Market: "m", Timestamp: 12, TickSize: fp("0.001"), OldTickSize: fp("0.01")}},
	},
	{
		name:  "tick_size_change without event_type",
		frame: `{"asset_id":"a","old_tick_size":"0.1","new_tick_size":"0.01"}`,
		want:  []Event{{Kind: KindTickSize, AssetID: "a", TickSize: fp("0.01"), OldTickSize: fp("0.1")}},
	},
	{
		name:  "tick_size_change without new tick",
		frame: `{"event_type":"tick_size_change","asset_id":"a","old_tick_size":"0.1"}`,
		errs:  []string{`new_tick_size "": empty number`},
		is:    fixed.ErrEmpty,
	},

	// best_bid_ask
	{
		name:  "best_bid_ask",
		frame: `{"event_type":"best_bid_ask","asset_id":"a","market":"m","best_bid":"0.73","best_ask":"0.77","spread":"0.04","timestamp":"13"}`,
		want:  []Event{{Kind: KindBestBidAsk, AssetID: "a", Market: "m", Timestamp: 13, BestBid: fp("0.73"), BestAsk: fp("0.77"), Spread: fp("0.04")}},
	},
	{
		name:  "best_bid_ask without event_type",
		frame: `{"asset_id":"a","best_bid":"0.1","best_ask":"0.2"}`,
		want:  []Event{{Kind: KindBestBidAsk, AssetID: "a", BestBid: fp("0.1"), BestAsk: fp("0.2")}},
	},

	// new_market, market_resolved
	{
		name: "new_market",
		frame: `{"event_type":"new_market","id":"1031769","question":"Will \"it\" happen?","market":"` + marketN + `","slug":"s","description":"d",` +
			`"assets_ids":["1","2"],"outcomes":["Yes","No"],"event_message":{"id":"125819","ticker":"t","slug":"es","title":"T","description":"x"},` +
			`"timestamp":"14","tags":["stocks","x"],"condition_id":"` + marketN + `","active":true,"clob_token_ids":["1","2"],"order_price_min_tick_size":"0.01","group_item_title":"g"}`,
		want: []Event{{Kind: KindNewMarket, Market: marketN, Timestamp: 14, Info: &MarketInfo{
			ID: "1031769", Market: marketN, Question: `Will "it" happen?`, Slug: "s", AssetIDs: []string{"1", "2"},
			Outcomes: []string{"Yes", "No"}, Tags: []string{"stocks", "x"}, Active: true, TickSize: fp("0.01"),
			EventID: "125819", EventSlug: "es", EventTitle: "T"}}},
	},
	{
		name:  "market_resolved",
		frame: `{"event_type":"market_resolved","id":"7","market":"m","assets_ids":["1","2"],"winning_asset_id":"1","winning_outcome":"Yes","timestamp":"15","tags":[]}`,
		want: []Event{{Kind: KindMarketResolved, Market: "m", Timestamp: 15, Info: &MarketInfo{
			ID: "7", Market: "m", AssetIDs: []string{"1", "2"}, WinningAssetID: "1", WinningOutcome: "Yes"}}},
	},
	{
		name:  "market_resolved without event_type",
		frame: `{"market":"m","winning_asset_id":"1","winning_outcome":"No"}`,
		want:  []Event{{Kind: KindMarketResolved, Market: "m", Info: &MarketInfo{Market: "m", WinningAssetID: "1", WinningOutcome: "No"}}},
	},
	{
		name:  "new_market without market",
		frame: `{"event_type":"new_market","id":"7","assets_ids":["1"]}`,
		errs:  []string{"cannot decode new_market: market: missing"},
		is:    ErrMissing,
	},
	{
		name:  "new_market active not a bool",
		frame: `{"event_type":"new_market","market":"m","active":"yes"}`,
		errs:  []string{"new_market: active at offset 49: wrong JSON type: got string, want bool"},
		is:    ErrWrongType,
	},

	// unknown kinds
	{name: "unknown event_type", frame: `{"event_type":"quote_v2","asset_id":"a","bids":[]}`, unknown: 1},
	{name: "object with no known keys", frame: `{"hello":"world","n":[1,{"a":null}]}`, unknown: 1},
	{name: "empty object", frame: `{}`, unknown: 1},
	{
		name:  "event_type not a string",
		frame: `{"event_type":7,"asset_id":"a"}`,
		errs:  []string{"cannot decode frame: event_type at offset 14: wrong JSON type: got number, want string"},
		is:    ErrWrongType,
	},

	// arrays
	{name: "empty array", frame: " [ ] \n"},
	{
		name: "array of mixed kinds with unknown",
		frame: `[{"event_type":"last_trade_price","asset_id":"a","price":"0.5","side":"BUY","size":"1"},` +
			`{"event_type":"brand_new","x":{"y":[1,2]}},` +
			`{"asset_id":"b","bids":[{"price":"0.4","size":"2"}],"asks":[]},` +
			`{"event_type":"price_change","price_changes":[{"asset_id":"c","price":"0.3","size":"3","side":"SELL"}]}]`,
		want: []Event{
			{Kind: KindLastTrade, AssetID: "a", Price: fp("0.5"), Size: fp("1"), Side: SideBuy},
			{Kind: KindBook, AssetID: "b", Bids: []Level{{fp("0.4"), fp("2")}}},
			{Kind: KindPriceChange, Changes: []PriceChange{{AssetID: "c", Price: fp("0.3"), Size: fp("3"), Side: SideSell}}},
		},
		unknown: 1,
	},
	{
		name: "array with a malformed element in the middle",
		frame: `[{"asset_id":"a","bids":[{"price":"0.4","size":"2"}]},` +
			`{"event_type":"book","asset_id":"b","bids":[{"price":"0.4","size":"x"}]},` +
			`{"asset_id":"c","asks":[{"price":"0.6","size":"1"}]}]`,
		want: []Event{
			{Kind: KindBook, AssetID: "a", Bids: []Level{{fp("0.4"), fp("2")}}},
			{Kind: KindBook, AssetID: "c", Asks: []Level{{fp("0.6"), fp("1")}}},
		},
		errs: []string{`cannot decode book (element 1): bids[0].size "x": not a decimal number`},
		is:   fixed.ErrSyntax,
	},
	{
		name:  "array with non-object elements",
		frame: `[1,"x",null,[{"asset_id":"a"}],{"asset_id":"a","bids":[]},true]`,
		want:  []Event{{Kind: KindBook, AssetID: "a"}},
		errs: []string{"cannot decode element 0 at offset 1: wrong JSON type: got number, want object",
			"element 1 at offset 3: wrong JSON type: got string, want object",
			"element 3 at offset 12: wrong JSON type: got array, want object",
			"element 2 at offset 7: wrong JSON type: got null, want object",
			"element 5 at offset 58: wrong JSON type: got bool, want object"},
		is: ErrWrongType,
	},
	{
		name:  "array truncated after a good element",
		frame: `[{"asset_id":"a","bids":[]},{"event_type":"book","asset_id":`,
		want:  []Event{{Kind: KindBook, AssetID: "a"}},
		errs:  []string{"cannot decode element 1 at offset"},
		is:    ErrSyntax,
	},
	{
		name:  "array missing its close",
		frame: `[{"asset_id":"a","bids":[]}`,
		want:  []Event{{Kind: KindBook, AssetID: "a"}},
		errs:  []string{"cannot decode frame at offset 27: malformed JSON"},
		is:    ErrSyntax,
	},
	{
		name:  "array with a bad separator",
		frame: `[{"asset_id":"a","bids":[]};{"asset_id":"b","bids":[]}]`,
		want:  []Event{{Kind: KindBook, AssetID: "a"}},
		errs:  []string{"cannot decode frame at offset 27: malformed JSON"},
		is:    ErrSyntax,
	},
	{
		name:  "array with junk after it",
		frame: `[{"asset_id":"a","bids":[]}] ]`,
		want:  []Event{{Kind: KindBook, AssetID: "a"}},
		errs:  []string{"cannot decode frame at offset 29: data after the JSON value"},
		is:    ErrTrailing,
	},
	{name: "array with trailing comma", frame: `[{"asset_id":"a","bids":[]},]`, want: []Event{{Kind: KindBook, AssetID: "a"}}, errs: []string{"cannot decode element 1 at offset"}, is: ErrSyntax},

	// PONG and frames that are not JSON
	{name: "pong", frame: "PONG"},
	{name: "pong with whitespace", frame: " PONG\r\n"},
	{name: "pong prefix", frame: "PONGPONG", errs: []string{"cannot decode frame at offset 0: not a JSON object or array"}, is: ErrNotJSON},
	{name: "empty frame", frame: "", errs: []string{"cannot decode frame: empty frame"}, is: ErrEmptyFrame},
	{name: "blank frame", frame: " \n\t", is: ErrEmptyFrame, errs: []string{"empty frame"}},
	{name: "plain text", frame: "hello", is: ErrNotJSON, errs: []string{"not a JSON object or array"}},
	{name: "json number", frame: "123", is: ErrNotJSON, errs: []string{"not a JSON object or array"}},
	{name: "json null", frame: "null", is: ErrNotJSON, errs: []string{"not a JSON object or array"}},
	{name: "truncated object", frame: `{"event_type":"book","asset_id":"a","bids":[{"price":"0.5"`, is: ErrSyntax, errs: []string{"cannot decode frame at offset"}},
	{name: "unterminated string", frame: `{"event_type":"book`, is: ErrSyntax, errs: []string{"cannot decode frame at offset"}},
	{name: "bad escape", frame: `{"asset_id":"\u12"}`, is: ErrSyntax, errs: []string{"cannot decode frame at offset"}},
	{name: "object with junk after it", frame: `{"asset_id":"a","bids":[]} x`, want: []Event{{Kind: KindBook, AssetID: "a"}}, errs: []string{"cannot decode frame at offset 27: data after the JSON value"}, is: ErrTrailing},
	{name: "deep nesting", frame: `{"x":` + strings.Repeat("[", 100000) + `}`, is: ErrSyntax, errs: []string{"malformed JSON"}},
	{name: "binary garbage", frame: "\x00\xff{\x01", is: ErrNotJSON, errs: []string{"not a JSON object"}},

	// timestamps
	{
		name:  "timestamp as JSON number",
		frame: `{"event_type":"best_bid_ask","asset_id":"a","best_bid":"0.1","best_ask":"0.2","timestamp":1766789469958}`,
		want:  []Event{{Kind: KindBestBidAsk, AssetID: "a", BestBid: fp("0.1"), BestAsk: fp("0.2"), Timestamp: 1766789469958}},
	},
	{name: "timestamp garbage", frame: `{"asset_id":"a","bids":[],"timestamp":"17x"}`, is: ErrTimestamp, errs: []string{`cannot decode book: timestamp "17x": not Unix milliseconds`}},
	{name: "timestamp negative", frame: `{"asset_id":"a","bids":[],"timestamp":"-5"}`, is: ErrTimestamp, errs: []string{`timestamp "-5"`}},
	{name: "timestamp fractional number", frame: `{"asset_id":"a","bids":[],"timestamp":1.5e12}`, is: ErrTimestamp, errs: []string{`timestamp "1.5e12"`}},
	{name: "timestamp too large", frame: `{"asset_id":"a","bids":[],"timestamp":"99999999999999999999"}`, is: ErrTimestamp, errs: []string{`timestamp "99999999999999999999"`}},
	{name: "timestamp escaped", frame: `{"asset_id":"a","bids":[],"timestamp":"1\u0032"}`, is: ErrTimestamp, errs: []string{`timestamp "1\\u0032"`}},
	{name: "timestamp object", frame: `{"asset_id":"a","bids":[],"timestamp":{"ms":1}}`, is: ErrTimestamp, errs: []string{`timestamp "{\"ms\":1}"`}},
	{name: "timestamp null", frame: `{"asset_id":"a","bids":[],"timestamp":null}`, want: []Event{{Kind: KindBook, AssetID: "a"}}},

	// JSON details
	{
		name:  "duplicate keys: the last wins",
		frame: `{"asset_id":"x","asset_id":"a","bids":[{"price":"0.9","size":"9"}],"bids":[{"price":"0.1","size":"1"}]}`,
		want:  []Event{{Kind: KindBook, AssetID: "a", Bids: []Level{{fp("0.1"), fp("1")}}}},
	},
	{
		name:  "escaped strings are unescaped",
		frame: `{"asset_id":"\u0061b","bids":[{"price":"0.5","size":"1"}]}`,
		want:  []Event{{Kind: KindBook, AssetID: "ab", Bids: []Level{{fp("0.5"), fp("1")}}}},
	},
	{
		name:  "keys are case-sensitive",
		frame: `{"event_type":"book","asset_id":"a","Bids":[{"price":"0.5","size":"1"}]}`,
		errs:  []string{"bids: missing"},
		is:    ErrMissing,
	},
	{
		name:  "null lists count as absent",
		frame: `{"event_type":"book","asset_id":"a","bids":null,"asks":[]}`,
		want:  []Event{{Kind: KindBook, AssetID: "a"}},
	},
	{
		name:  "whitespace everywhere",
		frame: "\n {\n \"asset_id\" : \"a\" ,\t\"bids\" : [ { \"price\" : \"0.5\" , \"size\" : \"1\" } ] } \n",
		want:  []Event{{Kind: KindBook, AssetID: "a", Bids: []Level{{fp("0.5"), fp("1")}}}},
	},
}

// TestDecode runs every case on a fresh decoder and on one that decoded
// frames setting every key before: stale state must never leak.
func TestDecode(t *testing.T) {
	for _, tc := range decodeCases {
		t.Run(tc.name, func(t *testing.T) {
			for _, dirty := range []bool{false, true} {
				d := NewDecoder()
				if dirty {
					d = dirtyDecoder(t)
				}
				before := d.Stats()
				evs, err := d.Decode([]byte(tc.frame))
				if diff := diffEvents(evs, tc.want); diff != "" {
					t.Errorf("dirty=%v: %s", dirty, diff)
				}
				checkErr(t, err, tc.errs, tc.is)
				after := d.Stats()
				if got := after.Unknown - before.Unknown; got != tc.unknown {
					t.Errorf("dirty=%v: unknown count grew by %d; want %d", dirty, got, tc.unknown)
				}
				if (err != nil) != (after.Malformed > before.Malformed) {
					t.Errorf("dirty=%v: err=%v but Malformed went %d -> %d", dirty, err, before.Malformed, after.Malformed)
				}
			}
		})
	}
}

func checkErr(t *testing.T, err error, wants []string, is error) {
	t.Helper()
	if len(wants) == 0 && is == nil {
		if err != nil {
			t.Errorf("err = %v; want nil", err)
		}
		return
	}
	if err == nil {
		t.Errorf("err = nil; want %q", wants)
		return
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("err = %q; want it to contain %q", err, w)
		}
	}
	if is != nil && !errors.Is(err, is) {
		t.Errorf("err = %v; want errors.Is(err, %v)", err, is)
	}
}

func TestIsPong(t *testing.T) {
	for in, want := range map[string]bool{
		"PONG": true, " PONG\n": true, "\tPONG": true,
		"": false, "PON": false, "pong": false, "PONGS": false, "PONG x": false, `"PONG"`: false, "PING": false,
	} {
		if got := IsPong([]byte(in)); got != want {
			t.Errorf("IsPong(%q) = %v; want %v", in, got, want)
		}
	}
}

func TestKindAndSideStrings(t *testing.T) {
	want := []string{"unknown", "book", "price_change", "last_trade_price", "tick_size_change", "best_bid_ask", "new_market", "market_resolved"}
	for k := KindUnknown; k < KindCount; k++ {
		if got := k.String(); got != want[k] {
			t.Errorf("Kind(%d).String() = %q; want %q", k, got, want[k])
		}
	}
	if got := Kind(200).String(); got != "unknown" {
		t.Errorf("Kind(200).String() = %q", got)
	}
	for s, w := range map[Side]string{SideNone: "NONE", SideBuy: "BUY", SideSell: "SELL", 9: "NONE"} {
		if got := s.String(); got != w {
			t.Errorf("Side(%d).String() = %q; want %q", s, got, w)
		}
	}
}
