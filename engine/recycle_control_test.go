package engine

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/engine/recycle"
	"github.com/polyfeed/polyfeed/engine/venue"
	"github.com/polyfeed/polyfeed/internal/sim"
	"github.com/polyfeed/polyfeed/internal/testrig"
)

// perAssetLog records every event a handler sees, per asset, in order. Each
// entry ends with a digest of the whole book after the event, so a forced
// switch's resynced book can be matched with the state the control run had.
type perAssetLog struct {
	mu  sync.Mutex
	seq map[string][]string
}

func (l *perAssetLog) factory(int) Handler {
	var bids, asks []book.Level
	return HandlerFunc(func(ev *Event, b *book.Book) {
		var s string
		switch ev.Kind {
		case EventBook:
			bb, _ := b.BestBid()
			ba, _ := b.BestAsk()
			s = fmt.Sprintf("book@%d %v/%v d%d/%d", ev.Timestamp, bb.Price, ba.Price, b.Depth(book.Bid), b.Depth(book.Ask))
			if ev.Resynced {
				s += " resynced"
			}
		default:
			s = fmt.Sprintf("%s@%d %v %v %v", ev.Kind, ev.Timestamp, ev.Side, ev.Price, ev.Size)
		}
		// FNV-1a over every level, by hand: fmt over the slices was most
		// of the handler's time under the race detector.
		h := uint64(14695981039346656037)
		mix := func(v int64) {
			for range 8 {
				h ^= uint64(v & 0xff)
				h *= 1099511628211
				v >>= 8
			}
		}
		bids, asks = b.Levels(book.Bid, bids[:0]), b.Levels(book.Ask, asks[:0])
		for _, l := range bids {
			mix(int64(l.Price))
			mix(int64(l.Size))
		}
		mix(-1)
		for _, l := range asks {
			mix(int64(l.Price))
			mix(int64(l.Size))
		}
		s += " #" + strconv.FormatUint(h, 16)
		l.mu.Lock()
		l.seq[ev.AssetID] = append(l.seq[ev.AssetID], s)
		l.mu.Unlock()
	})
}

// recycleMode is what a controlled run does half way through its stream.
type recycleMode int

const (
	noRecycle      recycleMode = iota // the control
	recycleAll                        // recycle every socket; both streams flow
	recycleStalled                    // every old socket has stalled first: forced switches
)

// controlledRun is what one run's handler saw and which migration paths ran.
type controlledRun struct {
	seq        map[string][]string
	mig        MigrationStats
	misaligned uint64
	recycler   recycle.Stats
}

// stallAfter is when the simulator stalls the sockets of a recycleStalled
// run, after they open: long enough for every initial snapshot and the
// first ticks to arrive first.
const stallAfter = 4 * time.Second

// runControlled plays the same deterministic venue stream (Manual
// simulator: every run generates the same 310 ticks) into an engine,
// optionally recycling every connection half way, and returns what the
// handler saw per asset and the migration counters.
func runControlled(t *testing.T, mode recycleMode) controlledRun {
	log := &perAssetLog{seq: map[string][]string{}}
	s := testrig.Sim(t, sim.Config{Seed: 77, Markets: 60, Rate: 4000, Manual: true, NoBookEvery: -1, Epoch: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)})
	if mode == recycleStalled {
		// Sockets opened now stall stallAfter later; PONG keeps flowing.
		setFaults(t, s, fmt.Sprintf("stall=socket:1@%s", stallAfter))
	}
	opened := time.Now()
	a := testApp(t, s, func(c *Config) {
		c.Handler = log.factory
		c.AssetsPerConn = 30 // four sockets to recycle
		c.AssetStaleAfter = -1
		c.DisableTickSizeResync = true // resync timing follows the wall clock, not the stream
		c.Pool.SnapshotTimeout = -1
		c.DisableRecycling = mode == noRecycle
		c.Recycler = recycle.Config{CheckInterval: time.Hour, MaxConcurrent: 4}
	})
	ids := addSimMarkets(a, s)
	waitAllValid(t, a, ids, 30*time.Second)
	step := stepper(s)
	step(50)
	if mode == recycleStalled {
		// Replacements must not stall. Every old socket was open (its
		// snapshots arrived) before waitAllValid returned, so all of them
		// stall by then plus stallAfter.
		setFaults(t, s, "none")
		allOpen := time.Now()
		if time.Since(opened) > stallAfter-500*time.Millisecond {
			t.Fatalf("setup took %s: the stall (at %s) would cut the initial stream", time.Since(opened), stallAfter)
		}
		// The simulator stalls a socket stallAfter after it opened, on the
		// wall clock: that time must really pass (on purpose).
		time.Sleep(time.Until(allOpen.Add(stallAfter + 300*time.Millisecond)))
	}
	before := connMessages(a)
	step(10) // the stall probe: no old socket may deliver these in a stalled run
	if mode == recycleStalled {
		s.Pause()
		waitQuiescent(t, a)
		s.Resume()
		for id, n := range connMessages(a) {
			if n != before[id] {
				t.Fatalf("connection %d received %d messages after its stall", id, n-before[id])
			}
		}
	}
	if mode != noRecycle {
		// The stream keeps flowing while the sockets are replaced.
		conns := forceRecycleAll(t, a, func() { step(100) })
		st := a.Stats()
		for _, c := range st.Pool.Connections {
			for _, old := range conns {
				if c.ConnectionID == old.ID() && c.Status != "CLOSED" {
					t.Fatalf("old connection %d still %s after its recycle", old.ID(), c.Status)
				}
			}
		}
	} else {
		step(100)
	}
	step(150)
	s.Pause()
	waitQuiescent(t, a)
	compareWithTruth(t, a, s, ids)
	st := a.Stats()
	var run controlledRun
	run.recycler, _ = st.Recycler.(recycle.Stats) // nil without recycling
	for _, w := range st.Workers.WorkerStats {
		run.mig.Held += w.Migration.Held
		run.mig.CaughtUp += w.Migration.CaughtUp
		run.mig.Replayed += w.Migration.Replayed
		run.mig.Skipped += w.Migration.Skipped
		run.mig.Forced += w.Migration.Forced
		run.mig.Overflow += w.Migration.Overflow
		run.misaligned += w.Misaligned
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	run.seq = maps.Clone(log.seq)
	return run
}

