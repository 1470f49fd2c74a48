package sim

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// Until internal/wire is merged, this checks every frame kind the simulator emits against
// the shapes of the frames captured from the venue (testdata/, copied from the shared
// fixtures): every key the captured frame has must be present with the same JSON type.

func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "null"
}

func loadFixture(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// optionalKeys are fixture keys the venue itself sends only sometimes.
var optionalKeys = map[string]bool{"description": true, "event_message": true, "sports_market_type": true,
	"line": true, "game_start_time": true, "group_item_title": true, "question": true, "slug": true}

func sameShape(t *testing.T, kind string, fixture, got map[string]any) {
	t.Helper()
	for k, fv := range fixture {
		gv, ok := got[k]
		if !ok {
			if !optionalKeys[k] && k != "event_type" {
				t.Errorf("%s: missing key %q in %v", kind, k, got)
			}
			continue
		}
		if jsonType(fv) != jsonType(gv) {
			t.Errorf("%s: key %q is %s; venue sends %s", kind, k, jsonType(gv), jsonType(fv))
		}
	}
}

var (
	reHash40 = regexp.MustCompile(`^[0-9a-f]{40}$`)
	reMillis = regexp.MustCompile(`^1[0-9]{12}$`)
	reDec    = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
)

func TestEmittedFramesMatchVenueShapes(t *testing.T) {
	s := startSim(t, Config{Seed: 21, Markets: 30, Rate: 5000, Manual: true, ChurnPerMinute: 600, OmitTypeRate: 0.2, BuysSellsRate: 0.2})
	c := dial(t, s)
	c.subscribe(t, bookAssets(s), true)
	c.sync(t)
	s.Step(200)
	s.Pause()
	c.sync(t)
	fixtures := map[string]string{
		"book": "market_book_msg.json", "price_change": "market_price_change_msg.json",
		"last_trade_price": "market_last_trade_msg.json", "tick_size_change": "market_tick_size_msg.json",
		"best_bid_ask": "market_best_bid_ask_msg.json", "new_market": "market_new_market_msg.json",
		"market_resolved": "market_resolved_msg.json",
	}
	fx := map[string]map[string]any{}
	for kind, name := range fixtures {
		fx[kind] = loadFixture(t, name)
	}
	pcfx := fx["price_change"]["price_changes"].([]any)[0].(map[string]any)
	seen := map[string]int{}
	untyped := 0
	for _, raw := range events(t, c.takeFrames()) {
		var ev map[string]any
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		var we wireEvent
		_ = json.Unmarshal(raw, &we)
		kind := we.kindOf()
		if _, ok := ev["event_type"]; !ok {
			untyped++
		}
		seen[kind]++
		if kind == "book" {
			if _, ok := ev["buys"]; ok {
				ev["bids"], ev["asks"] = ev["buys"], ev["sells"]
			}
		}
		sameShape(t, kind, fx[kind], ev)
		if ts, _ := ev["timestamp"].(string); !reMillis.MatchString(ts) {
			t.Errorf("%s: timestamp %q not ms digits", kind, ts)
		}
		if m, _ := ev["market"].(string); !reCondition.MatchString(m) {
			t.Errorf("%s: market %q", kind, m)
		}
		if id, ok := ev["asset_id"].(string); ok && !reToken.MatchString(id) {
			t.Errorf("%s: asset_id %q", kind, id)
		}
		if h, ok := ev["hash"].(string); ok && !reHash40.MatchString(h) {
			t.Errorf("%s: hash %q", kind, h)
		}
		for _, k := range []string{"price", "size", "best_bid", "best_ask", "spread", "tick_size", "last_trade_price", "old_tick_size", "new_tick_size"} {
			if v, ok := ev[k]; ok && !reDec.MatchString(v.(string)) {
				t.Errorf("%s: %s %q not a decimal string", kind, k, v)
			}
		}
		if kind == "price_change" {
			if _, ok := ev["asset_id"]; ok {
				t.Error("price_change must not have a top-level asset_id")
			}
			for _, pc := range ev["price_changes"].([]any) {
				e := pc.(map[string]any)
				sameShape(t, "price_changes[]", pcfx, e)
				if side := e["side"]; side != "BUY" && side != "SELL" {
					t.Errorf("side %v", side)
				}
				if !reHash40.MatchString(e["hash"].(string)) {
					t.Errorf("price_changes hash %v", e["hash"])
				}
			}
		}
	}
	for kind := range fixtures {
		if seen[kind] == 0 {
			t.Errorf("no %s emitted (%v)", kind, seen)
		}
	}
	if untyped == 0 {
		t.Error("no frame without event_type emitted")
	}
}

func TestGammaMarketMatchesVenueShape(t *testing.T) {
	s := startSim(t, Config{Seed: 1, Markets: 3, Manual: true})
	var ms []map[string]any
	getJSON(t, s.URL()+"/markets", &ms)
	fx := loadFixture(t, "market.json")
	for _, m := range ms {
		for k, v := range m {
			fv, ok := fx[k]
			if !ok {
				t.Errorf("key %q not in the venue's market object", k)
				continue
			}
			if jsonType(fv) != jsonType(v) {
				t.Errorf("key %q is %s; venue sends %s", k, jsonType(v), jsonType(fv))
			}
		}
	}
}
