package sim

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/polyfeed/polyfeed/fixed"
)

// clientBook is the simplest possible client-side book: price → size per side.
type clientBook struct {
	bids, asks map[fixed.Point]fixed.Point
	tick       fixed.Point
}

type wireLevel struct{ Price, Size string }

type wireEvent struct {
	EventType    string      `json:"event_type"`
	AssetID      string      `json:"asset_id"`
	Bids         []wireLevel `json:"bids"`
	Asks         []wireLevel `json:"asks"`
	Buys         []wireLevel `json:"buys"`
	Sells        []wireLevel `json:"sells"`
	TickSize     string      `json:"tick_size"`
	NewTickSize  string      `json:"new_tick_size"`
	PriceChanges []struct {
		AssetID           string `json:"asset_id"`
		Price, Size, Side string
		BestBid           string `json:"best_bid"`
		BestAsk           string `json:"best_ask"`
	} `json:"price_changes"`
}

// kindOf detects the kind by keys, as a client must (some frames have no event_type).
func (e *wireEvent) kindOf() string {
	switch {
	case e.EventType != "":
		return e.EventType
	case e.Bids != nil || e.Asks != nil || e.Buys != nil || e.Sells != nil:
		return "book"
	case e.PriceChanges != nil:
		return "price_change"
	case e.NewTickSize != "":
		return "tick_size_change"
	}
	return "last_trade_price"
}

func (b *clientBook) best() (bid, ask fixed.Point) {
	for p := range b.bids {
		bid = max(bid, p)
	}
	for p := range b.asks {
		if ask == 0 || p < ask {
			ask = p
		}
	}
	return bid, ask
}

func (b *clientBook) check(where string) error {
	bid, ask := b.best()
	if bid != 0 && ask != 0 && bid >= ask {
		return fmt.Errorf("%s: crossed book: bid %v >= ask %v", where, bid, ask)
	}
	for _, side := range []map[fixed.Point]fixed.Point{b.bids, b.asks} {
		for p := range side {
			if p%b.tick != 0 || p < b.tick || p > one-b.tick {
				return fmt.Errorf("%s: price %v off the %v grid", where, p, b.tick)
			}
		}
	}
	return nil
}

// applyStream applies events to books, checking every invariant a client relies on.
func applyStream(t *testing.T, books map[string]*clientBook, evs []json.RawMessage) {
	t.Helper()
	for _, raw := range evs {
		var e wireEvent
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("decode %s: %v", raw, err)
		}
		switch e.kindOf() {
		case "book":
			b := &clientBook{bids: map[fixed.Point]fixed.Point{}, asks: map[fixed.Point]fixed.Point{}, tick: fixed.MustParse(e.TickSize)}
			for _, l := range append(e.Bids, e.Buys...) {
				b.bids[fixed.MustParse(l.Price)] = fixed.MustParse(l.Size)
			}
			for _, l := range append(e.Asks, e.Sells...) {
				b.asks[fixed.MustParse(l.Price)] = fixed.MustParse(l.Size)
			}
			books[e.AssetID] = b
			if err := b.check("book"); err != nil {
				t.Fatal(err)
			}
		case "price_change":
			for _, pc := range e.PriceChanges {
				b := books[pc.AssetID]
				if b == nil {
					t.Fatalf("price_change for %s before its snapshot", pc.AssetID)
				}
				side := b.bids
				if pc.Side == "SELL" {
					side = b.asks
				}
				p, sz := fixed.MustParse(pc.Price), fixed.MustParse(pc.Size)
				if sz == 0 {
					delete(side, p)
				} else {
					side[p] = sz
				}
				if err := b.check("price_change"); err != nil {
					t.Fatal(err)
				}
				bid, ask := b.best()
				if len(b.asks) == 0 {
					ask = one // the venue's "no asks" sentinel (PROTOCOL.md)
				}
				if bid != fixed.MustParse(pc.BestBid) || ask != fixed.MustParse(pc.BestAsk) {
					t.Fatalf("best_bid/best_ask %s/%s; client book has %v/%v", pc.BestBid, pc.BestAsk, bid, ask)
				}
			}
		case "tick_size_change":
			if b := books[e.AssetID]; b != nil {
				b.tick = fixed.MustParse(e.NewTickSize)
			}
		}
	}
}

func equalTruth(t *testing.T, s *Server, books map[string]*clientBook, ids []string) {
	t.Helper()
	for _, id := range ids {
		got := books[id]
		var truth Book
		code, _ := getJSON(t, s.URL()+"/sim/books/"+id, &truth)
		if code != 200 || got == nil {
			t.Fatalf("asset %s: truth status %d, client book %v", id, code, got)
		}
		flat := func(m map[fixed.Point]fixed.Point, desc bool) []Level {
			var l []Level
			for p, sz := range m {
				l = append(l, Level{p, sz})
			}
			slices.SortFunc(l, func(a, b Level) int {
				if desc {
					return int(b.Price - a.Price)
				}
				return int(a.Price - b.Price)
			})
			return l
		}
		if b := flat(got.bids, true); !slices.Equal(b, truth.Bids) {
			t.Fatalf("asset %s bids: client %v, truth %v", id, b, truth.Bids)
		}
		if a := flat(got.asks, false); !slices.Equal(a, truth.Asks) {
			t.Fatalf("asset %s asks: client %v, truth %v", id, a, truth.Asks)
		}
		if got.tick != truth.TickSize {
			t.Fatalf("asset %s tick: client %v, truth %v", id, got.tick, truth.TickSize)
		}
	}
}

