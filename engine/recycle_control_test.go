package engine

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/engine/recycle"
	"github.com/polyfeed/polyfeed/internal/sim"
)

// perAssetLog records every event a handler sees, per asset, in order.
type perAssetLog struct {
	mu  sync.Mutex
	seq map[string][]string
}

func (l *perAssetLog) factory(int) Handler {
	return HandlerFunc(func(ev *Event, b *book.Book) {
		var s string
		switch ev.Kind {
		case EventBook:
			bb, _ := b.BestBid()
			ba, _ := b.BestAsk()
			s = fmt.Sprintf("book@%d %v/%v d%d/%d", ev.Timestamp, bb.Price, ba.Price, b.Depth(book.Bid), b.Depth(book.Ask))
		default:
			s = fmt.Sprintf("%s@%d %v %v %v", ev.Kind, ev.Timestamp, ev.Side, ev.Price, ev.Size)
		}
		l.mu.Lock()
		l.seq[ev.AssetID] = append(l.seq[ev.AssetID], s)
		l.mu.Unlock()
	})
}

// runControlled plays the same deterministic venue stream into an engine,
// optionally recycling every connection half way, and returns what the
// handler saw per asset.
func runControlled(t *testing.T, recycling bool) map[string][]string {
	log := &perAssetLog{seq: map[string][]string{}}
	s := startSim(t, sim.Config{Seed: 77, Markets: 60, Rate: 4000, Manual: true, NoBookEvery: -1, Epoch: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)})
	a := testApp(t, s, func(c *Config) {
		c.Handler = log.factory
		c.AssetsPerConn = 30 // four sockets to recycle
		c.AssetStaleAfter = -1
		c.DisableTickSizeResync = true // resync timing follows the wall clock, not the stream
		c.Pool.SnapshotTimeout = -1
		c.DisableRecycling = !recycling
		c.Recycler = recycle.Config{CheckInterval: time.Hour, MaxConcurrent: 4}
	})
	ids := addSimMarkets(a, s)
	waitAllValid(t, a, ids, 30*time.Second)
	step := func(n int) {
		for range n {
			s.Step(1)
			time.Sleep(time.Millisecond)
		}
	}
	step(50)
	if recycling {
		conns := a.Pool().Conns()
		var wg sync.WaitGroup
		errs := make(chan error, len(conns))
		for _, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- a.ForceRecycle(c.ID())
			}()
		}
		step(100) // the stream keeps flowing while the sockets are replaced
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("recycle failed: %v", err)
			}
		}
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
	step(50)
	s.Pause()
	waitQuiescent(t, a)
	compareWithTruth(t, a, s, ids)
	log.mu.Lock()
	defer log.mu.Unlock()
	return maps.Clone(log.seq)
}

// TestRecycleDeliversSameEventsAsControl: a run that recycles every socket
// mid-stream hands the handler exactly the events, per asset and in order,
// of a run that never recycles: no loss, no duplicate across the switch.
func TestRecycleDeliversSameEventsAsControl(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	control := runControlled(t, false)
	recycled := runControlled(t, true)
	if len(control) == 0 || len(control) != len(recycled) {
		t.Fatalf("assets seen: control %d, recycled %d", len(control), len(recycled))
	}
	diffs := 0
	events := 0
	for _, id := range slices.Sorted(maps.Keys(control)) {
		c, r := control[id], recycled[id]
		events += len(c)
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
	if events < 4*len(control) {
		t.Fatalf("only %d events over %d assets: the stream did not run", events, len(control))
	}
}
