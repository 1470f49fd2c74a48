package wire

import (
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// fixtureWant is what each captured frame must decode to. The shared
// fixtures (captured from the live venue) and our copies in testdata/ws use
// the same names; the extra testdata frames cover shapes the captures lack.
// testdata/ws is the repository's only copy of the golden frames: the
// decoder owns the wire format, and its golden and fuzz tests must run on
// a fresh clone; the simulator's shape test reads the shared captures in
// place instead.
var fixtureWant = map[string][]Event{
	"book_snapshot.json": {{Kind: KindBook, AssetID: assetA, Market: marketA, Timestamp: 1703875200000,
		Bids: []Level{{fp("0.48"), fp("500")}, {fp("0.49"), fp("350")}, {fp("0.50"), fp("200")}},
		Asks: []Level{{fp("0.53"), fp("400")}, {fp("0.52"), fp("250")}, {fp("0.51"), fp("150")}}}},
	"last_trade.json": {{Kind: KindLastTrade, AssetID: assetA, Market: marketA, Timestamp: 1703875202000,
		Price: fp("0.51"), Size: fp("25"), Side: SideBuy}},
	"market_best_bid_ask_msg.json": {{Kind: KindBestBidAsk,
		AssetID: "85354956062430465315924116860125388538595433819574542752031640332592237464430",
		Market:  "0x0005c0d312de0be897668695bae9f32b624b4a1ae8b140c49f08447fcc74f442", Timestamp: 1766789469958,
		BestBid: fp("0.73"), BestAsk: fp("0.77"), Spread: fp("0.04")}},
	"market_book_msg.json": {{Kind: KindBook, AssetID: assetA, Market: marketA, Timestamp: 1703875200000,
		Bids: []Level{{fp("0.50"), fp("200")}, {fp("0.49"), fp("350")}},
		Asks: []Level{{fp("0.51"), fp("150")}, {fp("0.52"), fp("250")}}}},
	"market_last_trade_msg.json": {{Kind: KindLastTrade, AssetID: assetA, Market: marketA, Timestamp: 1703875202000,
		Price: fp("0.51"), Size: fp("25"), Side: SideBuy}},
	"market_new_market_msg.json": {{Kind: KindNewMarket, Market: marketN, Timestamp: 1766790415550, Info: &MarketInfo{
		ID: "1031769", Market: marketN, Question: "Will NVIDIA (NVDA) close above $240 end of January?",
		Slug: "nvda-above-240-on-january-30-2026",
		AssetIDs: []string{
			"76043073756653678226373981964075571318267289248134717369284518995922789326425",
			"31690934263385727664202099278545688007799199447969475608906331829650099442770"},
		Outcomes: []string{"Yes", "No"}, Tags: []string{"stocks"}, Active: true, TickSize: fp("0.01"),
		EventID: "125819", EventSlug: "nvda-above-in-january-2026", EventTitle: "Will NVIDIA (NVDA) close above ___ end of January?"}}},
	"market_price_change_msg.json": {{Kind: KindPriceChange, Market: marketA, Timestamp: 1703875201000, Changes: []PriceChange{
		{AssetID: assetA, Price: fp("0.51"), Size: fp("150"), Side: SideBuy, Hash: "0xhash001", BestBid: fp("0.51"), BestAsk: fp("0.52"), HasBest: true}}}},
	"market_resolved_msg.json": {{Kind: KindMarketResolved, Market: marketN, Timestamp: 1766790415550, Info: &MarketInfo{
		ID: "1031769", Market: marketN,
		AssetIDs: []string{
			"76043073756653678226373981964075571318267289248134717369284518995922789326425",
			"31690934263385727664202099278545688007799199447969475608906331829650099442770"},
		Tags:           []string{"stocks"},
		WinningAssetID: "76043073756653678226373981964075571318267289248134717369284518995922789326425", WinningOutcome: "Yes"}}},
	"market_tick_size_msg.json": {{Kind: KindTickSize, AssetID: assetA, Market: marketA, Timestamp: 1703875210000,
		TickSize: fp("0.01"), OldTickSize: fp("0.1")}},
	"quotes.json": {{Kind: KindPriceChange, Market: marketA, Timestamp: 1703875201000, Changes: []PriceChange{
		{AssetID: assetA, Price: fp("0.51"), Size: fp("150"), Side: SideBuy, Hash: "0xhash001", BestBid: fp("0.51"), BestAsk: fp("0.52"), HasBest: true},
		{AssetID: assetB, Price: fp("0.49"), Size: fp("100"), Side: SideSell, Hash: "0xhash002", BestBid: fp("0.48"), BestAsk: fp("0.49"), HasBest: true}}}},
	"tick_size_change.json": {{Kind: KindTickSize, AssetID: assetA, Market: marketA, Timestamp: 1703875210000,
		TickSize: fp("0.01"), OldTickSize: fp("0.1")}},

	// Ours (testdata/ws only).
	"legacy_price_change.json": {{Kind: KindPriceChange, Legacy: true, Market: marketA, Hash: "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
		Timestamp: 1703875201000, Changes: []PriceChange{
			{AssetID: assetA, Price: fp("0.51"), Size: fp("150"), Side: SideBuy, Hash: "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"},
			{AssetID: assetA, Price: fp("0.53"), Size: 0, Side: SideSell, Hash: "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"}}}},
	"book_buys_sells.json": {{Kind: KindBook, AssetID: assetB, Market: marketA, Timestamp: 1703875200001,
		Hash: "0123456789abcdef0123456789abcdef01234567", TickSize: fp("0.01"), LastTradePrice: fp("0.5"),
		Bids: []Level{{fp("0.48"), fp("10")}, {fp("0.49"), fp("20.5")}}, Asks: []Level{{fp("0.52"), fp("30")}}}},
	"initial_dump.json": {
		{Kind: KindBook, AssetID: assetA, Market: marketA, Timestamp: 1703875200000, Hash: "0000000000000000000000000000000000000001",
			Bids: []Level{{fp("0.49"), fp("350")}, {fp("0.50"), fp("200")}}, Asks: []Level{{fp("0.52"), fp("250")}, {fp("0.51"), fp("150")}}},
		{Kind: KindBook, AssetID: assetB, Market: marketA, Timestamp: 1703875200000, Bids: []Level{{fp("0.48"), fp("100")}}},
		{Kind: KindBook, AssetID: "76043073756653678226373981964075571318267289248134717369284518995922789326425", Market: marketN,
			Timestamp: 1703875200002, Asks: []Level{{fp("0.97"), fp("5")}}}},
	"batch_mixed.json": {
		{Kind: KindPriceChange, Market: marketA, Timestamp: 1703875203000, Changes: []PriceChange{
			{AssetID: assetA, Price: fp("0.5"), Size: 0, Side: SideSell, Hash: "h1", BestBid: fp("0.49"), BestAsk: fp("0.51"), HasBest: true}}},
		{Kind: KindLastTrade, AssetID: assetA, Market: marketA, Timestamp: 1703875203001, Price: fp("0.5"), Size: fp("12.5"), Side: SideSell},
		{Kind: KindBestBidAsk, AssetID: assetA, Market: marketA, Timestamp: 1703875203002, BestBid: fp("0.49"), BestAsk: fp("0.51"), Spread: fp("0.02")}},
}

// sharedFixtures finds <repo root>/../shared/fixtures/polymarket/ws by
// walking up from the package directory, so it works from the main checkout
// and from worktrees nested deeper; "" when it is not there.
func sharedFixtures(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("POLYFEED_WS_FIXTURES"); dir != "" {
		return dir
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		cand := filepath.Join(dir, "shared", "fixtures", "polymarket", "ws")
		if st, err := os.Stat(cand); err == nil && st.IsDir() {
			return cand
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// TestConformanceSharedFixtures decodes every frame captured from the live
// venue.
func TestConformanceSharedFixtures(t *testing.T) {
	dir := sharedFixtures(t)
	if dir == "" {
		t.Skip("shared/fixtures/polymarket/ws not found above the package directory")
	}
	checkFixtureDir(t, dir)
}

// TestGoldenFrames decodes our copies of the captured frames plus our own
// shapes; these stay with the repository.
func TestGoldenFrames(t *testing.T) {
	n := checkFixtureDir(t, filepath.Join("testdata", "ws"))
	if n < len(fixtureWant) {
		t.Errorf("testdata/ws holds %d frames; every one of the %d expectations should have its file", n, len(fixtureWant))
	}
}

func checkFixtureDir(t *testing.T, dir string) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no frames in %s", dir)
	}
	sort.Strings(files)
	d := dirtyDecoder(t) // stale state must not matter for real frames either
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			frame, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want, ok := fixtureWant[name]
			evs, err := d.Decode(frame)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !ok {
				t.Fatalf("no expectation for %s (decoded %s): add one to fixtureWant", name, render(evs))
			}
			if len(evs) == 0 {
				t.Fatal("decoded no events")
			}
			if diff := diffEvents(evs, want); diff != "" {
				t.Error(diff)
			}
			// A fresh decoder must agree with the reused one.
			fresh, err := NewDecoder().Decode(frame)
			if err != nil || diffEvents(fresh, want) != "" {
				t.Errorf("fresh decoder: %v %s", err, diffEvents(fresh, want))
			}
		})
	}
	return len(files)
}
