package recycle

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/polyfeed/polyfeed/engine/assets"
	"github.com/polyfeed/polyfeed/engine/markets"
	"github.com/polyfeed/polyfeed/engine/venue"
	"github.com/polyfeed/polyfeed/internal/poll"
	"github.com/polyfeed/polyfeed/internal/sim"
	"github.com/polyfeed/polyfeed/internal/testrig"
	"github.com/polyfeed/polyfeed/internal/wire"
)

// simRig runs the control plane (registry, pool, lifecycle, recycler) against the
// simulator with fast churn. Its sink decodes frames and records snapshots on their
// connection, as the router does; books themselves are the data path's business.
type simRig struct {
	s    *sim.Server
	reg  *assets.Registry
	pool *venue.Pool
	life *markets.Lifecycle
	recy *Recycler
	rec  *dropRecorder

	decMu sync.Mutex
	dec   *wire.Decoder
}

func (g *simRig) sink(connID int64, frame []byte, recv int64) {
	g.decMu.Lock()
	defer g.decMu.Unlock()
	evs, _ := g.dec.Decode(frame)
	for i := range evs {
		if evs[i].Kind == wire.KindBook {
			g.pool.MarkSnapshot(connID, evs[i].AssetID, recv)
		}
	}
}

func newSimRig(t *testing.T, faults sim.Faults, lifeCfg markets.Config, recyCfg Config) *simRig {
	leakCheck(t)
	s := testrig.Sim(t, sim.Config{Seed: 11, Markets: 20, Rate: 400, ChurnPerMinute: 600, NoBookEvery: -1, Faults: faults})

	g := &simRig{s: s, reg: assets.New(nil), rec: &dropRecorder{}, dec: wire.NewDecoder()}
	pcfg := testPoolConfig(s.WSURL())
	pcfg.MinBatch, pcfg.MaxWait = 1, time.Millisecond
	g.pool = venue.NewPool(pcfg, g.reg, g.sink)
	lifeCfg.Now = s.Now // end dates are on the simulator's virtual clock
	lifeCfg.Gamma.BaseURL = s.GammaURL()
	var err error
	if g.life, err = markets.New(lifeCfg, g.reg, g.pool, g.rec); err != nil {
		t.Fatal(err)
	}
	g.recy = New(recyCfg, g.reg, g.pool, &testMover{pool: g.pool})
	// Started in the application's order; the rig stops them in reverse.
	testrig.Start(t, "pool", g.pool)
	testrig.Start(t, "lifecycle", g.life)
	testrig.Start(t, "recycler", g.recy)
	return g
}

func simLifecycleConfig() markets.Config {
	return markets.Config{
		DiscoveryInterval: 100 * time.Millisecond,
		ExpiryInterval:    20 * time.Millisecond,
		CleanupInterval:   20 * time.Millisecond,
		CleanupGrace:      300 * time.Millisecond,
		ConfirmGrace:      time.Second,
		// Markets live two seconds here: they end at their end date, not 15 min later.
		ExpiryGrace: -1,
	}
}

// TestLifecycleAndRecyclerOnSimulator: markets live about two seconds; every one that ends
// leaves the sockets, the registry and the books (allEndedGone checks each, and at least two),
// new ones get subscribed, and a socket whose data stalls (PONG still flowing) is replaced.
func TestLifecycleAndRecyclerOnSimulator(t *testing.T) {
	rc := fastConfig()
	rc.StallTimeout = 400 * time.Millisecond
	rc.Stabilization = 200 * time.Millisecond
	// Every socket opened at first stalls after 600 ms; the replacements are opened after the
	// fault is lifted.
	g := newSimRig(t, sim.Faults{StallSocketRate: 1, StallAfter: 600 * time.Millisecond}, simLifecycleConfig(), rc)
	poll.For(t, 10*time.Second, 5*time.Millisecond, func() error {
		// The stall is drawn when the simulator accepts the socket: wait for that.
		if cs := g.pool.Conns(); len(cs) == 0 || cs[0].Status() != venue.ConnConnected {
			return fmt.Errorf("no connected socket yet")
		}
		return nil
	})
	if err := g.s.SetFaults(sim.Faults{}); err != nil {
		t.Fatal(err)
	}
	first := g.pool.Conns()[0].ID()
	start := g.s.Now()

	poll.For(t, 20*time.Second, 10*time.Millisecond, func() error {
		if st := g.recy.Stats(); st.ByReason[ReasonStall] < 1 || st.Completed < 1 {
			return fmt.Errorf("recycler %+v; want a completed stall recycle", st)
		}
		if _, ok := g.pool.Conn(first); ok {
			return fmt.Errorf("stalled connection %d still in the pool", first)
		}
		if err := g.churnDone(start); err != nil {
			return err
		}
		if n, err := g.allEndedGone(start); err != nil || n < 2 {
			return fmt.Errorf("%d ended markets checked: %v", n, err)
		}
		return nil
	})
}

// churnDone checks the effects of churn since virtual time start: a market created after it
// is subscribed, and a market that ended after it was removed everywhere.
func (g *simRig) churnDone(start time.Time) error {
	var born, gone bool
	for _, m := range g.s.Markets() {
		if !m.Closed && m.EndDate.Sub(start) > 2*time.Second { // created after start (a market lives 2 s)
			e, ok := g.reg.Get(m.TokenIDs[0])
			if ok && e.State == assets.StateSubscribed {
				born = true
			}
		}
		if m.Closed && m.EndDate.After(start) {
			_, dropped, _, _ := g.rec.snapshot()
			if _, ok := g.reg.Get(m.TokenIDs[0]); ok || !contains(dropped, m.TokenIDs[0]) {
				continue
			}
			carried := false
			for _, c := range g.pool.Conns() {
				carried = carried || c.Has(m.TokenIDs[0])
			}
			if !carried {
				gone = true
			}
		}
	}
	switch {
	case !born:
		return fmt.Errorf("no market created after %v is subscribed yet", start)
	case !gone:
		return fmt.Errorf("no market ended after %v has left the registry, the books and the sockets", start)
	}
	return nil
}

func contains(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// TestRecyclerPollutionOnSimulator: with expired assets left subscribed, churn pollutes the
// connection until the recycler replaces it.
func TestRecyclerPollutionOnSimulator(t *testing.T) {
	off := false
	lc := simLifecycleConfig()
	lc.UnsubscribeExpired = &off
	lc.CleanupGrace = time.Hour
	rc := fastConfig()
	rc.MinAge = 500 * time.Millisecond
	rc.Stabilization = 200 * time.Millisecond
	g := newSimRig(t, sim.Faults{}, lc, rc)
	poll.For(t, 20*time.Second, 10*time.Millisecond, func() error {
		if st := g.recy.Stats(); st.ByReason[ReasonPollution] < 1 || st.Completed < 1 {
			return fmt.Errorf("recycler %+v; want a completed pollution recycle", st)
		}
		return nil
	})
}

// dropRecorder stands in for the data path's DropBooks and records what the lifecycle
// dropped; the real pool does the unsubscribing.
type dropRecorder struct {
	mu      sync.Mutex
	dropped []string
}

func (r *dropRecorder) DropBooks(ids []string) {
	r.mu.Lock()
	r.dropped = append(r.dropped, ids...)
	r.mu.Unlock()
}

func (r *dropRecorder) snapshot() (unsub, dropped, added, expired []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return nil, slices.Clone(r.dropped), nil, nil
}
