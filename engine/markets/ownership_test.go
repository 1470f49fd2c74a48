package markets

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// owner is an Ownership the test flips by market.
type owner struct {
	mu  sync.Mutex
	own map[string]bool
}

func (o *owner) Owns(c string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.own[c]
}

func (o *owner) set(c string, v bool) {
	o.mu.Lock()
	o.own[c] = v
	o.mu.Unlock()
}

// TestOwnershipCarriesOnlyOwnedMarkets: discovery tracks every market but
// registers only the owned ones; Reconcile registers a market that became
// ours and releases (unsubscribe, remove, drop) one that is no longer ours;
// a parked market still expires and is reported.
func TestOwnershipCarriesOnlyOwnedMarkets(t *testing.T) {
	o := &owner{own: map[string]bool{}}
	r := newRig(t, func(c *Config) { c.Ownership = o })
	far := r.clk.Now().Add(24 * time.Hour)
	ms := []gammaMarket{testMarket(1, far), testMarket(2, far), testMarket(3, far)}
	o.set(ms[0].cond, true)
	r.g.set(ms...)
	r.l.discover(context.Background())
	if n := r.reg.Counts().Total; n != 2 {
		t.Fatalf("registry holds %d assets; want the 2 of the owned market", n)
	}
	if got := len(r.l.Markets()); got != 3 {
		t.Fatalf("Markets() = %d; want all 3 tracked", got)
	}
	if _, _, added, _ := r.rec.snapshot(); len(added) != 3 {
		t.Errorf("OnNewMarket calls = %d; want 3 (parked markets are shared too)", len(added))
	}

	o.set(ms[1].cond, true)
	o.set(ms[0].cond, false)
	if took, released := r.l.Reconcile(); took != 1 || released != 1 {
		t.Fatalf("Reconcile = took %d released %d; want 1, 1", took, released)
	}
	for _, id := range ms[1].tokens {
		if _, ok := r.reg.Get(id); !ok {
			t.Errorf("asset %s of the market that became ours is not registered", id)
		}
	}
	unsub, dropped, _, _ := r.rec.snapshot()
	for _, id := range ms[0].tokens {
		if _, ok := r.reg.Get(id); ok {
			t.Errorf("asset %s of the released market is still registered", id)
		}
		if !slices.Contains(unsub, id) || !slices.Contains(dropped, id) {
			t.Errorf("asset %s released without unsubscribe (%v) or drop (%v)", id, unsub, dropped)
		}
	}
	if took, released := r.l.Reconcile(); took+released != 0 {
		t.Errorf("a second Reconcile moved %d, %d; want nothing", took, released)
	}
	// Taken back: registered again.
	o.set(ms[0].cond, true)
	if took, _ := r.l.Reconcile(); took != 1 {
		t.Fatalf("Reconcile took %d; want market 1 back", took)
	}
	if _, ok := r.reg.Get(ms[0].tokens[0]); !ok {
		t.Error("market 1 taken back but not registered")
	}

	// A parked market can be expired (the shared listing dropped it) and is
	// never registered again.
	if !r.l.Expire(ms[2].cond, "unlisted") {
		t.Fatal("Expire of the parked market 3: want true")
	}
	if _, expired, ok := r.l.Market(ms[2].cond); !ok || !expired {
		t.Errorf("market 3 after Expire: tracked %v expired %v; want both", ok, expired)
	}
	o.set(ms[2].cond, true)
	r.l.Reconcile()
	if _, ok := r.reg.Get(ms[2].tokens[0]); ok {
		t.Error("an expired parked market was registered when it became ours")
	}
	if !r.l.Expire(ms[1].cond, "unlisted") || r.l.Expire(ms[1].cond, "unlisted") {
		t.Error("Expire: want true once, then false")
	}
}