// TestStreamMatchesTruth is the property the engine relies on: applying the stream a client
// receives, from its subscribe snapshot on, gives exactly the simulator's book once paused,
// with no crossed book and no off-grid price on the way. One client subscribes at the start,
// a second one mid-stream (snapshot + live must join without gap or overlap) and drops one
// token of a market (partial price_change messages).
func TestStreamMatchesTruth(t *testing.T) {
	s := startSim(t, Config{Seed: 11, Markets: 40, Rate: 20000})
	ids := bookAssets(s)
	early, late := dial(t, s), dial(t, s)
	early.subscribe(t, ids, true)
	waitFor(t, "events", func() bool { return s.Stats().Generated["price_change"] > 2000 })
	late.subscribe(t, ids[:len(ids)/2], false)
	waitFor(t, "more events", func() bool { return s.Stats().Generated["price_change"] > 6000 })
	late.op(t, "unsubscribe", ids[:1])
	waitFor(t, "tick size changes and trades", func() bool {
		st := s.Stats()
		return st.Generated["price_change"] > 12000 && st.Generated["last_trade_price"] > 100 && st.Generated["tick_size_change"] > 0
	})
	s.Pause()
	early.sync(t)
	late.sync(t)

	for _, c := range []struct {
		name string
		cl   *wsClient
		ids  []string
	}{{"early", early, ids}, {"late", late, ids[1 : len(ids)/2]}} {
		t.Run(c.name, func(t *testing.T) {
			books := map[string]*clientBook{}
			evs := events(t, c.cl.takeFrames())
			// The early client holds every asset from the start, so the
			// grid checks must have seen a tick size change on its stream.
			if ticks := countKind(evs, "tick_size_change"); c.name == "early" && ticks == 0 {
				t.Error("no tick_size_change reached the client: the grid checks covered one tick size only")
			}
			applyStream(t, books, evs)
			equalTruth(t, s, books, c.ids)
		})
	}
}

// countKind counts the events of one kind.
func countKind(evs []json.RawMessage, kind string) int {
	n := 0
	for _, raw := range evs {
		var we wireEvent
		if json.Unmarshal(raw, &we) == nil && we.kindOf() == kind {
			n++
		}
	}
	return n
}

// TestStreamMatchesTruthWithChurnAndFrameFaults repeats the property with markets closing
// and opening and with every kind of extra garbage frame injected: a client that skips what
// it cannot decode still ends with the truth.
func TestStreamMatchesTruthWithChurnAndFrameFaults(t *testing.T) {
	f, err := ParseFaults("malformed=0.05,truncated=0.05,unknown=0.05,oversized=0.01:4096")
	if err != nil {
		t.Fatal(err)
	}
	s := startSim(t, Config{Seed: 12, Markets: 30, Rate: 10000, Manual: true, ChurnPerMinute: 300, Faults: f})
	ids := bookAssets(s)
	c := dial(t, s)
	c.subscribe(t, ids, true)
	c.sync(t)
	s.Step(300) // 3 s virtual: 15 markets close
	s.Pause()
	c.sync(t)
	var good []json.RawMessage
	skipped := 0
	for _, f := range c.takeFrames() {
		var probe any
		if json.Unmarshal(f, &probe) != nil {
			skipped++
			continue
		}
		for _, raw := range events(t, [][]byte{f}) {
			var e map[string]any
			_ = json.Unmarshal(raw, &e)
			if et, _ := e["event_type"].(string); len(et) > 4 && et[:4] == "sim_" {
				skipped++
				continue
			}
			good = append(good, raw)
		}
	}
	if skipped == 0 {
		t.Fatal("no injected frames seen")
	}
	books := map[string]*clientBook{}
	applyStream(t, books, good)
	equalTruth(t, s, books, ids)
	// Closed markets' assets got nothing after their market_resolved.
	resolvedAt := map[string]int{}
	for i, raw := range good {
		var e map[string]any
		_ = json.Unmarshal(raw, &e)
		if e["event_type"] == "market_resolved" {
			for _, id := range e["assets_ids"].([]any) {
				resolvedAt[id.(string)] = i
			}
		}
		for _, id := range assetsIn(e) {
			if at, ok := resolvedAt[id]; ok && at < i {
				t.Fatalf("asset %s got an event after its market resolved", id)
			}
		}
	}
	if len(resolvedAt) == 0 {
		t.Fatal("no market_resolved seen")
	}
}
