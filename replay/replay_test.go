package replay

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/engine"
	"github.com/polyfeed/polyfeed/engine/assets"
	"github.com/polyfeed/polyfeed/engine/enginetest"
	"github.com/polyfeed/polyfeed/engine/markets"
	"github.com/polyfeed/polyfeed/engine/recycle"
	"github.com/polyfeed/polyfeed/internal/poll"
	"github.com/polyfeed/polyfeed/internal/sim"
	"github.com/polyfeed/polyfeed/internal/testrig"
	"github.com/polyfeed/polyfeed/record"
	"github.com/polyfeed/polyfeed/record/enginetap"
)

// TestReplayIsExact records a live engine running against a simulator
// with churn (markets expire and appear), socket closes and bad frames,
// then replays the recording at --speed max through a fresh engine. At
// every checkpoint the live run logged (the venue paused, the live books
// settled, a mark written) and at the end, the replay's books equal the
// live run's level for level; the end books also equal the simulator's
// truth. 60 s of recording; 8 s with -short.
func TestReplayIsExact(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	length, every := 60*time.Second, 6*time.Second
	if testing.Short() {
		length, every = 8*time.Second, 2*time.Second
	}
	replayIsExact(t, length, every, nil)
}

// TestReplayIsExactWithRecycling: the same with connections recycled
// (make before break) every 1.5 s. The replay takes the recorded migration
// steps at their place in the stream, so the assets switch connection as
// they did live (without them, a late snapshot from the old connection
// took an asset back and the replay's books went stale).
func TestReplayIsExactWithRecycling(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	length, every := 30*time.Second, 5*time.Second
	if testing.Short() {
		length, every = 8*time.Second, 2*time.Second
	}
	replayIsExact(t, length, every, &recycle.Config{
		CheckInterval: 100 * time.Millisecond, MinAge: 500 * time.Millisecond, MaxAge: 1500 * time.Millisecond,
		SnapshotTimeout: 2 * time.Second,
	})
}

