package engine

import (
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/polyfeed/polyfeed/engine/inbound"
	"github.com/polyfeed/polyfeed/engine/logonce"
	"github.com/polyfeed/polyfeed/engine/markets"
	"github.com/polyfeed/polyfeed/engine/resync"

	"github.com/cespare/xxhash/v2"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/internal/hist"
	"github.com/polyfeed/polyfeed/internal/mono"
	"github.com/polyfeed/polyfeed/internal/wire"
	"github.com/polyfeed/polyfeed/ring"
)

// Backpressure says what the router does when a worker's ring is full.
type Backpressure uint8

const (
	// DropAndResync drops the event, counts it, marks the asset's book
	// invalid (the handler sees EventInvalidated) and asks the venue for a
	// fresh snapshot. One slow handler then costs only its own worker's
	// assets a resync, never the whole engine a stall. The default.
	DropAndResync Backpressure = iota
	// Block makes the router wait for room, counting the stall. Nothing is
	// lost, but one slow worker delays every worker, and a long stall fills
	// the inbound queue until socket readers block too.
	Block
)

func (b Backpressure) String() string {
	if b == Block {
		return "block"
	}
	return "drop"
}

// MarketEvent is the market notice the router hands to the lifecycle; see markets.Event.
type MarketEvent = markets.Event

// routerConfig is filled by the App from Config.
type routerConfig struct {
	inboundBytes int
	// handOff: producers only queue frames and wake the router goroutine,
	// which routes them (Config.HandOffFrames).
	handOff bool
	policy  Backpressure
	logger  *slog.Logger
	// feedback receives what flows back to the control plane (see the
	// feedback interface). Nil: nothing is reported.
	feedback feedback
	// resyncEvery batches resync requests.
	resyncEvery time.Duration
	// backoffMin and backoffMax bound the backoff of one asset's repeated
	// resyncs (engine/resync). Defaults resync.DefaultBackoffMin and DefaultBackoffMax.
	backoffMin, backoffMax time.Duration
	// assetStaleAfter: an asset that has had no event for this long while
	// its connection delivers gets a fresh snapshot requested (the venue's
	// per-asset silent stall). 0 disables.
	assetStaleAfter time.Duration
	// maxStaleResyncs bounds how many stale assets one sweep resyncs.
	maxStaleResyncs int
	// noTickResync: do not resync after a tick_size_change.
	noTickResync bool
	// noBestCheck: never ask workers to cross-check best bid/ask.
	noBestCheck bool
	// tick: stage a tick item into every ring each TickPeriod (some
	// handler implements Ticker).
	tick bool
	// ringMax is the capacity up to which a full worker ring is grown
	// (doubling) before the backpressure policy applies: rings start small
	// so that memory follows the load. At most the rings' first capacity
	// (the default): no growth.
	ringMax int
}

