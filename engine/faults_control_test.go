package engine

// Fault cases that claim no loss, compared with a control run event by
// event, per asset, not only by their final books.
//
// The simulator's stream is a function of its seed and tick number alone
// (internal/sim: each market draws from its own PRNG, ticks are generated
// in order and a late wall-clock driver catches up instead of skipping), so
// a run that ends at tick N can be compared with a Manual run stepped to
// tick N. A fault that cuts a socket loses the events the venue generated
// while it was down; what the engine owes then is to say so: the handler
// sees EventInvalidated, then one book marked Resynced whose levels are the
// control's at some point, then exactly the control's events from there.
// matchResynced checks precisely that, and nothing looser: a book not
// marked Resynced can never stand for lost events.
//
// Not compared with a control here, and why:
//   - TestFaultCloseCodes runs the wall-clock simulator with a fault that
//     closes every socket 250 ms after it opens: a session's events depend
//     on when each dial lands, so the cut points differ from run to run.
//     Its claim (the books return to the truth) is checked on the books.
//     The reconnect case below makes the same cut with a Manual simulator.
//   - TestFaultBadFrames, TestFaultOversizedFrames: the faults draw from the
//     socket's PRNG per frame, and which frames carry the damage depends on
//     frame batching, i.e. on timing; a truncated frame also loses the
//     events it carried by design (the book is resynced).
//   - TestFaultAssetStall, TestFaultSocketStall, TestFaultSnapshotCap:
//     they lose events by design until a resync; only the books are owed.
//     (TestRecycleDeliversSameEventsAsControl/stalled covers the forced
//     switch's events against a control.)

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/engine/recycle"
	"github.com/polyfeed/polyfeed/internal/poll"
	"github.com/polyfeed/polyfeed/internal/sim"
	"github.com/polyfeed/polyfeed/internal/testrig"
)

// controlSimConfig is the venue every run of this file starts from.
func controlSimConfig(manual bool, rate float64) sim.Config {
	return sim.Config{Seed: 88, Markets: 60, Rate: rate, Manual: manual, NoBookEvery: -1,
		Epoch: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)}
}

// controlApp starts an engine on s that records every event per asset.
func controlApp(t *testing.T, s *sim.Server, log *perAssetLog, mod func(*Config)) *App {
	return testApp(t, s, func(c *Config) {
		c.Handler = log.factory
		c.AssetsPerConn = 30
		c.AssetStaleAfter = -1
		c.DisableTickSizeResync = true // resync timing follows the wall clock, not the stream
		c.Pool.SnapshotTimeout = -1
		if mod != nil {
			mod(c)
		}
	})
}

// stepper steps a Manual simulator one tick at a time, letting delivery
// interleave with generation as it does on the wall clock.
func stepper(s *sim.Server) func(int) {
	return func(n int) {
		for range n {
			s.Step(1)
			time.Sleep(time.Millisecond) // pacing, on purpose: delivery interleaves with generation
		}
	}
}

// finish pauses s, waits until the engine applied everything with every
// book valid, checks the books against the truth and returns the log.
func finish(t *testing.T, a *App, s *sim.Server, ids []string, log *perAssetLog) map[string][]string {
	t.Helper()
	s.Pause()
	waitAllValid(t, a, ids, 30*time.Second)
	waitQuiescent(t, a)
	compareWithTruth(t, a, s, ids)
	log.mu.Lock()
	defer log.mu.Unlock()
	return maps.Clone(log.seq)
}

// controlRun is a Manual run of controlSimConfig to tick ticks without
// faults: the reference.
func controlRun(t *testing.T, rate float64, ticks int) map[string][]string {
	t.Helper()
	log := &perAssetLog{seq: map[string][]string{}}
	s := testrig.Sim(t, controlSimConfig(true, rate))
	a := controlApp(t, s, log, nil)
	ids := addSimMarkets(a, s)
	waitAllValid(t, a, ids, 30*time.Second)
	stepper(s)(ticks)
	if got := s.Stats().Ticks; got != int64(ticks) {
		t.Fatalf("control simulator at tick %d; want %d", got, ticks)
	}
	seq := finish(t, a, s, ids, log)
	events := 0
	for _, c := range seq {
		events += len(c)
	}
	if len(seq) == 0 || events < 4*len(seq) {
		t.Fatalf("control: %d events over %d assets: the stream did not run", events, len(seq))
	}
	return seq
}

