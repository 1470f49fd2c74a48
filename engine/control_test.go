package engine

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/internal/mono"
	"github.com/polyfeed/polyfeed/internal/poll"
)

// assetOn returns an asset id that workers of n hash to worker w.
func assetOn(w, n int) string {
	for i := 1000; ; i++ {
		id := strconv.Itoa(i)
		if int(xxhash.Sum64String(id)%uint64(n)) == w {
			return id
		}
	}
}

// bookFor and changeFor are dpBookA and a one-change price_change for id.
func bookFor(id string) string { return strings.ReplaceAll(dpBookA, dpAssetA, id) }

func changeFor(id string, size int) string {
	return fmt.Sprintf(`{"event_type":"price_change","market":"%s","price_changes":[{"asset_id":"%s","price":"0.50","side":"BUY","size":"%d"}],"timestamp":"1703875201000"}`, dpMarket, id, size)
}

// stuckHandler blocks on the events of one asset until released, and
// records the kinds of events of every other asset.
type stuckHandler struct {
	asset   string
	entered chan struct{} // closed when the handler first blocks
	release chan struct{}
	once    sync.Once

	mu   sync.Mutex
	seen map[string][]string // asset → event kinds
}

func newStuckHandler(asset string) *stuckHandler {
	return &stuckHandler{asset: asset, entered: make(chan struct{}), release: make(chan struct{}), seen: map[string][]string{}}
}

func (h *stuckHandler) factory(int) Handler {
	return HandlerFunc(func(ev *Event, _ *book.Book) {
		h.mu.Lock()
		h.seen[ev.AssetID] = append(h.seen[ev.AssetID], ev.Kind.String())
		h.mu.Unlock()
		if ev.AssetID == h.asset {
			h.once.Do(func() { close(h.entered) })
			<-h.release
		}
	})
}

func (h *stuckHandler) kinds(asset string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.seen[asset]...)
}

// stickWorker makes the worker of stuck block in its handler and fills its
// ring to the last slot (a drop alone may leave a few free).
func stickWorker(t *testing.T, d *dataPath, h *stuckHandler) {
	t.Helper()
	sink := d.Sink()
	sink(1, []byte(bookFor(h.asset)), mono.Now())
	<-h.entered
	poll.For(t, 10*time.Second, time.Millisecond, func() error {
		for i := range 50 {
			sink(1, []byte(changeFor(h.asset, 100+i)), mono.Now())
		}
		q := d.router.rings[int(xxhash.Sum64String(h.asset)%uint64(len(d.router.rings)))]
		if d.router.dropped.Load() == 0 || q.Len() < q.Cap() {
			return fmt.Errorf("the stuck worker's ring holds %d of %d items", q.Len(), q.Cap())
		}
		return nil
	})
}

// TestStuckWorkerDoesNotStallControls pins issue 12 defect 4: with one
// worker stuck in its handler and its ring full, control requests for
// every worker (a dropped socket's invalidation here) still reach the other
// workers, and the router keeps routing their events: the stuck worker
// costs only its own assets.
func TestStuckWorkerDoesNotStallControls(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	stuck, live := assetOn(0, 2), assetOn(1, 2)
	h := newStuckHandler(stuck)
	d := newTestDataPath(t, 2, h.factory)
	t.Cleanup(func() { close(h.release) }) // runs before the data path stops
	sink := d.Sink()
	sink(1, []byte(bookFor(live)), mono.Now())
	stickWorker(t, d, h)

	d.InvalidateConn(1)
	poll.For(t, 10*time.Second, time.Millisecond, func() error {
		if ks := h.kinds(live); ks[len(ks)-1] != EventInvalidated.String() {
			return fmt.Errorf("live asset saw %v; want the dropped socket's invalidation", ks)
		}
		return nil
	})
	sink(1, []byte(bookFor(live)), mono.Now())
	poll.For(t, 10*time.Second, time.Millisecond, func() error {
		v, ok, err := d.Book(context.Background(), live, 0)
		if err != nil || !ok || !v.Valid {
			return fmt.Errorf("live book after its resync: %v %v %v", v.Valid, ok, err)
		}
		return nil
	})
	if n := d.router.stats().DeferredControls; n == 0 {
		t.Error("no deferred control counted for the stuck worker")
	}
}

