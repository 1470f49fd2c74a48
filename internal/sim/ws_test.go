package sim

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestPingBeforeSubscribeCloses1008(t *testing.T) {
	s := startSim(t, Config{Seed: 1, Markets: 5, Manual: true})
	c := dial(t, s)
	c.send(t, "PING")
	code, reason := c.closeCode(t)
	if code != 1008 || reason != "invalid subscription payload" {
		t.Fatalf("close = %d %q; want 1008 %q", code, reason, "invalid subscription payload")
	}
}

func TestInvalidFirstMessageCloses1008(t *testing.T) {
	s := startSim(t, Config{Seed: 1, Markets: 5, Manual: true})
	c := dial(t, s)
	c.send(t, `{"nonsense":`)
	if code, _ := c.closeCode(t); code != 1008 {
		t.Fatalf("close = %d; want 1008", code)
	}
}

func TestSubscribeSnapshotPingPong(t *testing.T) {
	s := startSim(t, Config{Seed: 2, Markets: 10, Manual: true})
	ids := bookAssets(s)[:4]
	c := dial(t, s)
	c.subscribe(t, append([]string{"123456789", ids[0]}, ids[1:]...), false)
	c.sync(t)
	frames := c.takeFrames()
	if len(frames) != 1 || frames[0][0] != '[' {
		t.Fatalf("got %d frames (first %.80q); want one array frame of snapshots", len(frames), frames)
	}
	evs := events(t, frames)
	if len(evs) != len(ids) {
		t.Fatalf("snapshot has %d books; want %d (unknown id ignored)", len(evs), len(ids))
	}
	for i, raw := range evs {
		var b struct {
			AssetID        string  `json:"asset_id"`
			BidsR          []Level `json:"bids"`
			AsksR          []Level `json:"asks"`
			BuysR          []Level `json:"buys"`
			SellsR         []Level `json:"sells"`
			Hash           string  `json:"hash"`
			TickSize       string  `json:"tick_size"`
			LastTradePrice string  `json:"last_trade_price"`
			Timestamp      string  `json:"timestamp"`
		}
		if err := json.Unmarshal(raw, &b); err != nil {
			t.Fatal(err)
		}
		bids, asks := append(b.BidsR, b.BuysR...), append(b.AsksR, b.SellsR...)
		if b.AssetID != ids[i] {
			t.Errorf("book %d asset = %s; want %s (request order)", i, b.AssetID, ids[i])
		}
		if !slices.IsSortedFunc(bids, func(x, y Level) int { return int(x.Price - y.Price) }) {
			t.Errorf("bids not ascending: %v", bids)
		}
		if !slices.IsSortedFunc(asks, func(x, y Level) int { return int(y.Price - x.Price) }) {
			t.Errorf("asks not descending: %v", asks)
		}
		if bids[len(bids)-1].Price >= asks[len(asks)-1].Price {
			t.Errorf("crossed snapshot: best bid %v >= best ask %v", bids[len(bids)-1].Price, asks[len(asks)-1].Price)
		}
		truth, _ := s.Book(b.AssetID)
		if truth.Bids[0] != bids[len(bids)-1] || truth.Asks[0] != asks[len(asks)-1] {
			t.Errorf("snapshot top differs from truth")
		}
	}
	for i := 0; i < 3; i++ {
		c.sync(t) // PING answered by PONG repeatedly
	}
	// Subscribing only unknown ids yields nothing at all.
	c.op(t, "subscribe", []string{"999"})
	c.sync(t)
	if f := c.takeFrames(); len(f) != 0 {
		t.Fatalf("unknown id produced %d frames", len(f))
	}
	// Re-subscribing held ids yields no snapshot; a new one yields exactly its snapshot.
	more := bookAssets(s)[4:6]
	c.op(t, "subscribe", append(ids[:1:1], more...))
	c.sync(t)
	evs = events(t, c.takeFrames())
	if len(evs) != 2 {
		t.Fatalf("live subscribe sent %d snapshots; want 2 (only newly subscribed)", len(evs))
	}
}

func TestInitialDumpFalse(t *testing.T) {
	s := startSim(t, Config{Seed: 2, Markets: 4, Manual: true})
	c := dial(t, s)
	c.send(t, `{"assets_ids":["`+bookAssets(s)[0]+`"],"type":"market","initial_dump":false}`)
	c.sync(t)
	if f := c.takeFrames(); len(f) != 0 {
		t.Fatalf("initial_dump=false sent %d frames", len(f))
	}
}

// assetsIn returns the asset ids an event concerns.
func assetsIn(ev map[string]any) []string {
	if pcs, ok := ev["price_changes"].([]any); ok {
		var ids []string
		for _, pc := range pcs {
			ids = append(ids, pc.(map[string]any)["asset_id"].(string))
		}
		return ids
	}
	if id, ok := ev["asset_id"].(string); ok {
		return []string{id}
	}
	return nil
}

func TestUnsubscribeStopsEvents(t *testing.T) {
	s := startSim(t, Config{Seed: 3, Markets: 3, Rate: 3000, Manual: true})
	ids := bookAssets(s)
	c := dial(t, s)
	c.subscribe(t, ids, false)
	c.sync(t)
	c.takeFrames()
	gone := ids[0] // YES token of the first market: its NO token stays subscribed
	c.op(t, "unsubscribe", []string{gone})
	c.sync(t)
	s.Step(50)
	c.sync(t)
	seen := map[string]int{}
	for _, raw := range events(t, c.takeFrames()) {
		var ev map[string]any
		_ = json.Unmarshal(raw, &ev)
		for _, id := range assetsIn(ev) {
			seen[id]++
		}
	}
	if seen[gone] != 0 {
		t.Errorf("unsubscribed asset got %d events", seen[gone])
	}
	if seen[ids[1]] == 0 || seen[ids[2]] == 0 {
		t.Errorf("subscribed assets got no events: %v", seen)
	}
}

func TestCustomFeatureEvents(t *testing.T) {
	s := startSim(t, Config{Seed: 4, Markets: 10, Rate: 5000, Manual: true, ChurnPerMinute: 600})
	plain, custom := dial(t, s), dial(t, s)
	ids := bookAssets(s)
	plain.subscribe(t, ids, false)
	custom.subscribe(t, ids, true)
	plain.sync(t)
	custom.sync(t)
	s.Step(100) // 1 s virtual: 10 markets expire, 10 appear
	plain.sync(t)
	custom.sync(t)
	count := func(c *wsClient) map[string]int {
		n := map[string]int{}
		for _, raw := range events(t, c.takeFrames()) {
			var ev map[string]any
			_ = json.Unmarshal(raw, &ev)
			et, _ := ev["event_type"].(string)
			n[et]++
		}
		return n
	}
	p, cu := count(plain), count(custom)
	for _, k := range []string{"best_bid_ask", "new_market", "market_resolved"} {
		if p[k] != 0 {
			t.Errorf("plain socket got %d %s", p[k], k)
		}
		if cu[k] == 0 {
			t.Errorf("custom socket got no %s (%v)", k, cu)
		}
	}
}
