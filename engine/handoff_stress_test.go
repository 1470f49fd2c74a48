package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/internal/mono"
	"github.com/polyfeed/polyfeed/internal/poll"
)

// Stress tests of the data path's hand-offs that no single frame exercises:
// control requests queued behind a socket's own frames while other sockets
// hold the routing role, and worker rings that grow and shrink while
// producers and consumers move between goroutines. Each checks that every
// asset's events arrive once, in its socket's order.

// handOffMode is one way a frame reaches a book: workers apply it (a
// handler), the routing goroutine applies it for a parked worker (inline:
// no handler, or a NonBlocking one), or the router goroutine routes every
// frame (HandOffFrames).
type handOffMode struct {
	name                         string
	inline, nonBlocking, handOff bool
}

var handOffModes = []handOffMode{
	{name: "workers"},
	{name: "inline", inline: true},
	{name: "inline_handler", inline: true, nonBlocking: true},
	{name: "handoff", handOff: true},
}

// checksOrder reports whether a handler sees every event (all modes but
// inline without a handler, where only the books show what was applied).
func (m handOffMode) checksOrder() bool { return !m.inline || m.nonBlocking }

// routedBySockets are the modes in which the sockets route their own
// frames (all but HandOffFrames).
func routedBySockets() []handOffMode {
	var ms []handOffMode
	for _, m := range handOffModes {
		if !m.handOff {
			ms = append(ms, m)
		}
	}
	return ms
}

// orderChecker is a handler that checks each asset's trades arrive 1, 2, 3…
type orderChecker struct {
	mu   sync.Mutex
	last map[string]int
	seen int
	bad  []string
}

func (c *orderChecker) factory(int) Handler {
	return HandlerFunc(func(ev *Event, _ *book.Book) {
		if ev.Kind != EventTrade {
			return
		}
		n := int(ev.Size.Float())
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.last == nil {
			c.last = map[string]int{}
		}
		if n != c.last[ev.AssetID]+1 {
			c.bad = append(c.bad, fmt.Sprintf("%s…: %d after %d", ev.AssetID[:6], n, c.last[ev.AssetID]))
		}
		c.last[ev.AssetID] = n
		c.seen++
	})
}

// workers is a worker configuration for mode: its handler is c (declared
// NonBlocking in the inline_handler mode), or none in the inline mode (the
// engine's own book code, which the routing goroutine may then run).
func (c *orderChecker) workers(count, ringSize int, mode handOffMode) workerConfig {
	wc := workerConfig{count: count, ringSize: ringSize, inline: mode.inline}
	switch {
	case mode.nonBlocking:
		wc.factory = func(w int) Handler { return nonBlockingHandler{c.factory(w)} }
	case !mode.inline:
		wc.factory = c.factory
	}
	return wc
}

// nonBlockingHandler declares a handler NonBlocking (the order checker
// only takes a mutex no one holds for long).
type nonBlockingHandler struct{ Handler }

func (nonBlockingHandler) NonBlocking() {}

func (c *orderChecker) check(t *testing.T, want int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.bad) > 0 {
		t.Errorf("%d events out of order, first: %v", len(c.bad), c.bad[0])
	}
	if c.seen != want {
		t.Errorf("handler saw %d trades; want %d", c.seen, want)
	}
}

// A socket that reads a book right after delivering a frame sees that frame
// applied: the read request is queued behind every frame already queued, and
// the socket's own frame was either routed by the socket itself or queued
// before the request. Other sockets keep the routing role busy meanwhile.
func TestDataPathReadSeesOwnFrames(t *testing.T) {
	for _, mode := range handOffModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Cleanup(func() { goleak.VerifyNone(t) })
			const sockets = 6
			perSocket := 3_000
			if raceEnabled {
				perSocket = 600
			}
			var chk orderChecker
			wc := chk.workers(2, 16, mode)
			d := startTestDataPath(t, routerConfig{ringMax: 1 << 12, policy: Block, handOff: mode.handOff}, wc)
			sink := d.Sink()
			var (
				wg    sync.WaitGroup
				mu    sync.Mutex
				stale []string
				reads atomic.Int64
			)
			for s := range sockets {
				wg.Add(1)
				go func() {
					defer wg.Done()
					asset := pathAsset(700 + s)
					for i := range perSocket {
						sink(int64(s+1), []byte(tradeFor(asset, i+1)), mono.Now())
						if s%2 == 1 || i%7 != 0 {
							continue // half the sockets only deliver, to hold the role
						}
						// A busy engine (the asset's ring full) asks the caller
						// to try again, as any reader would; a read it answers
						// must show the frame.
						v, ok, err := d.Book(context.Background(), asset, 1)
						for try := 0; errors.Is(err, errEngineBusy) && try < 1000; try++ {
							runtime.Gosched()
							v, ok, err = d.Book(context.Background(), asset, 1)
						}
						reads.Add(1)
						var got float64
						if ok && v.LastTrade != nil {
							got = v.LastTrade.Size.Float()
						}
						if err != nil || got != float64(i+1) {
							mu.Lock()
							stale = append(stale, fmt.Sprintf("socket %d: read after frame %d saw trade %v (found %v, err %v)", s, i+1, got, ok, err))
							mu.Unlock()
						}
					}
				}()
			}
			wg.Wait()
			mu.Lock()
			if len(stale) > 0 {
				t.Errorf("%d of %d reads missed their own frame, first: %s", len(stale), reads.Load(), stale[0])
			}
			mu.Unlock()
			if mode.checksOrder() {
				poll.For(t, 10*time.Second, time.Millisecond, func() error {
					chk.mu.Lock()
					defer chk.mu.Unlock()
					if chk.seen != sockets*perSocket {
						return fmt.Errorf("handler saw %d trades; want %d", chk.seen, sockets*perSocket)
					}
					return nil
				})
				chk.check(t, sockets*perSocket)
			}
		})
	}
}