func isInvalidated(e string) bool { return strings.HasPrefix(e, EventInvalidated.String()+"@") }
func isResyncedBook(e string) bool {
	return strings.HasPrefix(e, "book@") && strings.Contains(e, " resynced ")
}

// matchResynced checks that r (one asset, a faulty run) is the control's
// c cut at resync points: r is c where, at any point, the events before
// c[j] may be replaced by EventInvalidated followed by one book marked
// Resynced whose levels are the control's after c[j-1], after which r
// continues with c[j:]; r must end where c ends. With rewind, j may lie
// before the events already matched (a restarted venue replays its stream
// from the seed). With midStart, r's first entry may be a book at any point
// of c (a subscription made while the stream was already running). It
// returns what is wrong ("" if nothing) and how many resync points r has.
func matchResynced(c, r []string, rewind, midStart bool) (string, int) {
	best := 0 // longest prefix of r matched, for the message
	var match func(pos, i, resyncs int) (int, bool)
	match = func(pos, i, resyncs int) (int, bool) {
		for i < len(r) {
			best = max(best, i)
			e := r[i]
			if pos < len(c) && e == c[pos] {
				pos, i = pos+1, i+1
				continue
			}
			first := i == 0 && midStart && strings.HasPrefix(e, "book@")
			if !first {
				// Lost events must be said to be lost: EventInvalidated,
				// then the resynced book.
				if !isInvalidated(e) || i+1 >= len(r) || !isResyncedBook(r[i+1]) {
					return resyncs, false
				}
				i++
				e = r[i]
			}
			from := pos
			if rewind || first {
				from = 0
			}
			for j := max(from, 1); j <= len(c); j++ {
				if digest(c[j-1]) != digest(e) {
					continue
				}
				if n, ok := match(j, i+1, resyncs+1); ok {
					return n, true
				}
			}
			return resyncs, false
		}
		return resyncs, pos == len(c)
	}
	n, ok := match(0, 0, 0)
	if !ok {
		return fmt.Sprintf("no cut of the control at resync points gives the run's events (first %d matched)", best), 0
	}
	return "", n
}

