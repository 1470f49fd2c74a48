package sim

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

// These tests hold the simulator to the frames captured from the venue
// (shared/fixtures/polymarket, read in place, never copied): in both
// directions, every key the venue sends is produced, with the same JSON
// type, and nothing is produced that the venue never sends.

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

// venueFixtures is the directory of the captured venue frames:
// $POLYFEED_FIXTURES, or shared/fixtures/polymarket in the nearest
// directory above the package. The test fails when neither exists: without
// the captures it would prove nothing.
func venueFixtures(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("POLYFEED_FIXTURES"); dir != "" {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			t.Fatalf("captured venue frames not found: POLYFEED_FIXTURES=%s is not a directory", dir)
		}
		return dir
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		cand := filepath.Join(dir, "shared", "fixtures", "polymarket")
		if st, err := os.Stat(cand); err == nil && st.IsDir() {
			return cand
		}
		if filepath.Dir(dir) == dir {
			t.Fatalf("captured venue frames not found: no shared/fixtures/polymarket above %s; set POLYFEED_FIXTURES to its path", wd)
		}
	}
}

// loadCapture decodes one captured JSON object (the first, if the file
// holds an array).
func loadCapture(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("cannot read captured frame: %v", err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("cannot decode captured frame %s: %v", path, err)
	}
	if a, ok := v.([]any); ok && len(a) > 0 {
		v = a[0]
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("captured frame %s is not an object", path)
	}
	return m
}

// shape is what the venue sends for one kind of object, over every
// capture of that kind: each key's JSON type, and which keys every
// capture has.
type shape struct {
	types  map[string]string
	always map[string]bool
}

func shapeOf(objs ...map[string]any) shape {
	s := shape{types: map[string]string{}, always: map[string]bool{}}
	for k := range objs[0] {
		s.always[k] = true
	}
	for _, o := range objs {
		for k, v := range o {
			s.types[k] = jsonType(v)
		}
		for k := range s.always {
			if _, ok := o[k]; !ok {
				delete(s.always, k)
			}
		}
	}
	return s
}

// produced records the keys the simulator emitted, per kind of object.
type produced map[string]map[string]bool

// check compares one emitted object with the venue's shape of its kind:
// no key the venue never sends, no key of another type, no key missing
// that every capture has (unless the venue sends it only sometimes).
func (p produced) check(t *testing.T, kind string, want shape, got map[string]any, optional map[string]bool) {
	t.Helper()
	if p[kind] == nil {
		p[kind] = map[string]bool{}
	}
	for k, v := range got {
		p[kind][k] = true
		wt, ok := want.types[k]
		switch {
		case !ok:
			t.Errorf("%s: key %q, which the venue never sends", kind, k)
		case wt != jsonType(v):
			t.Errorf("%s: key %q is %s; the venue sends %s", kind, k, jsonType(v), wt)
		}
	}
	for k := range want.always {
		if _, ok := got[k]; !ok && !optional[k] {
			t.Errorf("%s: missing key %q, which every captured %s has", kind, k, kind)
		}
	}
}

// covers fails for each key the venue sends in kind that the simulator
// never produced, except the exempt ones; an exempt key that was produced
// fails too, so the exemptions stay true.
func (p produced) covers(t *testing.T, kind string, want shape, exempt map[string]string) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(want.types)) {
		_, ex := exempt[k]
		switch {
		case !p[kind][k] && !ex:
			t.Errorf("%s: the venue sends key %q; the simulator never produced it", kind, k)
		case p[kind][k] && ex:
			t.Errorf("%s: key %q is exempt as never produced (%s), but it was: drop the exemption", kind, k, exempt[k])
		}
	}
}

// notProduced are keys the venue sends that the simulator does not
// produce, with why that is acceptable.
var notProduced = map[string]map[string]string{
	"new_market": {
		"description":        "descriptive text the engine ignores",
		"group_item_title":   "descriptive text the engine ignores",
		"sports_market_type": "sports markets only; the engine ignores it",
		"line":               "sports markets only; the engine ignores it",
		"game_start_time":    "sports markets only; the engine ignores it",
	},
}

// optionalKeys are keys the venue itself sends only sometimes: a new
// market's descriptive fields, present for some markets and not others.
var optionalKeys = map[string]bool{"description": true, "event_message": true, "sports_market_type": true,
	"line": true, "game_start_time": true, "group_item_title": true, "question": true, "slug": true}

var (
	reHash40 = regexp.MustCompile(`^[0-9a-f]{40}$`)
	reMillis = regexp.MustCompile(`^1[0-9]{12}$`)
	reDec    = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
)

// wsCaptures names the captured frames of each event type. Captures
// without event_type (the venue omits it on some frames) count for their
// kind.
var wsCaptures = map[string][]string{
	"book":             {"market_book_msg.json", "book_snapshot.json"},
	"price_change":     {"market_price_change_msg.json", "quotes.json"},
	"last_trade_price": {"market_last_trade_msg.json", "last_trade.json"},
	"tick_size_change": {"market_tick_size_msg.json", "tick_size_change.json"},
	"best_bid_ask":     {"market_best_bid_ask_msg.json"},
	"new_market":       {"market_new_market_msg.json"},
	"market_resolved":  {"market_resolved_msg.json"},
}