// Rings that grow and shrink while producers keep delivering: the consumer
// (the worker, or the routing goroutine inline) follows the chain through
// every resize, and every event arrives once and in order. Growing is
// router.grow's, shrinking router.shrinkRings'; here every socket, every few
// frames, takes the routing role as the router goroutine does and grows
// every ring at its first capacity and shrinks every grown one that is
// drained, so that resizes land between the other sockets' frames whatever
// the load. With HandOffFrames the consumers are the workers, as in the
// "workers" mode, so that mode is left out.
func TestDataPathRingsGrowAndShrinkUnderLoad(t *testing.T) {
	for _, mode := range routedBySockets() {
		t.Run(mode.name, func(t *testing.T) {
			t.Cleanup(func() { goleak.VerifyNone(t) })
			const (
				sockets     = 6
				resizeEvery = 32 // frames of one socket
			)
			perSocket := 20_000
			if raceEnabled {
				perSocket = 4_000
			}
			var chk orderChecker
			wc := chk.workers(2, 8, mode)
			d := startTestDataPath(t, routerConfig{ringMax: 1 << 10, policy: Block}, wc)
			r := d.router
			var grows, shrinks int // role holder's
			resize := func() {
				r.acquire()
				defer r.release()
				now := mono.Now()
				for w, q := range r.rings {
					if q.Cap() == r.firstCap {
						if r.grow(w, 0) {
							grows++
						}
						continue
					}
					r.grown[w] = now - int64(2*shrinkAfter)
				}
				before := make([]int, len(r.rings))
				for w, q := range r.rings {
					before[w] = q.Cap()
				}
				r.shrinkRings(now)
				for w, q := range r.rings {
					if q.Cap() != before[w] {
						shrinks++
					}
				}
			}
			deliverTrades(d, 800, sockets, perSocket, func(s, i int) {
				if i%resizeEvery == s {
					resize()
				}
			})
			total := sockets * perSocket
			waitApplied(t, d, total)
			if st := d.router.stats(); st.Dropped != 0 {
				t.Errorf("router dropped %d events; want 0", st.Dropped)
			}
			r.acquire()
			g, sh := grows, shrinks
			r.release()
			if want := total / resizeEvery / 10; g < want || sh < want {
				t.Errorf("%d grows and %d shrinks during the run; want at least %d each to exercise resizes", g, sh, want)
			}
			t.Logf("%d frames, %d grows, %d shrinks", total, g, sh)
			if mode.checksOrder() {
				chk.check(t, total)
			}
			checkLastTrades(t, d, 800, sockets, perSocket)
		})
	}
}

// A frame published while its worker is about to park is applied: the
// producer waits for each frame to be applied before sending the next,
// after a pause of varying length, so that publishes land before, inside
// and after the worker's park (idle set, ring re-checked, consumer role let
// go). A lost wake-up leaves a frame unapplied and fails the wait.
func TestDataPathNoLostWakeupAtPark(t *testing.T) {
	for _, mode := range routedBySockets() {
		t.Run(mode.name, func(t *testing.T) {
			t.Cleanup(func() { goleak.VerifyNone(t) })
			frames := 6_000
			if raceEnabled {
				frames = 1_500
			}
			var chk orderChecker
			wc := chk.workers(1, 64, mode)
			d := startTestDataPath(t, routerConfig{}, wc)
			w := d.workers.workers[0]
			sink := d.Sink()
			asset := pathAsset(600)
			parks := 0
			for i := range frames {
				// Every other frame waits until the worker starts to park
				// (idle set; at most 1ms), then up to 0..255 more loads: the
				// publish lands inside its park or just after. The others go
				// at once, while the worker spins.
				if i%2 == 0 {
					for until := time.Now().Add(time.Millisecond); !w.idle.Load() && time.Now().Before(until); {
					}
					if w.idle.Load() {
						parks++
					}
					for range (i * 37) % 256 {
						_ = w.parked.Load()
					}
				}
				sink(1, []byte(tradeFor(asset, i+1)), mono.Now())
				deadline := time.Now().Add(5 * time.Second)
				for w.events.Load() != uint64(i+1) {
					if time.Now().After(deadline) {
						t.Fatalf("frame %d not applied after 5s (worker parked %v, idle %v, ring %d): lost wake-up", i+1, w.parked.Load(), w.idle.Load(), w.ring.Len())
					}
					runtime.Gosched()
				}
			}
			if mode.checksOrder() {
				chk.check(t, frames)
			}
			t.Logf("%d frames, worker seen parking before %d of them", frames, parks)
		})
	}
}
