package engine

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/internal/mono"
	"github.com/polyfeed/polyfeed/internal/poll"
	"github.com/polyfeed/polyfeed/internal/testrig"
)

// Tests of the routing role (router.push/release), rings that grow and
// shrink (router.grow/shrinkRings, ring.Chain) and inline application for
// parked workers (worker.kick).

func startTestDataPath(t *testing.T, rc routerConfig, wc workerConfig) *dataPath {
	t.Helper()
	if rc.logger == nil {
		rc.logger = testrig.Logger()
	}
	if rc.inboundBytes == 0 {
		rc.inboundBytes = DefaultInboundBytes
	}
	wc.logger = testrig.Logger()
	d := newDataPath(rc, wc)
	ctx := context.Background()
	if err := d.startWorkers(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.startRouter(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := d.stopRouter(ctx); err != nil {
			t.Error(err)
		}
		if err := d.stopWorkers(ctx); err != nil {
			t.Error(err)
		}
	})
	return d
}

func tradeFor(asset string, n int) string {
	return fmt.Sprintf(`{"event_type":"last_trade_price","market":"%s","asset_id":"%s","price":"0.5","size":"%d","side":"BUY","timestamp":"1703875201000"}`, dpMarket, asset, n)
}

// A ring that starts small grows under a burst instead of dropping: a
// handler that holds the worker back makes the router find the ring full,
// and every event still arrives, in order, with nothing dropped.
func TestDataPathGrowsRingsUnderBurst(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	release := make(chan struct{})
	var once, unblock sync.Once
	free := func() { unblock.Do(func() { close(release) }) }
	t.Cleanup(free) // registered after the data path's stop: runs first
	var rec dpRecorder
	d := startTestDataPath(t, routerConfig{ringMax: 1 << 12}, workerConfig{count: 1, ringSize: 16,
		factory: func(i int) Handler {
			h := rec.factory(i)
			return HandlerFunc(func(ev *Event, b *book.Book) {
				once.Do(func() { <-release }) // hold the worker on its first event
				h.OnEvent(ev, b)
			})
		}})
	sink := d.Sink()
	sink(1, []byte(dpBookA), mono.Now())
	const changes = 200
	for i := range changes {
		sink(1, []byte(tradeFor(dpAssetA, i+1)), mono.Now())
	}
	w := d.workers.workers[0]
	poll.For(t, 5*time.Second, time.Millisecond, func() error {
		// The worker took at most one ring's worth (16) before it blocked.
		if q := w.ring.Len(); q < changes-16 {
			return fmt.Errorf("%d items queued over the chain; want at least %d", q, changes-16)
		}
		return nil
	})
	if st := d.router.stats(); st.QueueDepths[workerName(0)] < changes-16 {
		t.Errorf("stats queue depth %d; want the whole chain's, at least %d", st.QueueDepths[workerName(0)], changes-16)
	}
	free()
	poll.For(t, 5*time.Second, time.Millisecond, func() error {
		if n := rec.count(); n != changes+1 {
			return fmt.Errorf("handler saw %d events; want %d", n, changes+1)
		}
		return nil
	})
	rec.mu.Lock()
	for i, ev := range rec.events[1:] {
		if want := fmt.Sprintf("trade %s 0.5 %d", dpAssetA[:4], i+1); ev != want {
			t.Errorf("event %d = %q; want %q", i+1, ev, want)
			break
		}
	}
	rec.mu.Unlock()
	if st := d.router.stats(); st.Dropped != 0 {
		t.Errorf("router dropped %d events; want 0 (the ring should have grown)", st.Dropped)
	}
	if c := w.ring.Ring().Cap(); c <= 16 {
		t.Errorf("worker ring capacity %d; want grown past 16", c)
	}
}

// A grown ring goes back to its first capacity once it is empty and has not
// grown for shrinkAfter; events after the shrink still arrive in order.
func TestDataPathShrinksRingsAfterBurst(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	var rec dpRecorder
	d := startTestDataPath(t, routerConfig{ringMax: 1 << 12}, workerConfig{count: 1, ringSize: 16, factory: rec.factory})
	sink := d.Sink()
	sink(1, []byte(dpBookA), mono.Now())
	n := 0
	w := d.workers.workers[0]
	poll.For(t, 10*time.Second, time.Millisecond, func() error {
		for range 100 { // bursts until the router finds the ring full once
			n++
			sink(1, []byte(tradeFor(dpAssetA, n)), mono.Now())
		}
		d.router.acquire() // grown is the role holder's
		grew := d.router.grown[0] != 0
		d.router.release()
		if !grew {
			return fmt.Errorf("ring not grown after %d events", n)
		}
		return nil
	})
	// Pretend the growth was long ago; the router goroutine shrinks the
	// ring on its next period once the worker has drained it.
	d.router.acquire()
	d.router.grown[0] = mono.Now() - int64(2*shrinkAfter)
	d.router.release()
	poll.For(t, 5*time.Second, time.Millisecond, func() error {
		if c := w.ring.Ring().Cap(); c != 16 {
			return fmt.Errorf("ring capacity %d; want back to 16", c)
		}
		return nil
	})
	for range 50 {
		n++
		sink(1, []byte(tradeFor(dpAssetA, n)), mono.Now())
	}
	poll.For(t, 5*time.Second, time.Millisecond, func() error {
		if c := rec.count(); c != n+1 {
			return fmt.Errorf("handler saw %d events; want %d", c, n+1)
		}
		return nil
	})
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for i, ev := range rec.events[1:] {
		if want := fmt.Sprintf("trade %s 0.5 %d", dpAssetA[:4], i+1); ev != want {
			t.Fatalf("event %d = %q; want %q", i+1, ev, want)
		}
	}
}