// router is the single producer of every worker ring: it decodes each frame,
// splits it into per-asset events, picks the asset's worker by xxhash and
// stages compact items. Per-asset order is preserved because one routing
// role stages every event, in frame order, into the one ring that owns the
// asset.
//
// The routing role: a goroutine that delivers a frame while nobody routes
// takes the role (one CompareAndSwap) and routes the frame itself, straight
// from the socket's buffer, after whatever was queued before it; a goroutine
// that finds the role taken queues its frame (inbound.Queue) and returns, and
// the holder routes it before letting go (release). At the venue's real
// rates frames rarely overlap, so the socket reader that received a frame
// routes it: no copy and no wake-up of a router goroutine per frame, which
// was most of the engine's cost there (PERFORMANCE.md). Under load the
// holder routes the others' frames in bulk, as a dedicated router would.
// The router goroutine remains for what must happen without frames: control
// requests, the periodic sweeps, ticks and deferred controls, and the final
// drain at stop, after which it keeps the role so nothing routes again.
//
// Concurrency: push (the FrameSink) and the control requests may be called
// from any goroutine; everything else runs only while holding the role,
// which orders it (the role's atomic hand-over publishes the holder's writes
// to the next holder). "Router goroutine" below means the role's holder.
type router struct {
	cfg   routerConfig
	in    *inbound.Queue[*control]
	rings []*ring.SPSC[item] // the producer's side; replaced when a ring is resized
	// workers[i] consumes rings[i]; kicked after every publish (nil in
	// tests that drive the rings by hand).
	workers []*worker
	dec     *wire.Decoder
	// firstCap is the rings' first capacity, to which a grown ring returns
	// once its burst is over (shrinkRings); grown[i] is when rings[i] last
	// grew (mono ns).
	firstCap int
	grown    []int64
	now      int64 // mono ns read by the last routed frame

	routes     map[string]*assetRoute // router goroutine only
	gone       map[string]int64       // dropped assets → mono ns of the drop (tombstone.go)
	backlog    [][]item               // per worker: deferred control items (control.go)
	backlogged int                    // items in backlog
	// unstaged holds, per worker, routes whose invalidation found no room
	// when their event was dropped (dropFor); housekeep stages them once
	// there is room. Stale entries (staged since, or dropped assets) are
	// skipped. nUnstaged counts the entries.
	unstaged     [][]*assetRoute
	nUnstaged    int
	touched      []bool
	dirty        []int
	curConn      int64  // connection of the frame being routed
	nextSweep    int64  // mono ns of the next stale-asset sweep
	nextDecStats int64  // mono ns of the next decoder stats snapshot
	statsFrames  uint64 // frames counted at that snapshot
	nextTick     int64  // mono ns of the next tick (cfg.tick)

	resyncs    *resync.Scheduler // assets with a pending or recent resync
	resyncWake chan struct{}     // buffer 1: control signal
	rejects    map[string]int    // router goroutine: snapshots rejected in a row, per asset

	frames       paddedCounter
	events       paddedCounter
	routed       paddedCounter
	dropped      paddedCounter
	malformed    paddedCounter
	stalls       paddedCounter
	resyncsSent  paddedCounter
	rejectedNow  atomic.Int64 // assets whose last rejectReport+ snapshots were rejected
	tooLarge     paddedCounter
	market       paddedCounter
	staleResyncs paddedCounter
	deferred     paddedCounter // control items that found their worker's ring full
	lateEvents   paddedCounter // events for assets dropped from the engine, ignored
	backlogLen   atomic.Int64  // control items deferred now
	decStats     atomic.Pointer[wire.DecoderStats]
	latency      hist.Histogram // frame received → staged

	errLog    logonce.Limiter
	rejectLog logonce.Limiter

	role atomic.Bool // held while routing; see the type comment
	// quiet: the router goroutine sleeps longer than idlePeriod; a holder
	// that leaves a retry behind wakes it (retryLater).
	quiet atomic.Bool
	wake  chan struct{} // buffer 1: a control request (or, with handOff, a frame) is queued

	stop     chan struct{}
	stopped  chan struct{}
	failOnce sync.Once
	wg       sync.WaitGroup
}

// paddedCounter keeps counters written by different goroutines off each
// other's cache lines.
type paddedCounter struct {
	atomic.Uint64
	_ [56]byte
}

func newRouter(cfg routerConfig, rings []*ring.SPSC[item]) *router {
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	if cfg.resyncEvery <= 0 {
		cfg.resyncEvery = 250 * time.Millisecond
	}
	if cfg.maxStaleResyncs <= 0 {
		cfg.maxStaleResyncs = 100
	}
	first := 0
	for _, q := range rings {
		first = max(first, q.Cap())
	}
	cfg.ringMax = max(cfg.ringMax, first)
	return &router{
		firstCap:   first,
		grown:      make([]int64, len(rings)),
		wake:       make(chan struct{}, 1),
		cfg:        cfg,
		in:         inbound.New[*control](cfg.inboundBytes),
		rings:      rings,
		dec:        wire.NewDecoder(),
		routes:     make(map[string]*assetRoute),
		gone:       make(map[string]int64),
		backlog:    make([][]item, len(rings)),
		unstaged:   make([][]*assetRoute, len(rings)),
		touched:    make([]bool, len(rings)),
		resyncs:    resync.New(cfg.backoffMin, cfg.backoffMax),
		rejects:    make(map[string]int),
		resyncWake: make(chan struct{}, 1),
		stop:       make(chan struct{}),
		stopped:    make(chan struct{}),
	}
}

