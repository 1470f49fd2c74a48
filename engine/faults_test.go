package engine

// The fault matrix: every failure mode of PROTOCOL.md §1 (and a few of our
// own) injected by the simulator, each case ending with every engine book
// equal to the simulator's truth and no goroutine left behind.
//
// Under -short each case runs once on a few sockets; `make test-faults`
// runs the full sizes (more markets, more sockets, repeated rounds).
// Cases already proven elsewhere are referenced, not repeated:
//   - slow handler / backpressure: TestIntegrationSlowHandlerBackpressure
//   - single-asset silent stall: TestIntegrationAssetStallHealed (the full
//     matrix repeats it at size in TestFaultAssetStall)

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/engine/markets"
	"github.com/polyfeed/polyfeed/engine/recycle"
	"github.com/polyfeed/polyfeed/engine/venue"
	"github.com/polyfeed/polyfeed/internal/poll"
	"github.com/polyfeed/polyfeed/internal/sim"
	"github.com/polyfeed/polyfeed/internal/testrig"
)

// faultSize is how big a matrix case runs.
type faultSize struct {
	markets int     // simulator markets (about 2 assets each)
	rate    float64 // simulator messages per second
	perConn int     // assets per socket: several sockets per case
	rounds  int     // how many times a case injects its fault
}

func faultScale() faultSize {
	if testing.Short() {
		return faultSize{markets: 60, rate: 1500, perConn: 40, rounds: 1}
	}
	return faultSize{markets: 400, rate: 3000, perConn: 100, rounds: 3}
}

// faultSim starts the simulator sized for the matrix with the given fault
// SPEC active from the start.
func faultSim(t *testing.T, seed int64, spec string) *sim.Server {
	t.Helper()
	f, err := sim.ParseFaults(spec)
	if err != nil {
		t.Fatal(err)
	}
	sz := faultScale()
	return testrig.Sim(t, sim.Config{Seed: seed, Markets: sz.markets, Rate: sz.rate, Faults: f})
}

// faultApp is testApp with several sockets and extra settings.
func faultApp(t *testing.T, s *sim.Server, mod func(*Config)) *App {
	t.Helper()
	return testApp(t, s, func(c *Config) {
		c.AssetsPerConn = faultScale().perConn
		if mod != nil {
			mod(c)
		}
	})
}

