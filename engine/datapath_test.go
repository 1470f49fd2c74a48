package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/engine/markets"
	"github.com/polyfeed/polyfeed/fixed"
	"github.com/polyfeed/polyfeed/internal/mono"
	"github.com/polyfeed/polyfeed/internal/poll"
	"github.com/polyfeed/polyfeed/internal/testrig"
)

const (
	dpAssetA  = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
	dpAssetB  = "52114319501245915516055106046884209969926127482827954674443846427813813222426"
	dpMarket  = "0xdd22472e552920b8438158ea7238bfadfa4f736aa4cee91a6b86c39ead110917"
	dpBookA   = `{"event_type":"book","market":"` + dpMarket + `","asset_id":"` + dpAssetA + `","bids":[{"price":"0.48","size":"500"},{"price":"0.49","size":"350"},{"price":"0.50","size":"200"}],"asks":[{"price":"0.53","size":"400"},{"price":"0.52","size":"250"},{"price":"0.51","size":"150"}],"timestamp":"1703875200000","hash":"a1","tick_size":"0.01"}`
	dpBookB   = `{"market":"` + dpMarket + `","asset_id":"` + dpAssetB + `","buys":[{"price":"0.47","size":"10"}],"sells":[{"price":"0.49","size":"20"}],"timestamp":"1703875200000"}`
	dpChanges = `{"event_type":"price_change","market":"` + dpMarket + `","price_changes":[{"asset_id":"` + dpAssetA + `","price":"0.50","side":"BUY","size":"300","hash":"h1","best_bid":"0.50","best_ask":"0.51"},{"asset_id":"` + dpAssetB + `","price":"0.49","side":"SELL","size":"0","hash":"h2","best_bid":"0.47","best_ask":"0"}],"timestamp":"1703875201000"}`
)

// recorder is a handler that keeps what it saw, per worker.
type dpRecorder struct {
	mu     sync.Mutex
	events []string
}

func (r *dpRecorder) factory(int) Handler {
	return HandlerFunc(func(ev *Event, b *book.Book) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.events = append(r.events, fmt.Sprintf("%s %s %v %v", ev.Kind, ev.AssetID[:4], ev.Price, ev.Size))
	})
}

func (r *dpRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

func newTestDataPath(t *testing.T, workers int, h HandlerFactory) *dataPath {
	t.Helper()
	return startTestDataPath(t, routerConfig{}, workerConfig{count: workers, ringSize: 1024, factory: h})
}

func dpLevels(ls []book.LevelView) string {
	var sb strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&sb, "%v@%v ", l.Size, l.Price)
	}
	return strings.TrimSpace(sb.String())
}

func TestDataPathAppliesFramesInOrder(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // runs after the data path's own cleanup
	var rec dpRecorder
	d := newTestDataPath(t, 2, rec.factory)
	sink := d.Sink()
	sink(1, []byte("["+dpBookA+","+dpBookB+"]"), mono.Now())
	sink(1, []byte(dpChanges), mono.Now())
	poll.For(t, 5*time.Second, time.Millisecond, func() error {
		if n := rec.count(); n != 4 {
			return fmt.Errorf("handler saw %d events; want 4", n)
		}
		return nil
	})
	ctx := context.Background()
	va, ok, err := d.Book(ctx, dpAssetA, 0)
	if err != nil || !ok {
		t.Fatalf("Book(A) = %v, %v", ok, err)
	}
	if got, want := dpLevels(va.Bids), "300@0.5 350@0.49 500@0.48"; got != want {
		t.Errorf("A bids = %q; want %q", got, want)
	}
	if got, want := dpLevels(va.Asks), "150@0.51 250@0.52 400@0.53"; got != want {
		t.Errorf("A asks = %q; want %q", got, want)
	}
	if !va.Valid || va.TickSize != fixed.MustParse("0.01") || va.UpdatedAtMS != 1703875201000 {
		t.Errorf("A valid/tick/updated = %v/%v/%v", va.Valid, va.TickSize, va.UpdatedAtMS)
	}
	vb, ok, _ := d.Book(ctx, dpAssetB, 0)
	if !ok || len(vb.Asks) != 0 || dpLevels(vb.Bids) != "10@0.47" {
		t.Errorf("B = %+v; want bids 10@0.47 and no asks (buys/sells aliases, size 0 deletes)", vb)
	}
	if _, ok, _ := d.Book(ctx, "123", 0); ok {
		t.Error("Book(unknown) found a book")
	}
	// The best_ask "0" of asset B says its ask side is empty after the
	// change: no divergence may be reported.
	var div uint64
	for _, w := range d.workerStats() {
		div += w.Divergences
	}
	if div != 0 {
		t.Errorf("divergences = %d; want 0", div)
	}
}

