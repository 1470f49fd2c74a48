package engine

import (
	"github.com/polyfeed/polyfeed/internal/poll"
	"github.com/polyfeed/polyfeed/internal/testrig"

	"fmt"
	"iter"
	"sync"
	"testing"
	"time"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/internal/sim"
)

// tickRecorder is a Ticker handler that remembers, per worker, the assets
// it saw in events and in the last tick.
type tickRecorder struct {
	mu     *sync.Mutex
	events map[string]bool
	ticked map[string]bool
	ticks  *int
}

func (h tickRecorder) OnEvent(ev *Event, _ *book.Book) {
	h.mu.Lock()
	h.events[ev.AssetID] = true
	h.mu.Unlock()
}

func (h tickRecorder) OnTick(books iter.Seq[*book.Book]) {
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.ticks++
	for b := range books {
		h.ticked[b.AssetID()] = true
	}
}

// TestTickerSeesIdleBooks: with the simulator paused (no events at all),
// every worker keeps getting ticks that list every book it holds.
func TestTickerSeesIdleBooks(t *testing.T) {
	s := testrig.Sim(t, sim.Config{Seed: 3, Markets: 12, Manual: true})
	var mu sync.Mutex
	events, ticked, ticks := map[string]bool{}, map[string]bool{}, 0
	a := testApp(t, s, func(c *Config) {
		c.Handler = func(int) Handler { return tickRecorder{&mu, events, ticked, &ticks} }
	})
	ids := addSimMarkets(a, s)
	waitAllValid(t, a, ids, 20*time.Second)
	s.Pause()
	waitQuiescent(t, a)
	mu.Lock()
	clear(ticked)
	start := ticks
	mu.Unlock()
	poll.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if ticks < start+2*a.cfg.Workers {
			return fmt.Errorf("%d ticks since pause", ticks-start)
		}
		for _, id := range ids {
			if !ticked[id] {
				return fmt.Errorf("asset %s never ticked", id)
			}
		}
		return nil
	})
}

// TestNoTicksWithoutTicker: handlers that do not implement Ticker never
// make the router stage tick items.
func TestNoTicksWithoutTicker(t *testing.T) {
	ws := newWorkerSet(workerConfig{count: 2, ringSize: 1024, factory: func(int) Handler { return HandlerFunc(func(*Event, *book.Book) {}) }})
	if ws.wantsTicks() {
		t.Fatal("wantsTicks() = true for plain handlers; want false")
	}
	ws = newWorkerSet(workerConfig{count: 2, ringSize: 1024, factory: func(int) Handler {
		return tickRecorder{new(sync.Mutex), map[string]bool{}, map[string]bool{}, new(int)}
	}})
	if !ws.wantsTicks() {
		t.Fatal("wantsTicks() = false for Ticker handlers; want true")
	}
}

// TestUntrackBook keeps the worker's book list consistent through removals.
func TestUntrackBook(t *testing.T) {
	w := &worker{}
	rts := make([]*assetRoute, 5)
	for i := range rts {
		rts[i] = &assetRoute{id: fmt.Sprint(i), book: book.New(fmt.Sprint(i))}
		w.trackBook(rts[i])
	}
	w.untrackBook(rts[1])
	w.untrackBook(rts[4])
	w.untrackBook(rts[1]) // twice: no effect
	got := map[string]bool{}
	for b := range w.allBooks {
		got[b.AssetID()] = true
	}
	want := map[string]bool{"0": true, "2": true, "3": true}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("books after removals = %v; want %v", got, want)
	}
}