// push is the connections' FrameSink: it routes the frame if nobody else is
// routing, and otherwise queues a copy for the one who is (with handOff it
// always queues it, for the router goroutine). Safe for
// concurrent use; frame may be reused once push returns. // hot path
func (r *router) push(connID int64, frame []byte, recvNanos int64) {
	if len(frame) == 0 {
		return
	}
	if r.cfg.handOff {
		if r.in.Push(connID, frame, recvNanos) {
			r.signal()
		}
		return
	}
	if r.role.CompareAndSwap(false, true) {
		// Frames queued earlier go first: this connection's may be among them.
		r.drainQueued()
		r.routeFrame(connID, frame, recvNanos)
		r.publish()
		r.housekeep(r.now)
		r.release()
		return
	}
	if !r.in.Push(connID, frame, recvNanos) {
		return // stopped
	}
	// The holder may have let go between the CompareAndSwap and the push;
	// then nobody would route the frame but us (see release).
	if r.role.CompareAndSwap(false, true) {
		r.drainQueued()
		r.release()
	}
}

// pushControl queues a control request behind every frame already queued and
// wakes the router goroutine to run it (or a holder of the role runs it
// first). Never inline on the caller: callers are the lifecycle, recycler
// and admin goroutines, and routing on them would hold back the work they
// consume (socket market notices). It returns false once stopped.
func (r *router) pushControl(c *control) bool {
	if !r.in.PushControl(c) {
		return false
	}
	r.signal()
	return true
}

// signal wakes the router goroutine unless a wake is already pending. A
// send that finds the buffer full does not lock the channel.
func (r *router) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// release lets go of the routing role. Whoever queued a frame while the role
// was held counted it (inbound.Queue.Frames, counted under the queue's lock
// with the record, so the count is exactly what is queued) before trying the
// role itself; sequentially consistent atomics mean that either it saw the
// role free and took it, or the check here sees its frame and routes it.
func (r *router) release() {
	for {
		r.role.Store(false)
		if r.in.Frames() <= 0 {
			return
		}
		if !r.role.CompareAndSwap(false, true) {
			return // another goroutine took the role and will route it
		}
		r.drainQueued()
	}
}

