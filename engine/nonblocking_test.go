package engine

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/internal/mono"
	"github.com/polyfeed/polyfeed/internal/poll"
)

// countingHandler counts trades; wrapped in nonBlockingHandler it declares
// that it never blocks.
type countingHandler struct {
	trades  *atomic.Int64
	release chan struct{} // when set, OnEvent waits for it (a blocking handler)
}

func (h countingHandler) OnEvent(ev *Event, _ *book.Book) {
	if ev.Kind != EventTrade {
		return
	}
	if h.release != nil {
		<-h.release
	}
	h.trades.Add(1)
}

// waitParked waits until worker w is parked, so the next frame for it
// takes the kick path that decides between waking it and applying inline.
func waitParked(t *testing.T, d *dataPath, w int) {
	t.Helper()
	poll.For(t, 5*time.Second, time.Millisecond, func() error {
		if !d.workers.workers[w].parked.Load() {
			return errors.New("worker 0 not parked yet")
		}
		return nil
	})
}

// A NonBlocking handler of a parked worker runs on the goroutine that
// delivered the frame: the trade is handled by the time the delivery
// returns, and the worker is never woken for it.
func TestNonBlockingHandlerRunsInline(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	var trades atomic.Int64
	wc := workerConfig{count: 1, ringSize: 16, inline: true,
		factory: func(int) Handler { return nonBlockingHandler{countingHandler{trades: &trades}} }}
	d := startTestDataPath(t, routerConfig{ringMax: 1 << 10, policy: Block}, wc)
	sink := d.Sink()
	asset := pathAsset(1)
	for i := range 20 {
		waitParked(t, d, 0)
		sink(1, []byte(tradeFor(asset, i+1)), mono.Now())
		if got := trades.Load(); got != int64(i+1) {
			t.Fatalf("after delivering trade %d the handler had seen %d: it did not run on the delivering goroutine", i+1, got)
		}
	}
}

// Any other handler runs on its worker's goroutine only, even when inline
// application is on: a handler that blocks holds up its worker, never the
// socket that delivered the frame.
func TestBlockingHandlerNeverRunsInline(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	var trades atomic.Int64
	release := make(chan struct{})
	wc := workerConfig{count: 1, ringSize: 16, inline: true,
		factory: func(int) Handler { return countingHandler{trades: &trades, release: release} }}
	d := startTestDataPath(t, routerConfig{ringMax: 1 << 10, policy: Block}, wc)
	t.Cleanup(func() { close(release) }) // registered after the data path's stop: runs first
	waitParked(t, d, 0)
	delivered := make(chan struct{})
	go func() {
		defer close(delivered)
		d.Sink()(1, []byte(tradeFor(pathAsset(1), 1)), mono.Now())
	}()
	select {
	case <-delivered:
	case <-time.After(10 * time.Second):
		t.Fatal("delivering a frame waited for a blocked handler: it ran on the socket's goroutine")
	}
	if got := trades.Load(); got != 0 {
		t.Fatalf("handler finished %d trades while blocked", got)
	}
}

func TestInlineable(t *testing.T) {
	var n atomic.Int64
	for _, tc := range []struct {
		name string
		h    Handler
		want bool
	}{
		{"no handler", nopHandler{}, true},
		{"NonBlocking", nonBlockingHandler{countingHandler{trades: &n}}, true},
		{"plain", countingHandler{trades: &n}, false},
		{"HandlerFunc", HandlerFunc(func(*Event, *book.Book) {}), false},
	} {
		if got := inlineable(tc.h); got != tc.want {
			t.Errorf("%s: inlineable = %v, want %v", tc.name, got, tc.want)
		}
	}
}