// TestControlFailsAtStopWithoutWaiting pins issue 12 defect 11 (stop):
// a control request that cannot reach a stuck worker before the router
// stops is answered at once with errStopped, not left to the caller's
// timeout and not reported as a success.
func TestControlFailsAtStopWithoutWaiting(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	stuck := assetOn(0, 1)
	h := newStuckHandler(stuck)
	d := newTestDataPath(t, 1, h.factory)
	t.Cleanup(func() { close(h.release) })
	stickWorker(t, d, h)
	m := newMigration([]string{stuck}, 1)
	c := &control{op: ctlFinishMigration, assets: []string{stuck}, mig: m, done: make(chan struct{})}
	if !d.router.in.PushControl(c) {
		t.Fatal("router refused the control")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- d.stopRouter(context.Background()) }()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("control never answered after the router stopped")
	}
	if c.err != errStopped {
		t.Errorf("control answered %v; want errStopped", c.err)
	}
	if err := <-stopped; err != nil {
		t.Error(err)
	}
}

// TestMigrationRouteKeepsMarket pins issue 12 defect 11 (market): a
// migration announced before the asset's first frame must not create its
// route without a market, which every later event would report as "".
func TestMigrationRouteKeepsMarket(t *testing.T) {
	var mu sync.Mutex
	var markets []string
	p := newStepPath(t, 1, 1024, routerConfig{}, func(int) Handler {
		return HandlerFunc(func(ev *Event, _ *book.Book) {
			mu.Lock()
			markets = append(markets, ev.Market)
			mu.Unlock()
		})
	})
	m := newMigration([]string{dpAssetA}, 1)
	p.control(&control{op: ctlMigrate, assets: []string{dpAssetA}, mig: m})
	p.route(2, dpBookA)
	p.route(2, dpChanges)
	p.apply()
	if len(markets) == 0 {
		t.Fatal("no event delivered")
	}
	for i, got := range markets {
		if got != dpMarket {
			t.Errorf("event %d market %q; want %q", i, got, dpMarket)
		}
	}
	if m.Pending() != 0 {
		t.Errorf("migration of an asset no connection fed is pending %d; want settled", m.Pending())
	}
}

// trackedFeedback is a feedback whose registry holds the given assets.
type trackedFeedback struct {
	resyncRecorder
	ids map[string]bool
}

func (f trackedFeedback) tracked(id string) bool { return f.ids[id] }

// TestLateFrameAfterDropIsIgnored pins issue 12 defect 11 (late frame): a
// frame that arrives after DropBooks removed its asset neither re-creates
// the route nor leaves an invalid book behind that nothing would ever drop;
// an asset tracked again is routed as before.
func TestLateFrameAfterDropIsIgnored(t *testing.T) {
	fb := trackedFeedback{resyncRecorder: func([]string) {}, ids: map[string]bool{}}
	p := newStepPath(t, 1, 1024, routerConfig{feedback: fb}, nil)
	w := p.ws.workers[0]
	p.route(1, dpBookA)
	p.apply()
	p.control(&control{op: ctlDropAssets, assets: []string{dpAssetA}})
	if n := w.bookCount.Load(); n != 0 {
		t.Fatalf("%d books after the drop; want 0", n)
	}
	change := strings.Replace(dpChanges, `,{"asset_id":"`+dpAssetB+`","price":"0.49","side":"SELL","size":"0","hash":"h2","best_bid":"0.47","best_ask":"0"}`, "", 1)
	p.route(1, change) // in flight when the asset was dropped
	p.apply()
	if _, ok := p.r.routes[dpAssetA]; ok {
		t.Error("a late frame re-created the dropped asset's route")
	}
	if n := w.bookCount.Load(); n != 0 {
		t.Errorf("%d books after a late frame; want 0", n)
	}
	if n := p.r.stats().LateEvents; n != 1 {
		t.Errorf("late events = %d; want 1", n)
	}
	// An asset dropped before any frame of it arrived is no different.
	p.control(&control{op: ctlDropAssets, assets: []string{dpAssetB}})
	p.route(1, dpBookB)
	p.apply()
	if _, ok := p.r.routes[dpAssetB]; ok || w.bookCount.Load() != 0 || p.r.stats().LateEvents != 2 {
		t.Errorf("a frame of an asset dropped before its first frame made a route (%v), %d books, %d late events; want none, 0, 2",
			ok, w.bookCount.Load(), p.r.stats().LateEvents)
	}
	fb.ids[dpAssetA] = true // added again: its snapshot is welcome
	p.route(1, dpBookA)
	p.apply()
	if rt, ok := p.r.routes[dpAssetA]; !ok || rt.book == nil || !rt.book.Valid() {
		t.Error("an asset tracked again got no valid book from its snapshot")
	}
}