// connMessages is every connection's received message count.
func connMessages(a *App) map[int64]uint64 {
	out := map[int64]uint64{}
	for _, c := range a.Stats().Pool.Connections {
		out[c.ConnectionID] = c.MessagesReceived
	}
	return out
}

// TestRecycleDeliversSameEventsAsControl compares runs that recycle every
// socket mid-stream with one run that never recycles (the control), per
// asset and in order.
//
// aligned: both streams flow, so the handler must see exactly the
// control's events: no loss, no duplicate across the switch, and nothing
// forced or misaligned. The test asserts its own coverage: replacements
// that ran ahead of the old socket (held back, then caught up) and behind
// it (repeats skipped) both occurred, in one of up to three runs (which
// one happens depends on when the dials land); otherwise the equality
// would prove less than it claims.
//
// stalled: every old socket stalled before the recycle (the usual reason to
// recycle), so nothing aligns and FinishMigration forces. For each asset the
// handler must see the control's events up to the stall, then at most one
// book marked Resynced whose levels are the control's book at some later
// point, then exactly the control's events from that point on: nothing
// lost after the switch, nothing else in between. Assets untouched during
// the stall see exactly the control's events. Forced switches with events
// after them must occur on many assets.
func TestRecycleDeliversSameEventsAsControl(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	control := runControlled(t, noRecycle).seq
	if len(control) == 0 {
		t.Fatal("the control run saw no asset")
	}
	events := 0
	for _, c := range control {
		events += len(c)
	}
	if events < 4*len(control) {
		t.Fatalf("only %d events over %d assets: the stream did not run", events, len(control))
	}
	t.Run("aligned", func(t *testing.T) {
		// Whether a replacement runs behind its old socket (repeats skipped)
		// depends on when the dials land; a run where every replacement ran
		// ahead proves the other paths only. So up to three runs, each
		// compared with the control, until every path has run in one of
		// them.
		var cover MigrationStats
		for attempt := 1; attempt <= 3 && (cover.Held == 0 || cover.CaughtUp == 0 || cover.Skipped == 0); attempt++ {
			m := alignedRun(t, control)
			cover.Held += m.Held
			cover.CaughtUp += m.CaughtUp
			cover.Skipped += m.Skipped
		}
		if cover.Held == 0 || cover.CaughtUp == 0 || cover.Skipped == 0 {
			t.Errorf("coverage over three runs: held back %d, caught up %d, repeats skipped %d; want each path to run", cover.Held, cover.CaughtUp, cover.Skipped)
		}
	})
	t.Run("stalled", func(t *testing.T) {
		run := runControlled(t, recycleStalled)
		if len(control) != len(run.seq) {
			t.Fatalf("assets seen: control %d, recycled %d", len(control), len(run.seq))
		}
		forcedWithTail, bad := 0, 0
		for _, id := range slices.Sorted(maps.Keys(control)) {
			c, r := control[id], run.seq[id]
			msg, tail := matchForced(c, r)
			if msg != "" {
				if bad++; bad <= 3 {
					t.Errorf("asset %s…: %s\ncontrol:  %v\nrecycled: %v", id[:10], msg, c, r)
				}
			}
			if tail > 0 {
				forcedWithTail++
			}
		}
		if bad > 0 {
			t.Fatalf("%d of %d assets broke the forced-switch contract", bad, len(control))
		}
		t.Logf("migration paths: %+v; recycler %d completed, %d forced; %d assets got events after their resynced book",
			run.mig, run.recycler.Completed, run.recycler.Forced, forcedWithTail)
		if run.mig.Forced == 0 || run.mig.Held == 0 || uint64(run.recycler.Forced) != run.mig.Forced {
			t.Errorf("coverage: forced %d (recycler says %d), held %d; want forced switches", run.mig.Forced, run.recycler.Forced, run.mig.Held)
		}
		if forcedWithTail < len(control)/4 {
			t.Errorf("only %d of %d assets had events after a forced switch: too few to show nothing is lost after it", forcedWithTail, len(control))
		}
	})
}

