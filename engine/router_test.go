package engine

import (
	"strings"
	"sync"
	"testing"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/internal/mono"
	"github.com/polyfeed/polyfeed/internal/testrig"
)

// stepPath drives a router and its workers on the test goroutine: routing
// and applying never run at the same time, so the SPSC contract holds and
// a test decides exactly when a worker catches up.
type stepPath struct {
	r  *router
	ws *workerSet
}

func newStepPath(t *testing.T, workers, ringSize int, rc routerConfig, h HandlerFactory) *stepPath {
	t.Helper()
	rc.inboundBytes = DefaultInboundBytes
	if rc.logger == nil {
		rc.logger = testrig.Logger()
	}
	ws := newWorkerSet(workerConfig{count: workers, ringSize: ringSize, factory: h, logger: testrig.Logger()})
	r := newRouter(rc, ws.rings())
	ws.cfg.resync = r.requestResync
	return &stepPath{r: r, ws: ws}
}

// route routes one frame from connection conn and publishes it.
func (p *stepPath) route(conn int64, frame string) {
	p.r.routeFrame(conn, []byte(frame), mono.Now())
	p.r.publish()
}

// apply lets every worker apply what its ring holds.
func (p *stepPath) apply() {
	for _, w := range p.ws.workers {
		for {
			n := w.ring.PopBatch(w.batch)
			if n == 0 {
				break
			}
			w.process(w.batch[:n])
		}
	}
}

// kindLog records the kinds of events the handler saw.
type kindLog struct {
	mu    sync.Mutex
	kinds []string
}

func (l *kindLog) factory(int) Handler {
	return HandlerFunc(func(ev *Event, _ *book.Book) {
		l.mu.Lock()
		l.kinds = append(l.kinds, ev.Kind.String())
		l.mu.Unlock()
	})
}

// TestSnapshotClearsPendingInvalidation pins issue 12 defect 3: a drop that
// could not stage its invalidation leaves it pending; a fresh snapshot
// routed afterwards makes the book whole again, so the pending invalidation
// must not survive it and invalidate the fresh book at the next change
// (which would leave the book invalid with no resync requested).
func TestSnapshotClearsPendingInvalidation(t *testing.T) {
	var log kindLog
	p := newStepPath(t, 1, 64, routerConfig{}, log.factory)
	p.route(1, dpBookA)
	p.apply()
	// Fill the ring without letting the worker run: the next change is
	// dropped, and its invalidation finds no room either.
	change := strings.Replace(dpChanges, `,{"asset_id":"`+dpAssetB+`","price":"0.49","side":"SELL","size":"0","hash":"h2","best_bid":"0.47","best_ask":"0"}`, "", 1)
	for p.r.dropped.Load() == 0 {
		p.route(1, change)
	}
	rt := p.r.routes[dpAssetA]
	if !rt.pendingInvalidate {
		t.Fatal("the drop's invalidation was staged; the case needs it pending")
	}
	p.apply()
	// The resync's answer: a fresh snapshot, then live changes.
	p.route(1, dpBookA)
	p.apply()
	p.route(1, change)
	p.apply()
	b := rt.book
	if !b.Valid() {
		t.Fatalf("book invalid after a fresh snapshot and one change (pending invalidation survived the snapshot); events %v", log.kinds[len(log.kinds)-4:])
	}
	if got := log.kinds[len(log.kinds)-1]; got != EventLevel.String() {
		t.Errorf("last event %s; want the change", got)
	}
}

// control runs a control request on the router and lets the workers apply it.
func (p *stepPath) control(c *control) {
	p.r.handleControl(c)
	p.r.publish()
	p.apply()
}

// A drop whose invalidation found the ring full leaves the invalidation
// pending until the asset's next event. An asset that then goes quiet kept
// a book that claimed to be valid while it missed the dropped change, for as
// long as its resync took (forever without an answer): handlers' OnTick and
// book reads saw a wrong book marked right. The router stages a pending
// invalidation as soon as the worker's ring has room again (the per-batch
// and idle housekeeping), and a book read never overtakes one.
func TestPendingInvalidationStagedOnceRingHasRoom(t *testing.T) {
	change := strings.Replace(dpChanges, `,{"asset_id":"`+dpAssetB+`","price":"0.49","side":"SELL","size":"0","hash":"h2","best_bid":"0.47","best_ask":"0"}`, "", 1)
	// fill routes changes of A without letting the worker run until one is
	// dropped and its invalidation finds no room either.
	fill := func(t *testing.T, p *stepPath) *assetRoute {
		t.Helper()
		p.route(1, dpBookA)
		p.apply()
		for p.r.dropped.Load() == 0 {
			p.route(1, change)
		}
		rt := p.r.routes[dpAssetA]
		if !rt.pendingInvalidate {
			t.Fatal("the drop's invalidation was staged; the case needs it pending")
		}
		return rt
	}
	t.Run("idle", func(t *testing.T) {
		var log kindLog
		p := newStepPath(t, 1, 64, routerConfig{}, log.factory)
		rt := fill(t, p)
		p.apply() // the worker catches up; A gets no more events
		p.r.housekeep(mono.Now())
		p.apply()
		if rt.book.Valid() {
			t.Errorf("book valid after its change was dropped and the ring drained; events end %v", log.kinds[len(log.kinds)-2:])
		}
		if got := log.kinds[len(log.kinds)-1]; got != EventInvalidated.String() {
			t.Errorf("last event %s; want %s", got, EventInvalidated)
		}
		if rt.pendingInvalidate {
			t.Error("invalidation still pending once staged")
		}
		// The resync's snapshot makes the book valid again, and no second
		// invalidation follows it.
		p.route(1, dpBookA)
		p.route(1, change)
		p.r.housekeep(mono.Now())
		p.apply()
		if !rt.book.Valid() {
			t.Error("book invalid after a fresh snapshot and one change")
		}
	})
	t.Run("read", func(t *testing.T) {
		p := newStepPath(t, 1, 64, routerConfig{}, nil)
		fill(t, p)
		p.apply()
		c := &control{op: ctlReadBook, asset: dpAssetA, done: make(chan struct{})}
		p.control(c)
		<-c.done
		if c.err != nil || !c.found {
			t.Fatalf("read: found %v, err %v", c.found, c.err)
		}
		if c.view.Valid {
			t.Error("read returned a valid book missing a dropped change")
		}
	})
	t.Run("dropped asset", func(t *testing.T) {
		// An asset dropped from the engine while its invalidation is
		// pending gets none afterwards: it would make a book for a route
		// nothing drops again.
		p := newStepPath(t, 1, 64, routerConfig{}, nil)
		rt := fill(t, p)
		p.apply()
		p.control(&control{op: ctlDropAssets, assets: []string{dpAssetA}})
		p.r.housekeep(mono.Now())
		p.apply()
		if rt.book != nil {
			t.Error("a book was made again for a dropped asset")
		}
		if n := p.ws.workers[0].bookCount.Load(); n != 0 {
			t.Errorf("worker holds %d books; want 0", n)
		}
	})
}