// setFaults replaces the simulator's faults with SPEC.
func setFaults(t *testing.T, s *sim.Server, spec string) {
	t.Helper()
	f, err := sim.ParseFaults(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetFaults(f); err != nil {
		t.Fatal(err)
	}
}

// connTotals sums the pool's per-connection counters.
type connTotals struct {
	conns                                         int
	sessions, disconnects, oversize, stale, dials uint64
}

func poolTotals(a *App) connTotals {
	var n connTotals
	for _, c := range a.Pool().Stats().Conns {
		n.conns++
		n.sessions += c.Sessions
		n.disconnects += c.Disconnects
		n.oversize += c.OversizeCloses
		n.stale += c.StaleCloses
		n.dials += c.DialFailures
	}
	return n
}

// settleAndCompare pauses the simulator once every book is valid again,
// waits until the engine applied everything, and compares every book.
func settleAndCompare(t *testing.T, a *App, s *sim.Server, ids []string) {
	t.Helper()
	waitAllValid(t, a, ids, 60*time.Second)
	s.Pause()
	waitQuiescent(t, a)
	compareWithTruth(t, a, s, ids)
}

// waitResnapshotted waits until every connection had at least minSessions
// sessions, opened a new session after each disconnect, and got a snapshot
// of every carried asset on its current session:
// books that were valid before a disconnect stay valid, so validity alone
// does not show that the new session's snapshots arrived.
func waitResnapshotted(t *testing.T, a *App, minSessions uint64) {
	t.Helper()
	poll.For(t, 60*time.Second, 20*time.Millisecond, func() error {
		for _, c := range a.Pool().Stats().Conns {
			if c.Assets == 0 {
				continue
			}
			want := max(minSessions, c.Disconnects+1)
			if c.Status != venue.ConnConnected || c.Sessions < want || c.AwaitingSnapshot > 0 {
				return fmt.Errorf("conn %d: %s, %d sessions (want >= %d), %d of %d assets awaiting a snapshot",
					c.ID, c.Status, c.Sessions, want, c.AwaitingSnapshot, c.Assets)
			}
		}
		return nil
	})
}

// TestFaultCloseCodes proves that every way the venue ends a socket — TCP
// dropped without a close frame (1006), normal closure (1000), going away
// (1001), policy violation (1008), internal error (1011) — is recorded with
// its code, followed by a reconnect and a resubscribe of the whole asset
// set, and that the books come back to the truth: the fresh snapshots of
// the new session replace whatever was missed while disconnected. The
// simulator closes every socket a fixed time after it opens, so each socket
// goes through several consecutive sessions with live data in flight.
// The books, not the handler's events, are compared: where each session is
// cut depends on when its dial lands. TestFaultMatchesControl/reconnect
// makes the same cut on a Manual venue and compares every event.
func TestFaultCloseCodes(t *testing.T) {
	sz := faultScale()
	for _, code := range []int{1006, 1000, 1001, 1008, 1011} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			t.Cleanup(func() { goleak.VerifyNone(t) })
			s := faultSim(t, int64(100+code), "none")
			a := faultApp(t, s, nil)
			ids := addSimMarkets(a, s)
			waitAllValid(t, a, ids, 30*time.Second)
			before := poolTotals(a)
			setFaults(t, s, fmt.Sprintf("close=%d@250ms", code))
			// Sockets opened before SetFaults carry no close timer: kick
			// them once so every session from now on is a faulty one.
			if _, err := s.CloseSockets(code); err != nil {
				t.Fatal(err)
			}
			want := uint64(2 * sz.rounds)
			poll.For(t, 30*time.Second, 20*time.Millisecond, func() error {
				for _, c := range a.Pool().Stats().Conns {
					if c.Assets > 0 && c.Disconnects < want {
						return fmt.Errorf("conn %d: %d disconnects, want %d", c.ID, c.Disconnects, want)
					}
				}
				return nil
			})
			wantCode := uint16(code)
			if code == 1006 {
				wantCode = 0 // no close frame: no code
			}
			for _, c := range a.Pool().Stats().Conns {
				if c.Assets > 0 && c.LastCloseCode != wantCode {
					t.Errorf("conn %d: last close code %d (%s); want %d", c.ID, c.LastCloseCode, c.LastError, wantCode)
				}
			}
			setFaults(t, s, "none")
			// A session opened just before the fault was cleared still
			// carries the venue's 250 ms close timer: let it fire first (a
			// wall-clock timer in the simulator, so time must pass).
			time.Sleep(400 * time.Millisecond)
			after := poolTotals(a)
			waitResnapshotted(t, a, 1+want)
			if after.conns != before.conns {
				t.Errorf("pool went from %d to %d connections: reconnects must reuse them", before.conns, after.conns)
			}
			settleAndCompare(t, a, s, ids)
			if d := a.Stats().Router.Dropped; d != 0 {
				t.Errorf("router dropped %d events; want 0", d)
			}
		})
	}
}

// TestFaultBadFrames proves that broken JSON, truncated copies of real
// frames and events of an unknown type are skipped and counted without
// costing the socket: no disconnect, no reconnect, and the books still
// equal the truth (a truncated frame's undecodable part invalidates the
// books it named until their resync, which the comparison covers).
func TestFaultBadFrames(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	sz := faultScale()
	s := faultSim(t, 31, "malformed=0.05,truncated=0.05,unknown=0.05")
	a := faultApp(t, s, nil)
	ids := addSimMarkets(a, s)
	poll.For(t, 30*time.Second, 20*time.Millisecond, func() error {
		inj := s.Stats().Injected
		if n := inj["malformed"] + inj["truncated"] + inj["unknown"]; n < uint64(100*sz.rounds) {
			return fmt.Errorf("%d bad frames injected so far", n)
		}
		return nil
	})
	setFaults(t, s, "none")
	settleAndCompare(t, a, s, ids)

	inj := s.Stats().Injected
	st := a.Stats().Router
	if want := inj["malformed"] + inj["truncated"]; st.Malformed != want {
		t.Errorf("router counted %d malformed frames; simulator injected %d malformed + %d truncated",
			st.Malformed, inj["malformed"], inj["truncated"])
	}
	poll.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		// The decoder's counters are published while the router idles.
		ds := a.data.router.decStats.Load()
		if ds == nil || ds.Unknown != inj["unknown"] {
			return fmt.Errorf("decoder counted %v unknown events; simulator injected %d", ds, inj["unknown"])
		}
		return nil
	})
	n := poolTotals(a)
	if n.disconnects != 0 || n.sessions != uint64(n.conns) {
		t.Errorf("%d disconnects, %d sessions on %d connections: bad frames must not cost the socket",
			n.disconnects, n.sessions, n.conns)
	}
}