func TestDataPathDivergenceInvalidatesAndResyncs(t *testing.T) {
	defer goleak.VerifyNone(t)
	var rec dpRecorder
	var mu sync.Mutex
	var resynced []string
	d := newDataPath(routerConfig{inboundBytes: DefaultInboundBytes, logger: testrig.Logger(), resyncEvery: time.Millisecond, feedback: resyncRecorder(func(ids []string) {
		mu.Lock()
		resynced = append(resynced, ids...)
		mu.Unlock()
	})}, workerConfig{count: 1, ringSize: 1024, factory: rec.factory, logger: testrig.Logger()})
	ctx := context.Background()
	_ = d.startWorkers(ctx)
	_ = d.startRouter(ctx)
	defer func() { _ = d.stopRouter(ctx); _ = d.stopWorkers(ctx) }()
	sink := d.Sink()
	sink(1, []byte(dpBookA), mono.Now())
	// The venue says best bid 0.45 after the change, the book says 0.50.
	bad := strings.Replace(dpChanges, `"best_bid":"0.50"`, `"best_bid":"0.45"`, 1)
	sink(1, []byte(bad), mono.Now())
	poll.For(t, 5*time.Second, time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(resynced) == 0 || resynced[0] != dpAssetA {
			return fmt.Errorf("resync requests = %v; want asset A", resynced)
		}
		return nil
	})
	v, _, _ := d.Book(ctx, dpAssetA, 0)
	if v.Valid {
		t.Error("book still valid after a best bid/ask divergence")
	}
	sink(1, []byte(dpBookA), mono.Now())
	poll.For(t, 5*time.Second, time.Millisecond, func() error {
		v, _, _ := d.Book(ctx, dpAssetA, 0)
		if !v.Valid {
			return fmt.Errorf("book not valid again after a new snapshot")
		}
		return nil
	})
}

// TestBestCheckCanBeDisabled: with the cross-check off, a best_bid/best_ask
// that disagrees with the book is delivered but changes nothing.
func TestBestCheckCanBeDisabled(t *testing.T) {
	ws := newWorkerSet(workerConfig{count: 1, ringSize: 1024, logger: testrig.Logger()})
	r := newRouter(routerConfig{inboundBytes: DefaultInboundBytes, logger: testrig.Logger(), noBestCheck: true}, ws.rings())
	w := ws.workers[0]
	step := func(frame string) {
		r.routeFrame(1, []byte(frame), mono.Now())
		r.publish()
		if n := w.ring.PopBatch(w.batch); n > 0 {
			w.process(w.batch[:n])
		}
	}
	step(dpBookA)
	step(strings.Replace(dpChanges, `"best_bid":"0.50"`, `"best_bid":"0.45"`, 1))
	if d, inv := w.diverged.Load(), w.invalidated.Load(); d != 0 || inv != 0 {
		t.Fatalf("divergences/invalidations = %d/%d with the check off; want 0/0", d, inv)
	}
	if !dpRouteBook(r, dpAssetA).Valid() {
		t.Fatal("book invalidated with the check off")
	}
}

func dpRouteBook(r *router, id string) *book.Book { return r.routes[id].book }

// TestHotPathAllocs drives the router and a worker on one goroutine (they
// are never concurrent here, so the SPSC contract holds) and proves the
// steady state allocates nothing per event.
func TestHotPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's sync.Pool drops items on purpose, so sonic reallocates; make test runs this without -race")
	}
	ws := newWorkerSet(workerConfig{count: 2, ringSize: 1024, logger: testrig.Logger()})
	r := newRouter(routerConfig{inboundBytes: DefaultInboundBytes, logger: testrig.Logger()}, ws.rings())
	frameBook := []byte("[" + dpBookA + "," + dpBookB + "]")
	frameChange := []byte(dpChanges)
	step := func(frame []byte) {
		r.routeFrame(1, frame, mono.Now())
		r.publish()
		for _, w := range ws.workers {
			if n := w.ring.PopBatch(w.batch); n > 0 {
				w.process(w.batch[:n])
			}
		}
	}
	step(frameBook) // first sight of each asset allocates its route and book
	step(frameChange)
	if n := testing.AllocsPerRun(200, func() { step(frameChange) }); n != 0 {
		t.Errorf("price_change frame → book allocates %v per frame; want 0", n)
	}
	if n := testing.AllocsPerRun(200, func() { step(frameBook) }); n != 0 {
		t.Errorf("book snapshot frame → book allocates %v per frame; want 0", n)
	}
	frames := ws.workers[0].events.Load() + ws.workers[1].events.Load()
	if frames < 400 {
		t.Fatalf("workers applied %d events; the alloc loop did not run the path", frames)
	}
}

