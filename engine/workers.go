package engine

import (
	"fmt"
	"iter"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/engine/logonce"
	"github.com/polyfeed/polyfeed/engine/stats"
	"github.com/polyfeed/polyfeed/internal/hist"
	"github.com/polyfeed/polyfeed/internal/mono"
	"github.com/polyfeed/polyfeed/ring"
)

// workerConfig is filled by the App from Config.
type workerConfig struct {
	count    int
	ringSize int // each ring's first capacity; the router resizes it (routerConfig.ringMax)
	batch    int
	factory  HandlerFactory
	pinCPUs  bool // pin worker i to CPU i % NumCPU (Linux)
	floating bool // do not lock worker goroutines to OS threads
	// inline lets the routing goroutine apply a parked worker's items
	// itself (kick), with floating workers only. It applies to a worker
	// whose handler may run there (inlineable): none, or one that promises
	// never to block (NonBlocking), so no user code that might wait ever
	// holds up a socket reader.
	inline bool
	logger *slog.Logger
	// resync asks for a fresh snapshot after a detected divergence.
	resync func(assetID string)
}

// firstRingSize is each worker ring's capacity at start (items, 96 KiB).
// At the venue's real rates a ring rarely holds more than a few frames'
// events; the startup dump grows the rings it fills, up to Config.RingSize,
// and the router shrinks them back once the burst is over.
const firstRingSize = 1 << 10

// workerSet owns the worker goroutines and their rings.
type workerSet struct {
	cfg     workerConfig
	workers []*worker
	done    chan struct{}
	wg      sync.WaitGroup
}

// worker owns the books of its shard. Everything but the padded counters is
// touched only by the holder of the worker's consumer role (busy): the
// worker goroutine, or the routing goroutine applying items inline.
type worker struct {
	id         int
	ring       *ring.Chain[item] // the ring being consumed, then its successors (ring.Resize)
	handler    Handler
	ticker     Ticker // handler as a Ticker, or nil
	inline     bool   // cfg.inline and the handler may run on the routing goroutine
	cfg        *workerConfig
	batch      []item
	ev         Event
	bids       []book.Level // snapshot being assembled
	asks       []book.Level
	cmpA, cmpB []book.Level
	routes     []*assetRoute        // assets with a book, for OnTick
	books      iter.Seq[*book.Book] // allBooks, made once

	events      paddedCounter
	panics      paddedCounter
	invalidated paddedCounter
	diverged    paddedCounter
	badLevels   paddedCounter
	crossed     paddedCounter
	ignored     paddedCounter // events from a connection that does not own the asset
	migrated    paddedCounter // assets switched to a new connection by stream alignment
	misaligned  paddedCounter // replacement events that did not repeat the expected ones
	mig         migCounters   // which alignment paths ran (migration.go)
	bookCount   atomic.Int64
	lastBeat    atomic.Int64 // mono ns of the last finished batch or park
	parked      atomic.Bool
	// The consumer role and parking (see kick): busy is held by whoever
	// consumes the ring (the worker goroutine, or the routing goroutine
	// inline); idle is set by a worker about to block on wake.
	busy       atomic.Bool
	idle       atomic.Bool
	wake       chan struct{} // buffer 1: a pending wake-up is never lost
	alive      atomic.Bool
	processing hist.Histogram // routed → handler done
	endToEnd   hist.Histogram // frame received → handler done
	panicLog   logonce.Limiter
}