// documentedKeys are keys the venue sends that the captures lack, from
// ../shared/PROTOCOL.md's message table: a book's hash (40 hex) and its
// optional tick_size and last_trade_price.
var documentedKeys = map[string]map[string]string{
	"book": {"hash": "string", "tick_size": "string", "last_trade_price": "string"},
}

func TestEmittedFramesMatchVenueShapes(t *testing.T) {
	dir := filepath.Join(venueFixtures(t), "ws")
	want := map[string]shape{}
	var changes, levels []map[string]any
	for kind, names := range wsCaptures {
		var objs []map[string]any
		for _, n := range names {
			o := loadCapture(t, filepath.Join(dir, n))
			objs = append(objs, o)
			changes = append(changes, asObjects(o["price_changes"])...)
			levels = append(levels, asObjects(o["bids"])...)
			levels = append(levels, asObjects(o["asks"])...)
		}
		s := shapeOf(objs...)
		delete(s.always, "event_type") // the venue omits it on some frames
		for k, typ := range documentedKeys[kind] {
			s.types[k] = typ
		}
		want[kind] = s
	}
	wantChange, wantLevel := shapeOf(changes...), shapeOf(levels...)

	s := startSim(t, Config{Seed: 21, Markets: 30, Rate: 5000, Manual: true, ChurnPerMinute: 600, OmitTypeRate: 0.2, BuysSellsRate: 0.2})
	c := dial(t, s)
	c.subscribe(t, bookAssets(s), true)
	c.sync(t)
	s.Step(200)
	s.Pause()
	c.sync(t)
	got := produced{}
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
		if kind == "book" {
			// PROTOCOL.md: some book frames name the sides buys and sells
			// (wire/testdata/ws/book_buys_sells.json); the captures have
			// bids and asks only. Counted under the venue's names.
			if _, ok := ev["buys"]; ok {
				ev["bids"], ev["asks"] = ev["buys"], ev["sells"]
				delete(ev, "buys")
				delete(ev, "sells")
			}
			for _, l := range append(asObjects(ev["bids"]), asObjects(ev["asks"])...) {
				got.check(t, "book level", wantLevel, l, nil)
			}
		}
		ws, ok := want[kind]
		if !ok {
			t.Errorf("event of unknown kind %q: %s", kind, raw)
			continue
		}
		got.check(t, kind, ws, ev, optionalKeys)
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
			for _, e := range asObjects(ev["price_changes"]) {
				got.check(t, "price_changes[]", wantChange, e, nil)
				if side := e["side"]; side != "BUY" && side != "SELL" {
					t.Errorf("side %v", side)
				}
				if !reHash40.MatchString(e["hash"].(string)) {
					t.Errorf("price_changes hash %v", e["hash"])
				}
			}
		}
	}
	for kind, ws := range want {
		if len(got[kind]) == 0 {
			t.Errorf("no %s emitted", kind)
			continue
		}
		got.covers(t, kind, ws, notProduced[kind])
	}
	got.covers(t, "price_changes[]", wantChange, nil)
	got.covers(t, "book level", wantLevel, nil)
	if untyped == 0 {
		t.Error("no frame without event_type emitted")
	}
}

// asObjects returns the objects of a JSON array (nil for anything else).
func asObjects(v any) []map[string]any {
	a, _ := v.([]any)
	var out []map[string]any
	for _, e := range a {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// gammaReads are the market keys the engine reads (internal/gamma's
// rawMarket). The venue's market object has about eighty keys; the
// simulator produces the ones the engine reads and a few more, so the
// produced-keys direction is held to these, while every key it does
// produce must be one the venue sends, with the venue's type.
var gammaReads = []string{"id", "conditionId", "question", "slug", "clobTokenIds", "outcomes", "endDate", "active",
	"closed", "archived", "acceptingOrders", "enableOrderBook", "negRisk", "orderPriceMinTickSize"}

func TestGammaMarketMatchesVenueShape(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(venueFixtures(t), "gamma", "market*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no captured Gamma markets (%v)", err)
	}
	var caps []map[string]any
	for _, f := range files {
		caps = append(caps, loadCapture(t, f))
	}
	want := shapeOf(caps...)
	required := shape{types: map[string]string{}, always: map[string]bool{}}
	optional := map[string]bool{}
	for k, typ := range want.types {
		if slices.Contains(gammaReads, k) {
			required.types[k], required.always[k] = typ, true
		} else {
			optional[k] = true
		}
	}
	if len(required.types) != len(gammaReads) {
		t.Fatalf("the captures carry %d of the %d keys the engine reads", len(required.types), len(gammaReads))
	}
	s := startSim(t, Config{Seed: 1, Markets: 3, Manual: true})
	var ms []map[string]any
	getJSON(t, s.URL()+"/markets", &ms)
	if len(ms) == 0 {
		t.Fatal("the simulator listed no markets")
	}
	got := produced{}
	for _, m := range ms {
		got.check(t, "gamma market", want, m, optional)
	}
	got.covers(t, "gamma market", required, nil)
	t.Logf("the simulator's markets carry %d of the %d keys in the venue's captures", len(got["gamma market"]), len(want.types))
}