// TestFaultOversizedFrames proves the frame size limit both ways: a frame
// above Config.Conn.MaxFrameBytes closes the socket with 1009 (counted as an
// oversize close), the connection reconnects and resubscribes, and the
// books return to the truth; a large frame under the limit is just an
// unknown event, skipped without a disconnect.
func TestFaultOversizedFrames(t *testing.T) {
	const limit = 256 << 10
	sz := faultScale()
	t.Run("over-limit", func(t *testing.T) {
		t.Cleanup(func() { goleak.VerifyNone(t) })
		s := faultSim(t, 41, fmt.Sprintf("oversized=0.01:%d", 2*limit))
		a := faultApp(t, s, func(c *Config) { c.Conn.MaxFrameBytes = limit })
		ids := addSimMarkets(a, s)
		poll.For(t, 30*time.Second, 20*time.Millisecond, func() error {
			if n := poolTotals(a); n.oversize < uint64(2*sz.rounds) {
				return fmt.Errorf("%d oversize closes so far", n.oversize)
			}
			return nil
		})
		setFaults(t, s, "none")
		var closed uint64
		for _, c := range a.Pool().Stats().Conns {
			closed += c.OversizeCloses
			if c.OversizeCloses > 0 && c.Disconnects < c.OversizeCloses {
				t.Errorf("conn %d: %d oversize closes but %d disconnects", c.ID, c.OversizeCloses, c.Disconnects)
			}
		}
		// Each oversize close ends a session, so the next one is a reconnect.
		waitResnapshotted(t, a, 1)
		settleAndCompare(t, a, s, ids)
		if closed == 0 {
			t.Fatal("no oversize close recorded")
		}
		codes := 0
		for _, c := range a.Pool().Stats().Conns {
			if c.LastCloseCode == 1009 {
				codes++
			}
		}
		if codes == 0 {
			t.Error("no connection reports close code 1009 for its last disconnect")
		}
	})
	t.Run("under-limit", func(t *testing.T) {
		t.Cleanup(func() { goleak.VerifyNone(t) })
		s := faultSim(t, 42, fmt.Sprintf("oversized=0.02:%d", limit/2))
		a := faultApp(t, s, func(c *Config) { c.Conn.MaxFrameBytes = limit })
		ids := addSimMarkets(a, s)
		poll.For(t, 30*time.Second, 20*time.Millisecond, func() error {
			if n := s.Stats().Injected["oversized"]; n < uint64(20*sz.rounds) {
				return fmt.Errorf("%d large frames injected so far", n)
			}
			return nil
		})
		setFaults(t, s, "none")
		settleAndCompare(t, a, s, ids)
		inj := s.Stats().Injected["oversized"]
		poll.For(t, 10*time.Second, 20*time.Millisecond, func() error {
			ds := a.data.router.decStats.Load()
			if ds == nil || ds.Unknown != inj {
				return fmt.Errorf("decoder counted %v unknown events; simulator injected %d large frames", ds, inj)
			}
			return nil
		})
		if n := poolTotals(a); n.disconnects != 0 || n.oversize != 0 {
			t.Errorf("%d disconnects, %d oversize closes: frames under the limit must not cost the socket", n.disconnects, n.oversize)
		}
	})
}

// TestFaultPanickingHandler proves that a handler that panics on some
// events costs only those handler calls: the panics are recovered and
// counted, every worker stays alive, the engine stays healthy, and the
// books (updated before the handler runs) still equal the truth.
func TestFaultPanickingHandler(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	sz := faultScale()
	var calls, panics atomic.Int64
	handler := func(int) Handler {
		return HandlerFunc(func(ev *Event, _ *book.Book) {
			if calls.Add(1)%7 == 0 {
				panics.Add(1)
				panic(fmt.Sprintf("handler bug on %s event", ev.Kind))
			}
		})
	}
	s := faultSim(t, 51, "none")
	a := faultApp(t, s, func(c *Config) { c.Handler = handler })
	ids := addSimMarkets(a, s)
	poll.For(t, 30*time.Second, 20*time.Millisecond, func() error {
		if n := panics.Load(); n < int64(500*sz.rounds) {
			return fmt.Errorf("%d panics so far", n)
		}
		return nil
	})
	settleAndCompare(t, a, s, ids)
	st := a.Stats()
	var counted uint64
	for name, w := range st.Workers.WorkerStats {
		counted += w.HandlerPanics
		if !w.Alive {
			t.Errorf("%s died", name)
		}
	}
	if counted != uint64(panics.Load()) {
		t.Errorf("workers counted %d handler panics; the handler panicked %d times", counted, panics.Load())
	}
	if st.Workers.AliveCount != 4 || !st.Workers.IsHealthy {
		t.Errorf("workers: %d alive, healthy %v; want 4, true", st.Workers.AliveCount, st.Workers.IsHealthy)
	}
	if ok, why := a.Healthy(); !ok {
		t.Errorf("engine unhealthy after handler panics: %s", why)
	}
}