func newWorkerSet(cfg workerConfig) *workerSet {
	if cfg.batch <= 0 {
		cfg.batch = 256
	}
	if cfg.factory == nil {
		cfg.factory = func(int) Handler { return nopHandler{} }
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	s := &workerSet{cfg: cfg, done: make(chan struct{})}
	for i := range cfg.count {
		h := cfg.factory(i)
		if h == nil {
			h = nopHandler{}
		}
		w := &worker{
			id:      i,
			handler: h,
			ticker:  tickerOf(h),
			inline:  cfg.inline && inlineable(h),
			cfg:     &s.cfg,
			batch:   make([]item, cfg.batch),
			wake:    make(chan struct{}, 1),
		}
		w.ring = ring.NewChain(ring.New[item](cfg.ringSize))
		w.books = w.allBooks
		s.workers = append(s.workers, w)
	}
	return s
}

func (s *workerSet) rings() []*ring.SPSC[item] {
	rs := make([]*ring.SPSC[item], len(s.workers))
	for i, w := range s.workers {
		rs[i] = w.ring.Ring()
	}
	return rs
}

func (s *workerSet) start() {
	for _, w := range s.workers {
		w.alive.Store(true)
		w.lastBeat.Store(mono.Now())
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer w.alive.Store(false)
			w.run(s.done)
		}()
	}
}

// stopAndWait tells every worker to finish what its ring holds and exit.
// The router must already be stopped (nothing more is published).
func (s *workerSet) stopAndWait() {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	s.wg.Wait()
}

func (w *worker) run(done <-chan struct{}) {
	// Locked (Config.LockWorkers, PinCPUs): the worker keeps its OS thread
	// (and with PinCPUs its core), so its books stay in one cache and no
	// other goroutine runs between two of its batches. The price is paid at
	// idle: a locked goroutine that parks hands its P off and sleeps its
	// thread, and waking it is a futex wake and a thread switch, so floating
	// is the default (PERFORMANCE.md, "Worker mode").
	if !w.cfg.floating || w.cfg.pinCPUs {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	if w.cfg.pinCPUs {
		var set unix.CPUSet
		set.Set(w.id % runtime.NumCPU())
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			w.cfg.logger.Warn("cannot pin worker to cpu", "worker", w.id, "err", err)
		}
	}
	w.acquire()
	defer w.busy.Store(false)
	for {
		n := w.ring.PopBatch(w.batch)
		if n > 0 {
			w.process(w.batch[:n])
			continue
		}
		if w.spin() {
			continue
		}
		if !w.park(done) {
			w.drain()
			return
		}
	}
}

// Before a worker parks it re-checks its ring spinChecks times, then yields
// yieldChecks times (giving the core to the goroutine that may be about to
// publish, on a 2-core machine often the router): an item published
// meanwhile is taken without a wake-up, which under sustained load is what
// keeps processing latency low.
const (
	spinChecks  = 256
	yieldChecks = 4
)

// spin re-checks the ring briefly; true if something arrived. Busy held.
func (w *worker) spin() bool {
	for range spinChecks {
		if w.ring.Pending() {
			return true
		}
	}
	for range yieldChecks {
		runtime.Gosched()
		if w.ring.Pending() {
			return true
		}
	}
	return false
}

// park gives up the consumer role and blocks until kicked (true) or done
// (false); it returns holding the role again.
//
// Why no item is lost: the worker sets idle (W1) and then re-checks the ring
// (W2) while still holding the role; the router publishes (R1) and then
// loads idle (R2, kick). Go's atomics are sequentially consistent, so either
// W2 sees the item, or R2 sees idle and the router either takes the role
// (once the worker has let go) and applies the item itself, or wakes the
// worker.
func (w *worker) park(done <-chan struct{}) bool {
	w.idle.Store(true)    // W1
	if w.ring.Pending() { // W2
		w.idle.Store(false)
		return true
	}
	w.parked.Store(true)
	w.lastBeat.Store(mono.Now())
	w.busy.Store(false)
	ok := true
	select {
	case <-w.wake:
	case <-done:
		ok = false
	}
	w.idle.Store(false)
	w.acquire()
	w.parked.Store(false)
	return ok
}

// acquire takes the consumer role, waiting while the routing goroutine
// applies items inline (bounded: one publish's items).
func (w *worker) acquire() {
	for !w.busy.CompareAndSwap(false, true) {
		runtime.Gosched()
	}
}