// replayIsExact records, replays and compares (see TestReplayIsExact);
// recycle, when set, turns connection recycling on in the live run.
func replayIsExact(t *testing.T, length, every time.Duration, recycling *recycle.Config) {
	faults, err := sim.ParseFaults("close=1006@3s,malformed=0.01,truncated=0.005")
	if err != nil {
		t.Fatal(err)
	}
	s := testrig.Sim(t, sim.Config{Seed: 16, Markets: 60, Rate: 1500, ChurnPerMinute: 120, Faults: faults})
	dir := t.TempDir()
	w := startWriter(t, dir)
	tap := &countingTap{Tap: enginetap.New(w)}
	cfg := enginetest.Loopback(s.WSURL(), s.GammaURL())
	cfg.Workers, cfg.RingSize, cfg.Backpressure, cfg.AssetsPerConn = 4, 1<<14, engine.Block, 30
	cfg.DisableRecycling, cfg.Recycler, cfg.Tap = recycling == nil, recycledOr(recycling), tap
	cfg.Lifecycle = markets.Config{DiscoveryInterval: 300 * time.Millisecond, ExpiryInterval: 100 * time.Millisecond,
		CleanupInterval: 100 * time.Millisecond, CleanupGrace: 500 * time.Millisecond}
	live := enginetest.Start(t, cfg)

	// checkpoint pauses the venue, waits until every open asset's live book
	// equals the truth, reads the live books and marks the recording there.
	// A socket loss or a drop between the read and the mark would make the
	// point ambiguous: such a point is retaken.
	logged := map[string]map[string]book.View{}
	var order []string
	checkpoint := func(label string, resume bool) []string {
		s.Pause()
		if resume {
			defer s.Resume()
		}
		var ids []string
		for attempt := 0; ; attempt++ {
			if attempt == 20 {
				t.Fatalf("checkpoint %s: no quiet moment", label)
			}
			var got map[string]book.View
			poll.For(t, 30*time.Second, 50*time.Millisecond, func() error {
				ids = ids[:0]
				for _, id := range testrig.LiveAssets(s) {
					// The lifecycle expires by end date on the wall clock, which
					// runs on while the venue's virtual clock is paused.
					if e, ok := live.Registry().Get(id); ok && e.State == assets.StateSubscribed {
						ids = append(ids, id)
					}
				}
				got = enginetest.Books(t, live, ids)
				return enginetest.DiffTruth(got, s, ids)
			})
			c0, d0 := tap.closes.Load(), tap.drops.Load()
			got = enginetest.Books(t, live, ids)
			w.Mark(label)
			if tap.closes.Load() == c0 && tap.drops.Load() == d0 && enginetest.DiffTruth(got, s, ids) == nil {
				logged[label] = got
				order = append(order, label)
				return ids
			}
			label += "+"
		}
	}
	start := time.Now()
	for i := 0; time.Since(start) < length; i++ {
		time.Sleep(every) // a stretch of live trading between two checkpoints, on purpose
		checkpoint(fmt.Sprintf("point-%d", i), true)
	}
	endIDs := checkpoint("end", false) // the venue stays paused: its truth is the end
	liveStats := live.Stats()
	testrig.Stop(t, "engine", live)
	if err := w.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	ws := w.Stats()
	if ws.Dropped != 0 || ws.Error != "" {
		t.Fatalf("recorder %+v", ws)
	}
	if liveStats.Router.Malformed == 0 {
		t.Fatalf("no bad frame reached the live engine: the faults did not happen")
	}

	// Replay at max speed through a fresh engine.
	r, err := record.Open(dir, 0, 0, testrig.Logger())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rep := enginetest.Start(t, replayConfig())
	checked := map[string]bool{}
	var failures []string
	p, err := New(r, rep, Config{OnRecord: func(rec *record.Record) {
		if rec.Kind != record.KindMark {
			return
		}
		want, ok := logged[rec.Label]
		if !ok {
			return // a retaken point's first try
		}
		ids := make([]string, 0, len(want))
		for id := range want {
			ids = append(ids, id)
		}
		if msg := diffBooks(enginetest.Books(t, rep, ids), want); msg != "" {
			failures = append(failures, rec.Label+": "+msg)
		}
		checked[rec.Label] = true
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(failures) > 0 {
		t.Fatalf("replay differs from the live run:\n%s", strings.Join(failures, "\n"))
	}
	if len(checked) != len(order) {
		t.Fatalf("checked %d of %d checkpoints", len(checked), len(order))
	}
	st := p.Stats()
	if (recycling == nil && st.Closes == 0) || st.Drops == 0 || st.Frames != ws.Frames {
		t.Fatalf("replay %+v (recorded %d frames): want closes, drops and every frame", st, ws.Frames)
	}
	if err := enginetest.DiffTruth(enginetest.Books(t, rep, endIDs), s, endIDs); err != nil {
		t.Fatalf("replay end books vs truth: %v", err)
	}
	rs := rep.Stats()
	if rs.Router.Malformed != liveStats.Router.Malformed {
		t.Errorf("replay saw %d malformed frames, live %d", rs.Router.Malformed, liveStats.Router.Malformed)
	}
	if recycling != nil {
		r, _ := liveStats.Recycler.(recycle.Stats)
		if r.Completed == 0 || r.AssetsMigrated == 0 {
			t.Fatalf("no connection was recycled during the live run: %+v", r)
		}
		t.Logf("live run: %d recycles, %d assets migrated", r.Completed, r.AssetsMigrated)
	}
	t.Logf("%d checkpoints, %d frames, %d closes, %d drops, %d malformed; %d bytes on disk (%.1f per frame)",
		len(order), st.Frames, st.Closes, st.Drops, rs.Router.Malformed, ws.FileBytes, float64(ws.FileBytes)/float64(ws.Frames))
}

func recycledOr(c *recycle.Config) recycle.Config {
	if c == nil {
		return recycle.Config{}
	}
	return *c
}