func TestDataPathBadChangeInvalidatesOnlyItsAsset(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	var rec dpRecorder
	d := newTestDataPath(t, 2, rec.factory)
	sink := d.Sink()
	sink(1, []byte("["+dpBookA+","+dpBookB+"]"), mono.Now())
	// Asset A's change carries an absurd size; asset B's is fine.
	bad := strings.Replace(dpChanges, `"size":"300"`, `"size":"1e400"`, 1)
	sink(1, []byte(bad), mono.Now())
	ctx := context.Background()
	poll.For(t, 5*time.Second, time.Millisecond, func() error {
		va, _, _ := d.Book(ctx, dpAssetA, 0)
		vb, _, _ := d.Book(ctx, dpAssetB, 0)
		if va.Valid {
			return fmt.Errorf("asset A still valid after its change was skipped")
		}
		if !vb.Valid || len(vb.Asks) != 0 {
			return fmt.Errorf("asset B = %+v; want valid with its ask deleted", vb)
		}
		return nil
	})
	if s := d.router.stats(); s.Malformed != 1 || s.Dropped != 1 {
		t.Errorf("malformed/dropped = %d/%d; want 1/1", s.Malformed, s.Dropped)
	}
}

// resyncRecorder is a feedback that only records resync requests.
type resyncRecorder func(ids []string)

func (f resyncRecorder) resync(ids []string)             { f(ids) }
func (resyncRecorder) snapshotSeen(int64, string, int64) {}
func (resyncRecorder) marketNotice(markets.Event)        {}
func (resyncRecorder) connDropped(int64)                 {}
func (resyncRecorder) tracked(string) bool               { return false }

// A change dropped while its worker's ring is full (and its invalidation with
// it) must not leave the book valid once the worker catches up, even if the
// asset stays quiet: the handler sees EventInvalidated and a read sees the
// book invalid, without waiting for the asset's next event or its resync.
func TestDataPathDropInvalidatesQuietAsset(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	release := make(chan struct{})
	var once, unblock sync.Once
	free := func() { unblock.Do(func() { close(release) }) }
	t.Cleanup(free) // registered after the data path's stop: runs first
	var (
		mu          sync.Mutex
		invalidated bool
	)
	d := startTestDataPath(t, routerConfig{ringMax: 16}, workerConfig{count: 1, ringSize: 16,
		factory: func(int) Handler {
			return HandlerFunc(func(ev *Event, b *book.Book) {
				once.Do(func() { <-release }) // hold the worker on its first event
				if ev.Kind == EventInvalidated && ev.AssetID == dpAssetA {
					mu.Lock()
					invalidated = true
					mu.Unlock()
				}
			})
		}})
	sink := d.Sink()
	sink(1, []byte(dpBookA), mono.Now())
	change := strings.Replace(dpChanges, `,{"asset_id":"`+dpAssetB+`","price":"0.49","side":"SELL","size":"0","hash":"h2","best_bid":"0.47","best_ask":"0"}`, "", 1)
	for d.router.stats().Dropped == 0 {
		sink(1, []byte(change), mono.Now())
	}
	d.router.acquire()
	pending := d.router.routes[dpAssetA].pendingInvalidate
	d.router.release()
	if !pending {
		t.Fatal("the drop's invalidation was staged; the case needs it pending")
	}
	free()
	poll.For(t, 5*time.Second, time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if !invalidated {
			return fmt.Errorf("handler saw no EventInvalidated for the asset whose change was dropped")
		}
		return nil
	})
	v, ok, err := d.Book(context.Background(), dpAssetA, 0)
	if err != nil || !ok {
		t.Fatalf("Book(A) = %v, %v", ok, err)
	}
	if v.Valid {
		t.Error("book valid after one of its changes was dropped")
	}
}