// kick runs after the router published items to w's ring. A busy worker
// finds them itself. A parked one is woken or, with w.inline, not woken
// at all: the routing goroutine takes the consumer role and applies the
// items itself, which at the venue's real rates saves a goroutine wake-up
// (a futex wake and a thread switch) per frame. Router only. // hot path
func (w *worker) kick() {
	if !w.idle.Load() { // R2
		return
	}
	if w.inline && w.busy.CompareAndSwap(false, true) {
		w.consume()
		w.busy.Store(false)
		return
	}
	if w.idle.CompareAndSwap(true, false) {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// consume applies everything published, following resized rings. Consumer
// role held.
func (w *worker) consume() {
	for {
		n := w.ring.PopBatch(w.batch)
		if n == 0 {
			return
		}
		w.process(w.batch[:n])
	}
}

// collectLevel adds a snapshot level to the snapshot being assembled.
func (w *worker) collectLevel(it *item) {
	if it.side == book.Ask {
		w.asks = append(w.asks, book.Level{Price: it.price, Size: it.size})
	} else {
		w.bids = append(w.bids, book.Level{Price: it.price, Size: it.size})
	}
}

// drain applies whatever is left after stop. Consumer role held.
func (w *worker) drain() { w.consume() }

// process applies a batch, then stamps latency once for the whole batch:
// one clock read per batch, not per event. // hot path
func (w *worker) process(items []item) {
	for i := range items {
		w.apply(&items[i])
	}
	now := mono.Now()
	for i := range items {
		it := &items[i]
		if it.routed == 0 || it.kind == itemBookBegin {
			continue // snapshot levels and control items carry no stamp
		}
		w.processing.Record(now - it.routed)
		w.endToEnd.Record(now - it.recv)
	}
	w.lastBeat.Store(now)
	clear(items) // drop route/control pointers so removed books can be freed
}

func (w *worker) bookOf(rt *assetRoute) *book.Book {
	if rt.book == nil {
		rt.book = book.New(rt.id)
		w.bookCount.Add(1)
		w.trackBook(rt)
	}
	return rt.book
}

// apply applies one item to its book and calls the handler. // hot path
func (w *worker) apply(it *item) {
	switch it.kind {
	case itemControl:
		w.control(it)
		return
	case itemTick:
		w.tick()
		return
	case itemBookBegin:
		// Snapshots are assembled whatever their connection; who owns the
		// asset is decided on the whole snapshot, at itemBookEnd.
		w.bids, w.asks = w.bids[:0], w.asks[:0]
		return
	case itemBookLevel:
		w.collectLevel(it)
		return
	}
	rt := it.route
	if it.conn != 0 {
		if rt.mig != nil {
			if !w.migrating(it, rt) {
				return
			}
		} else if !w.owned(it, rt) {
			return
		}
	}
	w.applyEvent(it, rt)
}

// owned reports whether an item of it.conn may change rt's book (no
// migration under way), counting it ignored otherwise.
func (w *worker) owned(it *item, rt *assetRoute) bool {
	switch {
	case it.conn == rt.owner:
	case rt.owner == 0 || it.kind == itemBookEnd && it.conn != rt.retired:
		// The first connection to deliver owns the asset; a snapshot
		// from another one (placed elsewhere after its socket died, a
		// resync) is the whole truth and takes over, except from the
		// connection the asset was migrated away from, which may still
		// deliver until it is closed.
		rt.owner = it.conn
	default:
		w.ignored.Add(1)
		return false
	}
	return true
}

// applyEvent applies one complete event to rt's book and delivers it. // hot path
func (w *worker) applyEvent(it *item, rt *assetRoute) {
	b := w.bookOf(rt)
	ev := &w.ev
	*ev = Event{AssetID: rt.id, Market: rt.market, Timestamp: it.ts, RecvNanos: it.recv}
	switch it.kind {
	case itemBookEnd:
		wasInvalid := rt.wasInvalid || !b.Valid() && b.Seq() > 0
		b.ApplySnapshot(w.bids, w.asks, it.ts)
		if it.a > 0 { // the snapshot's tick size, carried by its end item
			b.SetTickSize(it.a)
		}
		if b.Crossed() {
			w.crossed.Add(1)
		}
		rt.wasInvalid = false
		ev.Kind, ev.TickSize, ev.Resynced = EventBook, b.TickSize(), wasInvalid
	case itemLevel:
		if err := b.Set(it.side, it.price, it.size); err != nil {
			w.badLevels.Add(1)
		}
		b.Stamp(it.ts)
		ev.Kind, ev.Side, ev.Price, ev.Size = EventLevel, it.side, it.price, it.size
		if it.flags&flagHasBest != 0 {
			ev.HasBest, ev.BestBid, ev.BestAsk = true, it.a, it.b
			if it.flags&flagCheckBest != 0 && b.Valid() && !b.MatchesBest(it.a, it.b) {
				ev.Diverged = true
				w.diverged.Add(1)
				w.invalidate(rt, b)
				if w.cfg.resync != nil {
					w.cfg.resync(rt.id)
				}
			}
		}
	case itemTrade:
		b.SetLastTrade(book.Trade{Price: it.price, Size: it.size, Side: it.side, Timestamp: it.ts})
		ev.Kind, ev.Side, ev.Price, ev.Size = EventTrade, it.side, it.price, it.size
	case itemTickSize:
		b.SetTickSize(it.price)
		ev.Kind, ev.TickSize = EventTickSize, it.price
	case itemBestBidAsk:
		ev.Kind, ev.HasBest, ev.BestBid, ev.BestAsk = EventBestBidAsk, true, it.a, it.b
	case itemInvalidate:
		w.invalidate(rt, b)
		ev.Kind = EventInvalidated
	default:
		return
	}
	w.events.Add(1)
	w.deliver(b)
}

func (w *worker) invalidate(rt *assetRoute, b *book.Book) {
	if b.Valid() {
		w.invalidated.Add(1)
	}
	b.Invalidate()
	rt.wasInvalid = true
}

// deliver calls the handler, recovering a panic so one bad handler call
// costs one event, not the worker.
func (w *worker) deliver(b *book.Book) {
	defer func() {
		if p := recover(); p != nil {
			w.panics.Add(1)
			w.panicLog.Warn(w.cfg.logger, "handler panicked", "worker", w.id, "asset", w.ev.AssetID, "panic", fmt.Sprint(p))
		}
	}()
	w.handler.OnEvent(&w.ev, b)
}

func (w *worker) stats() WorkerStats {
	p, e := w.processing.Snapshot(), w.endToEnd.Snapshot()
	return WorkerStats{
		Events:          w.events.Load(),
		Books:           w.bookCount.Load(),
		HandlerPanics:   w.panics.Load(),
		Invalidations:   w.invalidated.Load(),
		Divergences:     w.diverged.Load(),
		BadLevels:       w.badLevels.Load(),
		CrossedBooks:    w.crossed.Load(),
		ForeignIgnored:  w.ignored.Load(),
		Misaligned:      w.misaligned.Load(),
		Migrated:        w.migrated.Load(),
		Migration:       w.mig.stats(),
		QueueDepth:      w.ring.Len(),
		Alive:           w.alive.Load(),
		Parked:          w.parked.Load(),
		LastHeartbeatMs: float64(mono.Since(w.lastBeat.Load())) / 1e6,
		Processing:      stats.Summarize(&p),
		EndToEnd:        stats.Summarize(&e),
	}
}

// healthy: running and either idle or making progress.
func (w *worker) healthy(stuckAfter time.Duration) bool {
	if !w.alive.Load() {
		return false
	}
	return w.parked.Load() || mono.Since(w.lastBeat.Load()) < int64(stuckAfter)
}

func workerName(i int) string { return "worker_" + strconv.Itoa(i) }