// TestFaultSimulatorRestart proves that the engine survives the venue
// going away entirely and coming back as a different process on the same
// address: every connection reconnects (with backoff while nothing
// listens), resubscribes its whole set, and the books equal the NEW
// simulator's truth. The new simulator restarts its event sequence from
// the seed, so a book that kept the old simulator's state would differ.
// The venue runs on the wall clock here, so the handler's events are
// checked against a control in TestFaultMatchesControl/restart instead
// (Manual venue, the same cut).
func TestFaultSimulatorRestart(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	sz := faultScale()
	const seed = 61
	s := faultSim(t, seed, "none")
	a := faultApp(t, s, nil)
	ids := addSimMarkets(a, s)
	waitAllValid(t, a, ids, 30*time.Second)
	addr := s.Addr()
	for round := range sz.rounds {
		// Let the old simulator move its books away from the seed's start:
		// 0.3 s worth of its message rate, however long that takes here.
		gen, want := simGenerated(s), uint64(sz.rate*3/10)
		poll.For(t, 30*time.Second, 5*time.Millisecond, func() error {
			if n := simGenerated(s) - gen; n < want {
				return fmt.Errorf("%d messages generated; want %d", n, want)
			}
			return nil
		})
		stopVenue(t, a, s)
		// Nothing listens for a while: dials fail and back off.
		poll.For(t, 30*time.Second, 20*time.Millisecond, func() error {
			if n := poolTotals(a); n.dials == 0 {
				return fmt.Errorf("no failed dial yet")
			}
			return nil
		})
		s = testrig.Sim(t, sim.Config{Addr: addr, Seed: seed, Markets: sz.markets, Rate: sz.rate})
		waitResnapshotted(t, a, uint64(round+2))
	}
	settleAndCompare(t, a, s, ids)
}

// TestFaultAssetStall repeats TestIntegrationAssetStallHealed at the
// matrix's full size (skipped under -short, where that test covers it):
// assets whose data silently stops on their socket are noticed by per-asset
// data liveness and resynced, and heal once the venue serves them again.
func TestFaultAssetStall(t *testing.T) {
	if testing.Short() {
		t.Skip("covered under -short by TestIntegrationAssetStallHealed")
	}
	t.Cleanup(func() { goleak.VerifyNone(t) })
	sz := faultScale()
	s := faultSim(t, 71, "stall=asset:0.1")
	a := faultApp(t, s, func(c *Config) {
		c.AssetStaleAfter = 500 * time.Millisecond
		c.Pool.SnapshotTimeout = 500 * time.Millisecond
	})
	ids := addSimMarkets(a, s)
	poll.For(t, 30*time.Second, 20*time.Millisecond, func() error {
		if n := a.Stats().Router.StaleResyncs; n < uint64(10*sz.rounds) {
			return fmt.Errorf("%d stale-asset resyncs so far", n)
		}
		return nil
	})
	setFaults(t, s, "none")
	// On purpose: the silence must really last > AssetStaleAfter for every
	// stalled asset to be asked again (see TestIntegrationAssetStallHealed).
	time.Sleep(1500 * time.Millisecond)
	settleAndCompare(t, a, s, ids)
}