// digest is the book digest a perAssetLog entry ends with.
func digest(entry string) string { return entry[strings.LastIndexByte(entry, '#'):] }

// matchForced checks one asset of a stalled run against the control: r
// must be c, or c[:k] + one resynced book + c[j:] with j >= k and the
// book's levels equal to the control's after c[j-1]. It returns what is
// wrong ("" if nothing) and how many events followed the resynced book.
func matchForced(c, r []string) (string, int) {
	k := -1
	for i, e := range r {
		if strings.Contains(e, " resynced ") {
			if k >= 0 {
				return fmt.Sprintf("a second resynced book at %d (first at %d)", i, k), 0
			}
			k = i
		}
	}
	if k < 0 {
		if !slices.Equal(c, r) {
			return "no resynced book, yet the events differ from the control", 0
		}
		return "", 0
	}
	if k > len(c) || !slices.Equal(r[:k], c[:k]) {
		return fmt.Sprintf("the %d events before the resynced book differ from the control's", k), 0
	}
	tail := r[k+1:]
	j := len(c) - len(tail)
	if j < k || !slices.Equal(tail, c[j:]) {
		return fmt.Sprintf("the %d events after the resynced book are not the control's last ones", len(tail)), 0
	}
	if j == 0 || digest(r[k]) != digest(c[j-1]) {
		return fmt.Sprintf("the resynced book (%s) is not the control's book before its event %d", r[k], j), 0
	}
	return "", len(tail)
}

// forceRecycleAll recycles every connection of a at once, runs during (when set)
// while the recycles are under way, waits for them and fails on an error.
// It returns the connections it recycled.
func forceRecycleAll(t *testing.T, a *App, during func()) []*venue.Conn {
	t.Helper()
	conns := a.Pool().Conns()
	var wg sync.WaitGroup
	errs := make(chan error, len(conns))
	for _, c := range conns {
		wg.Go(func() { errs <- a.ForceRecycle(c.ID()) })
	}
	if during != nil {
		during()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("recycle failed: %v", err)
		}
	}
	return conns
}

// alignedRun is one recycleAll run of TestRecycleDeliversSameEventsAsControl:
// every asset must see exactly the control's events, nothing may be forced
// or misaligned, and all four recycles complete. It returns which migration
// paths ran.
func alignedRun(t *testing.T, control map[string][]string) MigrationStats {
	t.Helper()
	run := runControlled(t, recycleAll)
	recycled := run.seq
	if len(control) != len(recycled) {
		t.Fatalf("assets seen: control %d, recycled %d", len(control), len(recycled))
	}
	diffs := 0
	for _, id := range slices.Sorted(maps.Keys(control)) {
		c, r := control[id], recycled[id]
		if !slices.Equal(c, r) {
			diffs++
			if diffs <= 3 {
				t.Errorf("asset %s…: control saw %d events, recycled %d\ncontrol:  %v\nrecycled: %v", id[:10], len(c), len(r), c, r)
			}
		}
	}
	if diffs > 0 {
		t.Fatalf("%d of %d assets saw different events with recycling", diffs, len(control))
	}
	t.Logf("migration paths: %+v, misaligned %d; recycler %d completed, %d switched", run.mig, run.misaligned, run.recycler.Completed, run.recycler.Switched)
	if run.mig.Forced != 0 || run.misaligned != 0 || run.recycler.Forced != 0 {
		t.Errorf("forced %d (recycler %d), misaligned %d; want none with both streams flowing", run.mig.Forced, run.recycler.Forced, run.misaligned)
	}
	if run.recycler.Completed != 4 {
		t.Errorf("%d recycles completed; want 4", run.recycler.Completed)
	}
	return run.mig
}
