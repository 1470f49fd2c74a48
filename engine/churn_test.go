package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/engine/assets"
	"github.com/polyfeed/polyfeed/engine/markets"
	"github.com/polyfeed/polyfeed/engine/recycle"
	"github.com/polyfeed/polyfeed/internal/poll"
	"github.com/polyfeed/polyfeed/internal/sim"
	"github.com/polyfeed/polyfeed/internal/testrig"
)

// TestAppChurnRecyclesAndTruth runs the whole engine (Gamma discovery,
// expiry, cleanup, recycling) against a simulator whose markets expire
// every few seconds and whose sockets sometimes stall silently. It proves:
// new markets get subscribed; expired assets leave the registry and the
// books after the grace period; pollution- and stall-triggered recycles
// happen; and after the venue pauses, every live book equals the truth.
func TestAppChurnRecyclesAndTruth(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	stall, err := sim.ParseFaults("stall=socket:0.3@1500ms")
	if err != nil {
		t.Fatal(err)
	}
	s := testrig.Sim(t, sim.Config{Seed: 31, Markets: 80, Rate: 2000, ChurnPerMinute: 600, Faults: stall})
	keep := false
	a := testApp(t, s, func(c *Config) {
		c.AssetsPerConn = 40
		c.DisableLifecycle = false
		c.Lifecycle = markets.Config{
			DiscoveryInterval: 300 * time.Millisecond, ExpiryInterval: 100 * time.Millisecond,
			CleanupInterval: 100 * time.Millisecond, CleanupGrace: 700 * time.Millisecond,
			// Expired assets stay on their sockets, so churn pollutes them.
			UnsubscribeExpired: &keep,
			// Ten markets close a second here, so a listing taken a second
			// after the previous one (a loaded machine) misses more than the
			// default 10 % of the live markets and is suspect: nothing would
			// expire on it, nor on any later one once the venue pauses.
			SuspectExpiryShare: 0.5,
		}
		c.DisableRecycling = false
		c.Recycler = recycle.Config{
			CheckInterval: 100 * time.Millisecond, PollutionThreshold: 0.3, MinAge: 500 * time.Millisecond,
			StallTimeout: 700 * time.Millisecond, SnapshotTimeout: 2 * time.Second,
			Stabilization: 200 * time.Millisecond, MaxStabilization: time.Second,
		}
	})
	poll.For(t, 60*time.Second, 50*time.Millisecond, func() error {
		st := a.Stats()
		ls, _ := st.Lifecycle.(markets.Stats)
		rs, _ := st.Recycler.(recycle.Stats)
		switch {
		case ls.NewMarkets < 100:
			return fmt.Errorf("%d markets tracked so far", ls.NewMarkets)
		case ls.RemovedAssets == 0:
			return fmt.Errorf("no expired asset removed yet (expired %d)", ls.ExpiredAssets)
		case rs.ByReason[recycle.ReasonPollution] == 0 || rs.ByReason[recycle.ReasonStall] == 0:
			return fmt.Errorf("recycles so far: %v", rs.ByReason)
		}
		return nil
	})
	// Heal: no more stalls, then let the engine settle on fresh sockets.
	if err := s.SetFaults(sim.Faults{}); err != nil {
		t.Fatal(err)
	}
	// A socket opened just before the fault was cleared may still stall
	// 1.5 s after its open, on the simulator's wall clock: let that
	// schedule play out first (on purpose, time must pass).
	time.Sleep(1600 * time.Millisecond)
	var live []string
	poll.For(t, 30*time.Second, 100*time.Millisecond, func() error {
		live = live[:0]
		for _, m := range s.Markets() {
			if !m.Closed && m.EnableOrderBook {
				live = append(live, m.TokenIDs...)
			}
		}
		for _, id := range live {
			e, ok := a.Registry().Get(id)
			if !ok || e.State != assets.StateSubscribed {
				return fmt.Errorf("live asset %s… not subscribed yet", id[:10])
			}
		}
		// A socket that stalled before the fault was cleared must have been
		// replaced: every socket carrying live assets delivers data.
		for _, c := range a.Stats().Pool.Connections {
			if c.Status == "CONNECTED" && c.Active > 0 && c.LastDataAgoSec > 0.3 {
				return fmt.Errorf("connection %d silent for %.1fs", c.ConnectionID, c.LastDataAgoSec)
			}
		}
		return nil
	})
	s.Pause()
	waitAllValid(t, a, live, 30*time.Second)
	waitQuiescent(t, a)
	// A socket accepted before the fault was cleared can still go silent
	// after the check above when its stall timer fires late (a loaded
	// machine): the venue then drops its events while the engine cannot yet
	// tell a silent socket from quiet markets, so its books stay valid and
	// stale until the recycler's stall timeout replaces it (then the
	// replacement's snapshots are the truth). A book still wrong after that
	// is a defect.
	poll.For(t, 20*time.Second, 200*time.Millisecond, func() error {
		waitQuiescent(t, a)
		return diffWithTruth(a, s, live)
	})
	compareWithTruth(t, a, s, live)

	// Expired assets are gone from the registry and from the books once the
	// grace period has passed. The simulator is paused (its clock stopped,
	// Gamma still answering), so every market it closed ages in wall time
	// from here on: wait until each is older than discovery, expiry, grace
	// and cleanup take together (with room), and require every one of them
	// gone from both. (Until the next discovery a market that closed just
	// before the pause may even still be SUBSCRIBED.)
	// Expiry by absence needs two complete listings that miss the market.
	const gone = 4 * time.Second // 2 × 0.3 s discovery + 0.1 expiry + 0.7 grace + 0.1 cleanup, and slack
	ctx := context.Background()
	virtual, wall := s.Now(), time.Now()
	closed := 0
	poll.For(t, 30*time.Second, 50*time.Millisecond, func() error {
		closed = 0
		for _, m := range s.Markets() {
			if !m.Closed || !m.EnableOrderBook {
				continue
			}
			age := virtual.Sub(m.EndDate) + time.Since(wall)
			for _, id := range m.TokenIDs {
				closed++
				e, inRegistry := a.Registry().Get(id)
				if age < gone {
					return fmt.Errorf("asset %s… closed only %s ago", id[:10], age.Round(time.Millisecond))
				}
				if inRegistry {
					return fmt.Errorf("asset %s… closed %s ago is still in the registry (%v)", id[:10], age.Round(time.Millisecond), e.State)
				}
				if _, hasBook, err := a.Book(ctx, id, 0); err != nil || hasBook {
					return fmt.Errorf("asset %s… closed %s ago still has a book (err %v)", id[:10], age.Round(time.Millisecond), err)
				}
			}
		}
		return nil
	})
	if closed == 0 {
		t.Fatal("no market closed during the run: the removal check checked nothing")
	}
	t.Logf("all %d assets of closed markets are gone from the registry and the books", closed)
	st := a.Stats()
	ls := st.Lifecycle.(markets.Stats)
	var books int64
	for _, w := range st.Workers.WorkerStats {
		books += w.Books
	}
	if books > int64(ls.Assets)+int64(st.Registry.Expired) {
		t.Errorf("%d books for %d live and %d expired assets: removed books linger", books, ls.Assets, st.Registry.Expired)
	}
}

// diffWithTruth reports how many of ids' engine books differ from the
// simulator's truth, with the first difference, or nil.
func diffWithTruth(a *App, s *sim.Server, ids []string) error {
	bad, first := 0, ""
	for _, id := range ids {
		truth, ok := s.Book(id)
		if !ok {
			return fmt.Errorf("simulator has no book for %s", id)
		}
		v, ok, err := a.Book(context.Background(), id, 0)
		msg := "no book"
		if err == nil && ok {
			msg = diffBook(v, truth)
		}
		if msg != "" {
			if bad++; bad == 1 {
				first = fmt.Sprintf("book %s…: %s", id[:12], msg)
			}
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d books differ from the simulator's truth (%s)", bad, len(ids), first)
	}
	return nil
}