// TestFaultSnapshotCap proves which mechanism keeps snapshots from going
// missing when the venue serves no snapshot beyond a per-socket asset
// count (sim snapcap=N). It is the engine keeping sockets at or below the
// cap (AssetsPerConn, default 200 against the venue's ~500): at the cap
// every book is valid and not one snapshot is skipped. The in-place
// Config.Pool.SnapshotTimeout redrive cannot do it: above the cap, the assets
// past it stay without a snapshot however often they are redriven (each
// redrive re-subscribes on the same socket, which is still at the cap),
// so exactly the excess assets of each socket stay invalid. (With live
// traffic the venue's post-trade book snapshots heal them eventually; the
// above-cap case runs the simulator without event generation so that only
// subscribe snapshots exist and the redrive is measured alone.)
func TestFaultSnapshotCap(t *testing.T) {
	const capN = 30
	t.Run("at-cap", func(t *testing.T) {
		t.Cleanup(func() { goleak.VerifyNone(t) })
		s := faultSim(t, 81, fmt.Sprintf("snapcap=%d", capN))
		a := faultApp(t, s, func(c *Config) { c.AssetsPerConn = capN })
		ids := addSimMarkets(a, s)
		settleAndCompare(t, a, s, ids)
		if n := s.Stats().SnapshotsSkipped; n != 0 {
			t.Errorf("simulator skipped %d snapshots; want 0 with sockets at the cap", n)
		}
		if n := a.Pool().Stats().SnapshotRedrives; n != 0 {
			t.Errorf("%d snapshot redrives; want 0", n)
		}
	})
	t.Run("above-cap", func(t *testing.T) {
		t.Cleanup(func() { goleak.VerifyNone(t) })
		const perConn = capN + 10
		f, err := sim.ParseFaults(fmt.Sprintf("snapcap=%d", capN))
		if err != nil {
			t.Fatal(err)
		}
		s := testrig.Sim(t, sim.Config{Seed: 82, Markets: faultScale().markets, Manual: true, Faults: f})
		a := faultApp(t, s, func(c *Config) {
			c.AssetsPerConn = perConn
			c.Pool.SnapshotTimeout = 200 * time.Millisecond
		})
		ids := addSimMarkets(a, s)
		var excess int
		poll.For(t, 30*time.Second, 20*time.Millisecond, func() error {
			ps := a.Pool().Stats()
			excess = 0
			for _, c := range ps.Conns {
				excess += max(c.Assets-capN, 0)
			}
			if ps.Assets != len(ids) || ps.SnapshotRedrives < uint64(3*excess) {
				return fmt.Errorf("%d of %d assets placed, %d redrives for %d assets past the cap", ps.Assets, len(ids), ps.SnapshotRedrives, excess)
			}
			return nil
		})
		if excess == 0 {
			t.Fatal("no socket above the cap: the case proves nothing")
		}
		s.Pause()
		waitQuiescent(t, a)
		invalid := 0
		for _, id := range ids {
			if v, ok, err := a.Book(context.Background(), id, 0); err != nil || !ok || !v.Valid {
				invalid++
			}
		}
		if invalid != excess {
			t.Errorf("%d books invalid; want exactly the %d assets past the cap", invalid, excess)
		}
		if n := s.Stats().SnapshotsSkipped; n < uint64(3*excess) {
			t.Errorf("simulator skipped %d snapshots; want redrives to hit the cap again (>= %d)", n, 3*excess)
		}
	})
}