// acquire takes the routing role, waiting for the holder (who holds it for
// one frame or one queued batch). Router goroutine only: never on the hot
// path.
func (r *router) acquire() {
	for spins := 0; !r.role.CompareAndSwap(false, true); spins++ {
		if spins < 100 {
			runtime.Gosched()
		} else {
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// drainQueued routes everything queued, publishing after every frame: during
// a burst (the startup dump) workers start on the first frames while the rest
// are decoded. One atomic store per touched ring per frame. Role holder only.
func (r *router) drainQueued() {
	// Nothing counted: nothing queued, skip the queue's lock. This is what
	// keeps one socket's frames in order: a producer that takes the role
	// routes its frames queued earlier before its new one, so the count must
	// never read zero while one is queued (inbound.Queue keeps it exact).
	if r.in.Frames() > 0 {
		r.drainAll()
	}
}

// drainAll routes everything in the queue, batch after batch until a swap
// finds it empty. Role holder only.
func (r *router) drainAll() {
	for {
		b := r.in.Swap()
		if b == nil {
			return
		}
		for i := range b.Recs {
			rec := &b.Recs[i]
			if rec.Ctl != nil {
				r.handleControl(rec.Ctl)
				continue
			}
			r.routeFrame(rec.ConnID, b.Frame(rec), rec.Recv)
			r.publish()
		}
		r.publish() // control requests staged last
		r.housekeep(r.now)
	}
}

// housekeep is the per-batch work of the role's holder: deferred controls
// retried, decoder stats, ticks. Cheap when nothing is due. Role holder only.
func (r *router) housekeep(now int64) {
	r.flushControls()
	r.flushInvalidations()
	r.snapshotDecoderStats(now)
	r.maybeTick(now)
}

func (r *router) start() {
	r.wg.Add(2)
	go func() {
		defer r.wg.Done()
		defer close(r.stopped)
		r.run()
	}()
	go func() {
		defer r.wg.Done()
		r.resyncLoop()
	}()
}

// stopAndWait stops taking new work, routes what is already queued, publishes
// it and waits for the router goroutines.
func (r *router) stopAndWait() {
	r.in.Close() // first: whatever was queued before is routed by the final drain
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	r.wg.Wait()
	r.failOnce.Do(r.failBacklog) // Stop may be retried after a timeout
}

// stopRoomWait is how long a router blocked on a full ring (Block) keeps
// waiting for the workers to make room once Stop has begun.
const stopRoomWait = 200 * time.Millisecond

// shrinkAfter: a ring grown for a burst returns to its first capacity once
// it has not grown for this long and is empty.
const shrinkAfter = 10 * time.Second

// run is the router goroutine: control requests, the periodic work that must
// happen while every socket is silent, then, at stop, the final drain. It
// wakes for a control request or when its periodic work is next due
// (idleWait), never per frame (with handOff, also when a frame is queued
// while it sleeps; while frames keep coming it routes them batch after batch
// without sleeping).
func (r *router) run() {
	t := time.NewTimer(idlePeriod)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			// in is closed: nothing more is queued, and keeping the role
			// means nothing is routed after this drain.
			r.acquire()
			r.drainAll()
			r.flushControls()
			return
		case <-r.wake:
		case <-t.C:
		}
		r.acquire()
		r.quiet.Store(false) // awake: a holder's retries wait for this round
		r.drainQueued()
		now := mono.Now()
		r.housekeep(now)
		// With every socket silent no frame triggers the sweep.
		if r.cfg.assetStaleAfter > 0 && now >= r.nextSweep {
			r.sweepStale(now)
		}
		r.shrinkRings(now)
		wait := r.idleWait(now)
		r.quiet.Store(wait > idlePeriod)
		r.release()
		t.Reset(wait)
	}
}

// routeFrame decodes one frame and stages its events. // hot path
func (r *router) routeFrame(connID int64, frame []byte, recv int64) {
	r.frames.Add(1)
	r.curConn = connID
	events, err := r.dec.Decode(frame)
	if err != nil {
		r.decodeFailed(connID, len(frame), err)
	}
	now := mono.Now()
	r.now = now
	for i := range events {
		ev := &events[i]
		r.events.Add(1)
		switch ev.Kind {
		case wire.KindBook:
			r.routeBook(connID, ev, recv, now)
		case wire.KindPriceChange:
			r.routePriceChange(ev, recv, now)
		case wire.KindLastTrade:
			rt := r.route(ev.AssetID, ev.Market)
			if rt == nil {
				continue
			}
			r.stageEvent(rt, item{kind: itemTrade, side: sideOf(ev.Side), price: ev.Price, size: ev.Size, ts: ev.Timestamp, recv: recv, routed: now})
		case wire.KindTickSize:
			rt := r.route(ev.AssetID, ev.Market)
			if rt == nil {
				continue
			}
			r.stageEvent(rt, item{kind: itemTickSize, price: ev.TickSize, a: ev.OldTickSize, ts: ev.Timestamp, recv: recv, routed: now})
			// The grid changed: the venue's levels may have been re-bucketed.
			if !r.cfg.noTickResync {
				r.requestResync(rt.id)
			}
		case wire.KindBestBidAsk:
			rt := r.route(ev.AssetID, ev.Market)
			if rt == nil {
				continue
			}
			r.stageEvent(rt, item{kind: itemBestBidAsk, a: ev.BestBid, b: ev.BestAsk, ts: ev.Timestamp, recv: recv, routed: now})
		case wire.KindNewMarket, wire.KindMarketResolved:
			r.market.Add(1)
			if r.cfg.feedback != nil && ev.Info != nil {
				r.cfg.feedback.marketNotice(copyMarketEvent(ev))
			}
		}
	}
	r.latency.Record(now - recv)
	if r.cfg.assetStaleAfter > 0 && now >= r.nextSweep {
		r.sweepStale(now)
	}
}

func (r *router) routeBook(connID int64, ev *wire.Event, recv, now int64) {
	rt := r.route(ev.AssetID, ev.Market)
	if rt == nil {
		return
	}
	n := len(ev.Bids) + len(ev.Asks) + 2
	if n > r.cfg.ringMax-1 {
		// Cannot ever fit: keep the book invalid rather than stall forever.
		r.tooLarge.Add(1)
		r.rejected(rt, "snapshot too large for the ring")
		r.dropFor(rt)
		return
	}
	if rt.pendingInvalidate {
		n++ // the invalidation goes first, so the book is reported resynced
	}
	if !r.ensureRoom(rt, n) {
		r.dropFor(rt)
		return
	}
	q := r.rings[rt.worker] // after ensureRoom, which may have grown it
	if rt.pendingInvalidate {
		// The snapshot heals the drop: deliver the invalidation now, so it
		// cannot outlive the snapshot and invalidate the fresh book later.
		q.TryStage(item{route: rt, kind: itemInvalidate, ts: ev.Timestamp, recv: recv, routed: now})
		rt.pendingInvalidate = false
	}
	q.TryStage(item{route: rt, conn: connID, kind: itemBookBegin, a: ev.TickSize, b: ev.LastTradePrice, ts: ev.Timestamp, recv: recv, routed: now})
	for _, l := range ev.Bids {
		q.TryStage(item{route: rt, conn: connID, kind: itemBookLevel, side: book.Bid, price: l.Price, size: l.Size})
	}
	for _, l := range ev.Asks {
		q.TryStage(item{route: rt, conn: connID, kind: itemBookLevel, side: book.Ask, price: l.Price, size: l.Size})
	}
	// The end carries the tick size too: a snapshot held back during a
	// migration is replayed long after its begin, and must keep its own.
	q.TryStage(item{route: rt, conn: connID, kind: itemBookEnd, a: ev.TickSize, ts: ev.Timestamp, recv: recv, routed: now})
	rt.lastEvent = now
	r.markTouched(rt.worker)
	r.routed.Add(1)
	r.accepted(rt)
	if r.cfg.feedback != nil {
		r.cfg.feedback.snapshotSeen(connID, rt.id, recv)
	}
}

func (r *router) routePriceChange(ev *wire.Event, recv, now int64) {
	for j := range ev.Changes {
		c := &ev.Changes[j]
		rt := r.route(c.AssetID, ev.Market)
		if rt == nil {
			continue
		}
		it := item{kind: itemLevel, side: sideOf(c.Side), price: c.Price, size: c.Size, ts: ev.Timestamp, recv: recv, routed: now}
		if c.HasBest {
			it.flags |= flagHasBest
			it.a, it.b = c.BestBid, c.BestAsk
			if !r.cfg.noBestCheck && lastChangeOf(ev.Changes, j) {
				// Only the last change of an asset in a message is checked, so
				// the check holds whether the venue computes best_bid/best_ask
				// per change or per message.
				it.flags |= flagCheckBest
			}
		}
		r.stageEvent(rt, it)
	}
}

// decodeFailed counts a frame with bad parts and invalidates the books the
// skipped parts were about: a skipped level change leaves that book wrong
// until its next snapshot, which is requested. Not on the steady-state path.
func (r *router) decodeFailed(connID int64, n int, err error) {
	r.malformed.Add(1)
	r.errLog.Warn(r.cfg.logger, "cannot decode frame", "conn", connID, "bytes", n, "err", err)
	for _, e := range wire.Errors(err) {
		if e.AssetID == "" {
			continue
		}
		if rt := r.route(e.AssetID, e.Market); rt != nil {
			if e.Kind == wire.KindBook {
				r.rejected(rt, "undecodable snapshot")
			}
			r.dropFor(rt)
		}
	}
}

// lastChangeOf reports whether no later change in cs is for the same asset.
func lastChangeOf(cs []wire.PriceChange, j int) bool {
	for k := j + 1; k < len(cs); k++ {
		if cs[k].AssetID == cs[j].AssetID {
			return false
		}
	}
	return true
}

// route returns the asset's interned route, creating it on first sight (the
// only allocation on the path, once per asset). It returns nil for an asset
// dropped from the engine (a late frame): the caller skips the event.
func (r *router) route(assetID, market string) *assetRoute {
	if rt, ok := r.routes[assetID]; ok {
		return rt
	}
	if r.late(assetID) {
		return nil
	}
	id := strings.Clone(assetID)
	rt := &assetRoute{id: id, market: strings.Clone(market), worker: int(xxhash.Sum64String(id) % uint64(len(r.rings)))}
	r.routes[id] = rt
	return rt
}

// stageEvent stages one non-snapshot item for rt, honouring a pending
// invalidation first. // hot path
func (r *router) stageEvent(rt *assetRoute, it item) {
	it.route = rt
	it.conn = r.curConn
	need := 1
	if rt.pendingInvalidate {
		need = 2
	}
	if !r.ensureRoom(rt, need) {
		r.dropFor(rt)
		return
	}
	q := r.rings[rt.worker]
	if rt.pendingInvalidate {
		q.TryStage(item{route: rt, kind: itemInvalidate, ts: it.ts, recv: it.recv, routed: it.routed})
		rt.pendingInvalidate = false
	}
	q.TryStage(it)
	rt.lastEvent = it.routed
	r.markTouched(rt.worker)
	r.routed.Add(1)
}

// ensureRoom makes sure n items fit in rt's ring (plus a pending
// invalidation) behind the worker's deferred controls, waiting under the
// Block policy. False means drop. // hot path
func (r *router) ensureRoom(rt *assetRoute, n int) bool {
	if rt.pendingInvalidate && n < 2 {
		n++
	}
	q := r.rings[rt.worker]
	if len(r.backlog[rt.worker]) == 0 && q.Free() >= n {
		return true
	}
	// Let the worker see what is staged before deciding; deferred controls
	// go first.
	r.flush(rt.worker)
	room := func() bool { return r.flushBacklog(rt.worker) && r.rings[rt.worker].Free() >= n }
	if room() {
		return true
	}
	if r.grow(rt.worker, n) && room() {
		return true
	}
	if r.cfg.policy != Block {
		return false
	}
	r.stalls.Add(1)
	var giveUp int64 // mono ns, set when stopping is first seen
	for spins := 0; !room(); spins++ {
		select {
		case <-r.stop:
			// Stopping: workers drain; keep waiting briefly, never forever.
			// Bounded by the clock, not by spins: on a loaded machine each
			// 20 µs sleep below can take milliseconds, and 10,000 of them
			// held Stop for tens of seconds.
			now := mono.Now()
			if giveUp == 0 {
				giveUp = now + int64(stopRoomWait)
			}
			if now >= giveUp {
				return false
			}
		default:
		}
		if spins < 100 {
			continue
		}
		time.Sleep(20 * time.Microsecond)
	}
	return true
}

// dropFor records a lost event for rt: its book is invalid from here until
// the next snapshot, which is requested. The worker learns it through an
// itemInvalidate, staged now if there is room, or else ahead of rt's next
// event or by the next housekeeping that finds room (flushInvalidations),
// whichever comes first: an asset that goes quiet after the drop must not
// keep a book that claims to be valid until its resync is answered.
func (r *router) dropFor(rt *assetRoute) {
	r.dropped.Add(1)
	if !rt.pendingInvalidate {
		rt.pendingInvalidate = true
		r.requestResync(rt.id)
		r.unstaged[rt.worker] = append(r.unstaged[rt.worker], rt)
		r.nUnstaged++
		r.retryLater()
	}
	r.stageInvalidate(rt)
}

// stageInvalidate stages rt's pending invalidation if its worker's ring has
// room; never ahead of a deferred control (it stays pending behind them).
func (r *router) stageInvalidate(rt *assetRoute) bool {
	if q := r.rings[rt.worker]; len(r.backlog[rt.worker]) == 0 && q.TryStage(item{route: rt, kind: itemInvalidate}) {
		rt.pendingInvalidate = false
		r.markTouched(rt.worker)
		return true
	}
	return false
}

// flushInvalidations stages the invalidations dropFor left pending, as far
// as the rings have room, and publishes them. A route staged since (ahead of
// its next event or snapshot) is forgotten, and so is one dropped from the
// engine: an invalidation would make its worker a book nothing drops again.
// A worker whose ring is still full (a stuck handler) costs one check per
// call, not one per pending route. Role holder only; one comparison when
// nothing is pending.
func (r *router) flushInvalidations() {
	if r.nUnstaged == 0 {
		return
	}
	for w, rts := range r.unstaged {
		if len(rts) == 0 || len(r.backlog[w]) > 0 || r.rings[w].Free() == 0 {
			continue
		}
		keep := rts[:0]
		for _, rt := range rts {
			switch {
			case !rt.pendingInvalidate:
			case r.routes[rt.id] != rt:
				rt.pendingInvalidate = false
			case !r.stageInvalidate(rt):
				keep = append(keep, rt)
			}
		}
		clear(rts[len(keep):])
		r.unstaged[w] = keep
		r.nUnstaged -= len(rts) - len(keep)
	}
	r.publish()
}

func (r *router) markTouched(w int) {
	if !r.touched[w] {
		r.touched[w] = true
		r.dirty = append(r.dirty, w)
	}
}

// publish makes everything staged visible, once per ring per batch: one
// atomic store per ring instead of one per item.
func (r *router) publish() {
	for _, w := range r.dirty {
		r.rings[w].Publish()
		r.touched[w] = false
		r.kick(w)
	}
	r.dirty = r.dirty[:0]
}

// flush publishes what is staged in worker w's ring and kicks the worker.
func (r *router) flush(w int) {
	r.rings[w].Publish()
	r.kick(w)
}

// kick lets worker w know its ring has new items (worker.kick).
func (r *router) kick(w int) {
	if r.workers != nil {
		r.workers[w].kick()
	}
}

// grow links a larger ring behind worker w's full one (ring.Resize) so that
// n more items fit, doubling up to ringMax; false if it is already there.
// Rings start small so that memory follows the load, and a burst (the
// startup dump) doubles the ones it fills. Allocates, but only a few times
// per worker and burst.
func (r *router) grow(w, n int) bool {
	q := r.rings[w]
	c := q.Cap()
	if c >= r.cfg.ringMax {
		return false
	}
	next := c * 2
	for next < n+1 && next < r.cfg.ringMax {
		next *= 2
	}
	r.rings[w] = q.Resize(min(next, r.cfg.ringMax))
	r.grown[w] = mono.Now()
	r.kick(w) // Resize published what was staged in q
	return true
}

// shrinkRings gives a grown ring's memory back once its burst is over: a ring
// that is empty and has not grown for shrinkAfter is replaced by one of the
// first capacity. Router goroutine, between batches (nothing staged).
func (r *router) shrinkRings(now int64) {
	for w, q := range r.rings {
		if q.Cap() <= r.firstCap || now-r.grown[w] < int64(shrinkAfter) || q.Len() > 0 {
			continue
		}
		r.rings[w] = q.Resize(r.firstCap)
		r.kick(w)
	}
}

func sideOf(s wire.Side) book.Side {
	if s == wire.SideSell {
		return book.Ask
	}
	return book.Bid
}

func copyMarketEvent(ev *wire.Event) MarketEvent {
	in := ev.Info
	m := MarketEvent{
		Resolved:       ev.Kind == wire.KindMarketResolved,
		ID:             strings.Clone(in.ID),
		Market:         strings.Clone(in.Market),
		Question:       strings.Clone(in.Question),
		Slug:           strings.Clone(in.Slug),
		WinningAssetID: strings.Clone(in.WinningAssetID),
		Timestamp:      ev.Timestamp,
	}
	if m.Market == "" {
		m.Market = strings.Clone(ev.Market)
	}
	for _, a := range in.AssetIDs {
		m.AssetIDs = append(m.AssetIDs, strings.Clone(a))
	}
	for _, o := range in.Outcomes {
		m.Outcomes = append(m.Outcomes, strings.Clone(o))
	}
	return m
}