// Without a handler, a frame for a parked worker is applied by the
// delivering goroutine itself: the events are counted as soon as the sink
// returns, with no wake-up of the worker; the books are the same.
func TestDataPathAppliesInlineForParkedWorkers(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	d := startTestDataPath(t, routerConfig{}, workerConfig{count: 1, ringSize: 1024, inline: true})
	w := d.workers.workers[0]
	sink := d.Sink()
	for i, frame := range []string{"[" + dpBookA + "," + dpBookB + "]", dpChanges} {
		poll.For(t, 5*time.Second, time.Millisecond, func() error {
			if !w.idle.Load() || w.busy.Load() {
				return fmt.Errorf("worker not parked")
			}
			return nil
		})
		before := w.events.Load()
		sink(1, []byte(frame), mono.Now())
		if got, want := w.events.Load()-before, uint64(2); got != want {
			t.Fatalf("frame %d: %d events applied when the sink returned; want %d (inline)", i, got, want)
		}
	}
	va, ok, err := d.Book(context.Background(), dpAssetA, 0)
	if err != nil || !ok {
		t.Fatalf("Book(A) = %v, %v", ok, err)
	}
	if got, want := dpLevels(va.Bids), "300@0.5 350@0.49 500@0.48"; got != want {
		t.Errorf("A bids = %q; want %q", got, want)
	}
}

// Several sockets delivering at once: one takes the routing role, the others
// queue their frames for it, and whoever lets go last routes what is left.
// Every event arrives once and each asset's events stay in their socket's
// order, with and without inline application, and when every frame is
// handed off to the router goroutine (Config.HandOffFrames).
func TestDataPathConcurrentDelivery(t *testing.T) {
	for _, mode := range handOffModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Cleanup(func() { goleak.VerifyNone(t) })
			// Eight sockets, so that pushes often overlap a swap; fewer
			// frames under the race detector, which slows each one.
			const sockets = 8
			perSocket := 10_000
			if raceEnabled {
				perSocket = 2_000
			}
			var chk orderChecker
			d := startTestDataPath(t, routerConfig{ringMax: 1 << 14, policy: Block, handOff: mode.handOff}, chk.workers(2, 64, mode))
			deliverTrades(d, 900, sockets, perSocket, nil)
			waitApplied(t, d, sockets*perSocket)
			if st := d.router.stats(); st.Dropped != 0 || st.Frames != uint64(sockets*perSocket) {
				t.Errorf("router: %d frames, %d dropped; want %d, 0", st.Frames, st.Dropped, sockets*perSocket)
			}
			if mode.checksOrder() {
				chk.check(t, sockets*perSocket)
			}
			checkLastTrades(t, d, 900, sockets, perSocket)
		})
	}
}

// deliverTrades sends perSocket trades 1, 2, 3… of asset pathAsset(base+s)
// on each socket s (connection s+1), all sockets at once, and waits until
// every one is delivered; after, if set, runs after each frame on its
// socket's goroutine.
func deliverTrades(d *dataPath, base, sockets, perSocket int, after func(s, i int)) {
	sink := d.Sink()
	var wg sync.WaitGroup
	for s := range sockets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			asset := pathAsset(base + s)
			for i := range perSocket {
				sink(int64(s+1), []byte(tradeFor(asset, i+1)), mono.Now())
				if after != nil {
					after(s, i)
				}
			}
		}()
	}
	wg.Wait()
}

// checkLastTrades checks that each socket's asset (deliverTrades) has its
// last trade applied last.
func checkLastTrades(t *testing.T, d *dataPath, base, sockets, perSocket int) {
	t.Helper()
	for s := range sockets {
		b, ok, err := d.Book(context.Background(), pathAsset(base+s), 0)
		if err != nil || !ok || b.LastTrade == nil {
			t.Fatalf("Book(%d) = %v, %v", s, ok, err)
		}
		if got := b.LastTrade.Size.Float(); got != float64(perSocket) {
			t.Errorf("socket %d: last trade size %v; want %d (the last event applied last)", s, got, perSocket)
		}
	}
}

// waitApplied waits until d's workers applied exactly want events.
func waitApplied(t *testing.T, d *dataPath, want int) {
	t.Helper()
	poll.For(t, 10*time.Second, time.Millisecond, func() error {
		var n uint64
		for _, w := range d.workers.workers {
			n += w.events.Load()
		}
		if n != uint64(want) {
			return fmt.Errorf("workers applied %d events; want %d", n, want)
		}
		return nil
	})
}