// TestFaultSocketStall proves how a whole socket that goes silent (data
// stops, the venue still answers PING with PONG) is healed, and that it is
// healed in bounded time. Liveness is judged by data, not by PONG: the
// connection's own stale timer (any frame, PONG included) never fires, the
// recycler's stall trigger (no data for StallTimeout) replaces the socket
// make-before-break, and the books equal the truth. Without the recycler
// the stall is not healed at all: the stale-asset resync re-subscribes on
// the same silent socket, so its assets stay silent (the second subtest).
func TestFaultSocketStall(t *testing.T) {
	sz := faultScale()
	stalled := func(a *App) (n int) {
		for _, c := range a.Pool().Stats().Conns {
			if c.Status == venue.ConnConnected && c.Assets > 0 && !c.LastData.IsZero() && time.Since(c.LastData) > time.Second {
				n++
			}
		}
		return n
	}
	t.Run("recycler", func(t *testing.T) {
		t.Cleanup(func() { goleak.VerifyNone(t) })
		s := faultSim(t, 91, "stall=socket:0.5@300ms")
		a := faultApp(t, s, func(c *Config) {
			c.AssetStaleAfter = 500 * time.Millisecond
			c.DisableRecycling = false
			c.Recycler = recycle.Config{CheckInterval: 100 * time.Millisecond, StallTimeout: 1500 * time.Millisecond,
				Stabilization: 200 * time.Millisecond, MaxStabilization: time.Second}
		})
		ids := addSimMarkets(a, s)
		poll.For(t, 30*time.Second, 20*time.Millisecond, func() error {
			rs := a.Stats().Recycler.(recycle.Stats)
			if n := rs.ByReason[recycle.ReasonStall]; n < uint64(sz.rounds) {
				return fmt.Errorf("%d stall recycles so far (%v)", n, rs.ByReason)
			}
			return nil
		})
		setFaults(t, s, "none")
		cleared := time.Now()
		// Every socket stalled before the fault was lifted is replaced within
		// StallTimeout plus a check and a recycle: bounded, generous here. A
		// socket opened just before the fault was lifted still stalls 300 ms
		// after its open, and is silent for a second before it counts here.
		poll.For(t, 20*time.Second, 50*time.Millisecond, func() error {
			rs := a.Stats().Recycler.(recycle.Stats)
			switch n := stalled(a); {
			case time.Since(cleared) < 1500*time.Millisecond:
				return fmt.Errorf("a socket opened before the fault was lifted may still stall")
			case n > 0 || rs.Active > 0:
				return fmt.Errorf("%d connected sockets silent for more than a second, %d recycles in flight", n, rs.Active)
			}
			return nil
		})
		settleAndCompare(t, a, s, ids)
		if n := poolTotals(a); n.stale != 0 {
			t.Errorf("%d stale closes: PONG kept flowing, so only the data-liveness trigger may act", n.stale)
		}
	})
	t.Run("no-recycler", func(t *testing.T) {
		t.Cleanup(func() { goleak.VerifyNone(t) })
		// Some sockets stall, others keep delivering (the router sweeps
		// for stale assets as frames arrive).
		s := faultSim(t, 92, "stall=socket:0.5@300ms")
		a := faultApp(t, s, func(c *Config) { c.AssetStaleAfter = 300 * time.Millisecond })
		addSimMarkets(a, s)
		poll.For(t, 30*time.Second, 20*time.Millisecond, func() error {
			if n := a.Stats().Router.StaleResyncs; n < 10 || stalled(a) == 0 {
				return fmt.Errorf("%d stale-asset resyncs, %d silent sockets so far", n, stalled(a))
			}
			return nil
		})
		before := stalled(a)
		if before == poolTotals(a).conns {
			t.Skip("every socket stalled: no frames, no sweep; seed-dependent")
		}
		// Resyncs keep going out, yet the stalled sockets stay silent.
		resyncs := a.Stats().Router.StaleResyncs
		poll.For(t, 30*time.Second, 20*time.Millisecond, func() error {
			if n := a.Stats().Router.StaleResyncs; n < resyncs+10 {
				return fmt.Errorf("%d more stale-asset resyncs", n-resyncs)
			}
			return nil
		})
		if n := stalled(a); n < before {
			t.Errorf("%d silent sockets, %d before: a stall healed without the recycler", n, before)
		}
	})
}

// TestFaultGammaDiscovery proves that Gamma failing during discovery —
// 429 with Retry-After, 5xx, hanging requests, undecodable market objects —
// never stops the engine or costs it markets it already has: it keeps
// streaming, stays healthy, expires nothing (the simulator has no churn, so
// every expiry would be a false one caused by a failed or partial listing),
// and once Gamma recovers every open market is subscribed and its book
// equals the truth.
func TestFaultGammaDiscovery(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	sz := faultScale()
	s := faultSim(t, 93, "none")
	a := faultApp(t, s, func(c *Config) {
		c.DisableLifecycle = false
		c.Lifecycle = markets.Config{DiscoveryInterval: 200 * time.Millisecond, ExpiryInterval: 50 * time.Millisecond}
		c.Lifecycle.Gamma.RequestTimeout = 300 * time.Millisecond
		c.Lifecycle.Gamma.BackoffBase = 10 * time.Millisecond
		c.Lifecycle.Gamma.BackoffMax = 50 * time.Millisecond
		c.Lifecycle.Gamma.RetryAfterMax = 100 * time.Millisecond
	})
	live := func() []string {
		var ids []string
		for _, m := range s.Markets() {
			if !m.Closed && m.EnableOrderBook {
				ids = append(ids, m.TokenIDs...)
			}
		}
		return ids
	}
	ids := live()
	waitAllValid(t, a, ids, 30*time.Second)
	setFaults(t, s, "gamma429=0.3:1,gamma5xx=0.3,gammahang=0.2:2s,gammagarbage=0.05")
	poll.For(t, 60*time.Second, 50*time.Millisecond, func() error {
		ls := a.Stats().Lifecycle.(markets.Stats)
		ss := s.Stats()
		if ss.Gamma429 == 0 || ss.Gamma5xx == 0 || ss.GammaHangs == 0 || ss.GammaGarbage == 0 {
			return fmt.Errorf("gamma faults so far: 429 %d, 5xx %d, hangs %d, garbage %d", ss.Gamma429, ss.Gamma5xx, ss.GammaHangs, ss.GammaGarbage)
		}
		if ls.FailedDiscoveries+ls.PartialDiscoveries < uint64(3*sz.rounds) {
			return fmt.Errorf("%d failed, %d partial discoveries so far", ls.FailedDiscoveries, ls.PartialDiscoveries)
		}
		if ok, why := a.Healthy(); !ok {
			t.Errorf("engine unhealthy while Gamma fails: %s", why)
		}
		return nil
	})
	ls := a.Stats().Lifecycle.(markets.Stats)
	if ls.ExpiredAssets != 0 {
		t.Errorf("%d assets expired while Gamma failed (%v); none ended", ls.ExpiredAssets, ls.ExpiredBy)
	}
	if ls.APIErrors == 0 {
		t.Error("no Gamma API error counted")
	}
	setFaults(t, s, "none")
	settleAndCompare(t, a, s, ids)
	if ls := a.Stats().Lifecycle.(markets.Stats); ls.ExpiredAssets != 0 {
		t.Errorf("%d assets expired (%v); none ended", ls.ExpiredAssets, ls.ExpiredBy)
	}
}

