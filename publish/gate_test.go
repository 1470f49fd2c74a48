package publish

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/polyfeed/polyfeed/internal/natsd"
	"github.com/polyfeed/polyfeed/internal/poll"
	"github.com/polyfeed/polyfeed/internal/sim"
)

// testGate is a Gate the test flips by market.
type testGate struct {
	mu  sync.Mutex
	pub map[string]bool
	gen atomic.Uint64
}

func (g *testGate) Publishes(c string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.pub[c]
}

func (g *testGate) Gen() uint64 { return g.gen.Load() }

func (g *testGate) set(c string, v bool) {
	g.mu.Lock()
	g.pub[c] = v
	g.mu.Unlock()
	g.gen.Add(1)
}

// epochsOf returns the highest epoch of each asset of market in msgs.
func (r *rig) epochsOf(msgs []streamMsg, market string) map[string]int64 {
	out := map[string]int64{}
	for _, m := range msgs {
		if m.Market == market && m.Epoch > out[m.Asset] {
			out[m.Asset] = m.Epoch
		}
	}
	return out
}

// TestGate: only the markets the gate accepts are published; a market the
// gate gives starts a new epoch with a book, at once; one it takes away
// gets stale "moved" and nothing more; given back, it starts an epoch
// above the old one; Restart raises an epoch on demand.
func TestGate(t *testing.T) {
	g := &testGate{pub: map[string]bool{}}
	r := newRig(t, rigConfig{
		sim:  sim.Config{Seed: 31, Markets: 6, Rate: 300},
		nats: natsd.Config{Memory: true},
		pub:  func(c *Config) { c.Gate = g },
	})
	a, b := r.markets[0], r.markets[1]
	g.set(a.ConditionID, true)
	r.waitValid()

	books := func(market string, above int64) error {
		got := map[string]bool{}
		for _, m := range r.readStream(EventsStream(DefaultPrefix)) {
			if m.Type == TypeBook && m.Market == market && m.Epoch > above {
				got[m.Asset] = true
			}
		}
		for _, m := range r.markets {
			if m.ConditionID == market {
				for _, id := range m.AssetIDs {
					if !got[id] {
						return fmt.Errorf("asset %s: no book above epoch %d", id, above)
					}
				}
			}
		}
		return nil
	}
	poll.For(t, 10*time.Second, 100*time.Millisecond, func() error { return books(a.ConditionID, 0) })
	for _, m := range r.readStream(EventsStream(DefaultPrefix)) {
		if m.Market != a.ConditionID {
			t.Fatalf("published %s of market %s, which the gate refuses", m.Type, m.Market)
		}
	}

	g.set(b.ConditionID, true)
	poll.For(t, 5*time.Second, 100*time.Millisecond, func() error { return books(b.ConditionID, 0) })

	before := r.epochsOf(r.readStream(EventsStream(DefaultPrefix)), a.ConditionID)
	g.set(a.ConditionID, false)
	poll.For(t, 5*time.Second, 100*time.Millisecond, func() error {
		moved := map[string]bool{}
		for _, m := range r.readStream(EventsStream(DefaultPrefix)) {
			if m.Market == a.ConditionID && m.Type == TypeStatus && m.State == StateStale && m.Reason == reasonMoved {
				moved[m.Asset] = true
			}
		}
		for _, id := range a.AssetIDs {
			if !moved[id] {
				return fmt.Errorf("asset %s: no stale moved", id)
			}
		}
		return nil
	})
	cut := time.Now().Add(500 * time.Millisecond)
	time.Sleep(time.Second) // the sim keeps trading market a: nothing of it may follow
	for _, m := range r.readStreamFrom(EventsStream(DefaultPrefix), cut) {
		if m.Market == a.ConditionID {
			t.Fatalf("published %s %s:%d:%d after the gate took market a away", m.Type, m.Asset, m.Epoch, m.Seq)
		}
	}

	g.set(a.ConditionID, true)
	var old int64
	for _, e := range before {
		old = max(old, e)
	}
	poll.For(t, 5*time.Second, 100*time.Millisecond, func() error { return books(a.ConditionID, old) })

	id := b.AssetIDs[0]
	e, ok := r.pub.Epoch(id)
	if !ok {
		t.Fatalf("Epoch(%s): not published", id)
	}
	r.pub.Restart(id, e+1000)
	poll.For(t, 5*time.Second, 100*time.Millisecond, func() error {
		for _, m := range r.readStream(EventsStream(DefaultPrefix)) {
			if m.Asset == id && m.Type == TypeBook && m.Epoch > int64(e)+1000 {
				return nil
			}
		}
		return fmt.Errorf("no book of %s above epoch %d", id, e+1000)
	})
	if st := r.pub.Stats(); st.Moved < uint64(len(a.AssetIDs)) || st.Resumed == 0 {
		t.Errorf("stats moved %d resumed %d", st.Moved, st.Resumed)
	}
}