// compareResynced applies matchResynced to every asset and returns how
// many resync points the run had in all.
func compareResynced(t *testing.T, control, run map[string][]string, rewind, midStart bool) int {
	t.Helper()
	if len(control) != len(run) {
		t.Fatalf("assets seen: control %d, run %d", len(control), len(run))
	}
	bad, resyncs := 0, 0
	for _, id := range slices.Sorted(maps.Keys(control)) {
		msg, n := matchResynced(control[id], run[id], rewind, midStart)
		resyncs += n
		if msg != "" {
			if bad++; bad <= 3 {
				t.Errorf("asset %s…: %s\ncontrol: %v\nrun:     %v", id[:10], msg, control[id], run[id])
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d assets saw events that are not the control's cut at resync points", bad, len(control))
	}
	return resyncs
}

// TestFaultMatchesControl runs the no-loss fault cases against one control
// (a Manual venue stepped to tick 300):
//
// reconnect: at tick 100 the venue drops every socket (1006) while it keeps
// generating; the engine reconnects and resubscribes. Each asset must see
// the control's events, then EventInvalidated and one resynced book at the
// control's state, then the control's events to the end: events generated
// while the socket was down are lost and said to be, nothing after the
// resync is. Every asset must go through at least one resync.
//
// restart: at tick 120 the venue process stops and a new one (same seed,
// same address) starts at tick 0 and is stepped to 300. Each asset must see
// the old venue's events, then one resynced book equal to the new venue's
// first book, then every event of the new venue's 300 ticks.
func TestFaultMatchesControl(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	const ticks = 300
	control := controlRun(t, 4000, ticks)

	t.Run("reconnect", func(t *testing.T) {
		log := &perAssetLog{seq: map[string][]string{}}
		s := testrig.Sim(t, controlSimConfig(true, 4000))
		a := controlApp(t, s, log, nil)
		ids := addSimMarkets(a, s)
		waitAllValid(t, a, ids, 30*time.Second)
		step := stepper(s)
		step(100)
		n, err := s.CloseSockets(1006)
		if err != nil || n == 0 {
			t.Fatalf("CloseSockets = %d, %v", n, err)
		}
		step(100) // generated while the engine reconnects
		waitResnapshotted(t, a, 2)
		step(ticks - 200)
		run := finish(t, a, s, ids, log)
		resyncs := compareResynced(t, control, run, false, false)
		if resyncs < len(control) {
			t.Errorf("%d resync points over %d assets; want every asset resynced after the drop", resyncs, len(control))
		}
		t.Logf("%d assets, %d resync points", len(control), resyncs)
	})

	t.Run("restart", func(t *testing.T) {
		log := &perAssetLog{seq: map[string][]string{}}
		s := testrig.Sim(t, controlSimConfig(true, 4000))
		a := controlApp(t, s, log, nil)
		ids := addSimMarkets(a, s)
		waitAllValid(t, a, ids, 30*time.Second)
		stepper(s)(120)
		addr := s.Addr()
		stopVenue(t, a, s)
		cfg := controlSimConfig(true, 4000)
		cfg.Addr = addr
		s = testrig.Sim(t, cfg)
		waitResnapshotted(t, a, 2)
		stepper(s)(ticks)
		run := finish(t, a, s, ids, log)
		resyncs := compareResynced(t, control, run, true, false)
		if resyncs < len(control) {
			t.Errorf("%d resync points over %d assets; want every asset resynced after the restart", resyncs, len(control))
		}
		t.Logf("%d assets, %d resync points", len(control), resyncs)
	})
}

// TestFaultRecycleUnderLoadMatchesControl recycles every socket while the
// venue runs on the wall clock (not stepped by the test) at 4,000 messages
// a second, then compares each asset's events with a Manual control stepped
// to the same tick. The engine subscribes while the stream already runs,
// so each asset starts with a book at some point of the control; from
// there it must see exactly the control's events: make before break loses
// nothing and repeats nothing under load. The Block policy keeps a full
// ring from dropping events, which would be a different, declared loss.
func TestFaultRecycleUnderLoadMatchesControl(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	const rate = 4000
	log := &perAssetLog{seq: map[string][]string{}}
	s := testrig.Sim(t, controlSimConfig(false, rate))
	a := controlApp(t, s, log, func(c *Config) {
		c.Backpressure = Block
		c.DisableRecycling = false
		c.Recycler = recycle.Config{CheckInterval: time.Hour, MaxConcurrent: 4}
	})
	ids := addSimMarkets(a, s)
	// Each read has a deadline: on a machine too slow for the stream, a read
	// queued behind the backlog must fail the test, not hang it.
	poll.For(t, 60*time.Second, 50*time.Millisecond, func() error {
		for _, id := range ids {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			v, ok, err := a.Book(ctx, id, 0)
			cancel()
			if err != nil || !ok || !v.Valid {
				return fmt.Errorf("book %s… not valid yet (%v); inbound queue %d frames", id[:10], err, a.Stats().Router.QueueDepths["async_queue"])
			}
		}
		return nil
	})
	t0 := s.Stats().Ticks
	poll.For(t, 30*time.Second, 10*time.Millisecond, func() error {
		if n := s.Stats().Ticks - t0; n < 50 {
			return fmt.Errorf("%d ticks since every book was valid", n)
		}
		return nil
	})
	conns := forceRecycleAll(t, a, nil)
	// Let the stream run on the replacements for a while.
	t0 = s.Stats().Ticks
	poll.For(t, 30*time.Second, 10*time.Millisecond, func() error {
		if n := s.Stats().Ticks - t0; n < 50 {
			return fmt.Errorf("%d ticks since the recycles", n)
		}
		return nil
	})
	run := finish(t, a, s, ids, log)
	st := a.Stats()
	ticks := s.Stats().Ticks
	var mig MigrationStats
	for _, w := range st.Workers.WorkerStats {
		mig.Held += w.Migration.Held
		mig.CaughtUp += w.Migration.CaughtUp
		mig.Skipped += w.Migration.Skipped
		mig.Forced += w.Migration.Forced
	}
	rs := st.Recycler.(recycle.Stats)
	t.Logf("%d ticks; recycles %d completed, migration paths %+v", ticks, rs.Completed, mig)
	if rs.Completed != uint64(len(conns)) || mig.Forced != 0 {
		t.Fatalf("%d of %d recycles completed, %d forced; want all completed, none forced", rs.Completed, len(conns), mig.Forced)
	}
	if st.Router.Dropped != 0 {
		t.Fatalf("router dropped %d events under Block", st.Router.Dropped)
	}
	control := controlRun(t, rate, int(ticks))
	if resyncs := compareResynced(t, control, run, false, true); resyncs > len(control) {
		t.Errorf("%d resync points for %d assets; want only the first book of each", resyncs, len(control))
	}
}