// TestFaultStopDuringRecycle proves that stopping the engine in the
// middle of a make-before-break recycle (both the old and the replacement
// socket open, the migration waiting to stabilize) neither hangs nor
// leaks: Stop returns without error well before the recycle's own
// stabilization would have ended, ForceRecycle returns, and no goroutine
// of the recycler, the pool or either connection is left.
func TestFaultStopDuringRecycle(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	s := faultSim(t, 94, "none")
	var cfg Config
	a := faultApp(t, s, func(c *Config) {
		c.Workers, c.DisableRecycling = 2, false
		c.Recycler = recycle.Config{CheckInterval: time.Hour, Stabilization: 30 * time.Second, MaxStabilization: 30 * time.Second}
		c.StopTimeout = 10 * time.Second // the bound under test: far below the stabilization wait
		cfg = *c
	})
	ids := addSimMarkets(a, s)
	waitAllValid(t, a, ids, 30*time.Second)
	conns := a.Pool().Conns()
	recycled := make(chan error, len(conns))
	for _, c := range conns[:min(2, len(conns))] {
		go func() { recycled <- a.ForceRecycle(c.ID()) }()
	}
	poll.For(t, 10*time.Second, 5*time.Millisecond, func() error {
		if rs := a.Stats().Recycler.(recycle.Stats); rs.Active == 0 || len(a.Pool().Conns()) <= len(conns) {
			return fmt.Errorf("no recycle in flight yet: %d active, %d connections", rs.Active, len(a.Pool().Conns()))
		}
		return nil
	})
	t0 := time.Now()
	stopErr := a.Stop(context.Background())
	took := time.Since(t0)
	if stopErr != nil {
		t.Errorf("Stop during a recycle: %v", stopErr)
	}
	if took >= cfg.StopTimeout {
		t.Errorf("Stop took %s; want under %s (the recycle waits %s to stabilize)", took, cfg.StopTimeout, cfg.Recycler.Stabilization)
	}
	for range min(2, len(conns)) {
		select {
		case err := <-recycled:
			t.Logf("ForceRecycle returned: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("ForceRecycle did not return after Stop")
		}
	}
	for _, c := range a.Pool().Conns() {
		if st := c.Status(); st != venue.ConnClosed {
			t.Errorf("conn %d is %s after Stop", c.ID(), st)
		}
	}
}

// simGenerated counts every message the simulator generated so far.
func simGenerated(s *sim.Server) uint64 {
	var n uint64
	for _, c := range s.Stats().Generated {
		n += c
	}
	return n
}

// TestFaultStuckHandler pins issue 12 defect 4 against the simulator: one
// worker's handler blocks for a few seconds while every socket drops (so
// every worker gets a control request to invalidate the dropped socket's
// books). The stuck worker costs only its own assets: the other workers
// keep applying events and get their invalidations, the stuck worker is
// named in /stats and /healthz, and once it returns every book equals the
// truth.
func TestFaultStuckHandler(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	var stuck atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var invalidated [4]atomic.Int64
	handler := func(w int) Handler {
		return HandlerFunc(func(ev *Event, _ *book.Book) {
			if ev.Kind == EventInvalidated {
				invalidated[w].Add(1)
			}
			if w == 0 && stuck.Load() {
				once.Do(func() { close(entered) })
				<-release
			}
		})
	}
	s := faultSim(t, 95, "none")
	a := faultApp(t, s, func(c *Config) {
		c.Handler = handler
		c.RingSize = 1024 // fills within a few seconds at the simulator's rate
		c.StuckAfter = 300 * time.Millisecond
	})
	var released sync.Once
	unstick := func() { released.Do(func() { stuck.Store(false); close(release) }) }
	t.Cleanup(unstick) // before the App stops
	ids := addSimMarkets(a, s)
	waitAllValid(t, a, ids, 30*time.Second)

	stuck.Store(true)
	<-entered
	enteredAt := time.Now()
	poll.For(t, 30*time.Second, 20*time.Millisecond, func() error {
		// Full to the last slot: a dropped snapshot alone may leave a few.
		if st := a.Stats().Router; st.Dropped == 0 || st.QueueDepths["worker_0"] < 1024 {
			return fmt.Errorf("the stuck worker's ring holds %d items, %d dropped", st.QueueDepths["worker_0"], st.Dropped)
		}
		return nil
	})
	events := func() (n [4]uint64) {
		for i := range n {
			n[i] = a.Stats().Workers.WorkerStats[workerName(i)].Events
		}
		return n
	}
	before := events()
	var inv [4]int64
	for i := range inv {
		inv[i] = invalidated[i].Load()
	}
	if _, err := s.CloseSockets(1000); err != nil {
		t.Fatal(err)
	}
	poll.For(t, 30*time.Second, 20*time.Millisecond, func() error {
		now := events()
		for w := 1; w < 4; w++ {
			if invalidated[w].Load() == inv[w] || now[w] < before[w]+100 {
				return fmt.Errorf("worker %d: %d invalidations, %d events since the sockets dropped; the stuck worker holds it up",
					w, invalidated[w].Load()-inv[w], now[w]-before[w])
			}
		}
		return nil
	})
	st := a.Stats()
	if !slices.Contains(st.Workers.Stuck, "worker_0") || st.Workers.IsHealthy {
		t.Errorf("stats: stuck %v, healthy %v; want worker_0 stuck", st.Workers.Stuck, st.Workers.IsHealthy)
	}
	if ok, why := a.Healthy(); ok || !strings.Contains(why, "worker_0") {
		t.Errorf("Healthy() = %v, %q; want unhealthy naming worker_0", ok, why)
	}
	if st.Router.DeferredControls == 0 {
		t.Error("no control request deferred for the stuck worker")
	}
	// Stuck for a few seconds in all, whatever the checks above took: the
	// time stuck is what is under test, so it really passes (on purpose).
	time.Sleep(time.Until(enteredAt.Add(3 * time.Second)))
	unstick()
	waitResnapshotted(t, a, 2)
	settleAndCompare(t, a, s, ids)
	if ok, why := a.Healthy(); !ok {
		t.Errorf("engine unhealthy after the handler returned: %s", why)
	}
}

// TestFaultOneSidedMarkets pins issue 12 defect 5 end to end: markets that
// lose a whole side report the empty side as best_bid "0" / best_ask "1";
// the engine takes that as agreeing with an empty side, so no book is
// invalidated for it (best_mismatches stays 0, no resync loop) and every
// book, one-sided ones included, equals the truth.
func TestFaultOneSidedMarkets(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	s := faultSim(t, 96, "onesided=0.05")
	a := faultApp(t, s, nil)
	ids := addSimMarkets(a, s)
	poll.For(t, 30*time.Second, 20*time.Millisecond, func() error {
		if st := s.Stats(); st.OneSided < 10 || st.OneSidedNow < 3 {
			return fmt.Errorf("%d markets went one-sided, %d are now", st.OneSided, st.OneSidedNow)
		}
		return nil
	})
	settleAndCompare(t, a, s, ids)
	st := a.Stats()
	var div uint64
	for _, w := range st.Workers.WorkerStats {
		div += w.Divergences
	}
	if div != 0 {
		t.Errorf("best_mismatches = %d; want 0 (an empty side sent as 0 or 1 agrees with the book)", div)
	}
	if n := s.Stats().OneSidedNow; n == 0 {
		t.Error("no market one-sided at the comparison: the case proved nothing")
	}
}

// stopVenue stops the simulator and waits until every connection of a has
// seen it go.
func stopVenue(t *testing.T, a *App, s *sim.Server) {
	t.Helper()
	testrig.Stop(t, "simulator", s)
	poll.For(t, 30*time.Second, 20*time.Millisecond, func() error {
		for _, c := range a.Pool().Stats().Conns {
			if c.Status == venue.ConnConnected {
				return fmt.Errorf("conn %d still connected", c.ID)
			}
		}
		return nil
	})
}
