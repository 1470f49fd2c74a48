package venue

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/puzpuzpuz/xsync/v3"

	"github.com/polyfeed/polyfeed/internal/fill"
	"github.com/polyfeed/polyfeed/internal/mono"
	"github.com/polyfeed/polyfeed/internal/runner"
)

// Registry is what the pool needs from the asset registry. Defined here,
// by its consumer, so the pool depends on behaviour rather than on the
// registry's concrete type; *assets.Registry satisfies it (asserted where the
// engine wires the two).
type Registry interface {
	// TakePending claims up to max pending assets, oldest first.
	TakePending(max int) []string
	// ReturnPending gives back claimed assets that were not subscribed.
	ReturnPending(ids []string)
	// MarkSubscribed records that ids are carried by connection connID.
	MarkSubscribed(ids []string, connID int64)
	// RemoveConnection puts the connection's live assets back to pending.
	RemoveConnection(connID int64) []string
	// ConnCounts returns the registry's view of one connection: assets
	// assigned to it, of which active (subscribed) and expired.
	ConnCounts(connID int64) (total, active, expired int)
	// Updated signals (coalesced) that assets became claimable, so the loop
	// subscribes them at once instead of at its next pass. A nil channel
	// never fires: the loop then runs on Interval alone.
	Updated() <-chan struct{}
}

// PoolConfig configures the connection pool. Zero fields take the documented
// defaults in NewPool.
type PoolConfig struct {
	// Conn is the template for every connection the pool opens.
	Conn ConnConfig
	// AssetsPerConn is how many assets the pool puts on one connection.
	// Default DefaultAssetsPerConn; clamped to
	// Conn.MaxAssets (itself at most MaxAssetsPerConn).
	AssetsPerConn int
	// MinBatch: a new connection is opened once this many assets are pending
	// and no open connection has room. Default 50.
	MinBatch int
	// MaxWait: fewer than MinBatch pending assets still get a new connection
	// once the pool has been holding them back this long. Default 30 s.
	MaxWait time.Duration
	// Interval is how often the subscription loop looks for pending assets.
	// Default 1 s.
	Interval time.Duration
	// DialInterval is the minimum time between two new connections, so a cold
	// start of 100 sockets ramps up instead of dialing at once. Default 50 ms
	// (20 per second: 100 sockets in about 5 s).
	DialInterval time.Duration
	// SnapshotTimeout: an asset whose subscribe went out this long ago with
	// no book snapshot since is subscribed again in place (the venue drops
	// snapshots under load and for sockets near its asset limit). Default
	// 30 s; negative disables.
	SnapshotTimeout time.Duration
	// Logger receives pool events. Default: Conn.Logger (whose default is
	// discard).
	Logger *slog.Logger
	// Now is the clock for MaxWait and DialInterval. Default time.Now.
	Now func() time.Time
}

func (c *PoolConfig) fill() {
	if c.Conn.Logger == nil {
		c.Conn.Logger = c.Logger
	}
	c.Conn.fill()
	fill.Positive(&c.AssetsPerConn, DefaultAssetsPerConn)
	c.AssetsPerConn = min(c.AssetsPerConn, c.Conn.MaxAssets)
	fill.Positive(&c.MinBatch, 50)
	c.MinBatch = min(c.MinBatch, c.AssetsPerConn)
	fill.Positive(&c.MaxWait, 30*time.Second)
	fill.Positive(&c.Interval, time.Second)
	fill.Positive(&c.DialInterval, 50*time.Millisecond)
	fill.Zero(&c.SnapshotTimeout, 30*time.Second)
	if c.Logger == nil {
		c.Logger = c.Conn.Logger
	}
	fill.Clock(&c.Now)
}

// PoolStats is a point-in-time view of the pool.
type PoolStats struct {
	// ConnectionCount is every connection in the pool; ActiveConnections those
	// CONNECTED right now.
	ConnectionCount, ActiveConnections int
	// Assets is the sum of the connections' asset sets.
	Assets int
	// DialsPaced counts times a new connection was due but waited for
	// DialInterval.
	DialsPaced uint64
	// SnapshotRedrives counts assets subscribed again because their snapshot
	// was overdue (SnapshotTimeout).
	SnapshotRedrives uint64
	// Recycling is the number of connections being recycled now; RecyclingRefused
	// counts the assets placed elsewhere that a connection being recycled had
	// room for (see SetRecycling).
	Recycling        int
	RecyclingRefused uint64
	// ClosedInvalidated counts connections closed by CloseConn whose books were
	// invalidated at once.
	ClosedInvalidated uint64
	Conns             []PoolConnStats // by connection id
}

// PoolConnStats is one connection's own counters plus the registry's view of
// it.
type PoolConnStats struct {
	ConnStats
	// RegTotal, RegActive and RegExpired are the registry's counts of assets
	// assigned to the connection; Pollution is RegExpired/RegTotal, the
	// recycler's trigger (PROTOCOL.md §3).
	RegTotal, RegActive, RegExpired int
	Pollution                       float64
}

// Pool spreads the registry's assets over market-channel connections.
//
// A subscription loop takes pending assets from the registry: it first tops
// up open connections that have room (live subscribe operation), then opens a
// new connection when MinBatch assets are pending or some have been held back
// for MaxWait, at most one per DialInterval.
//
// Concurrency: every method is safe for concurrent use. Conn and MarkSnapshot
// are lock-free (the router may call them per frame); the methods that move
// assets (the loop, ForceSubscribe, Unsubscribe, OpenConn, CloseConn,
// SetRecycling) serialise on one mutex and may wait up to Conn.WriteTimeout on a socket
// write.
type Pool struct {
	cfg  PoolConfig
	reg  Registry
	sink FrameSink
	log  *slog.Logger

	nextID atomic.Int64
	conns  *xsync.MapOf[int64, *Conn] // lock-free lookup; mutated under mu

	closing atomic.Bool // Stop has begun: no connection opens

	mu           sync.Mutex
	stopped      bool
	holdingSince time.Time // when fewer than MinBatch pending were first held back
	lastOpen     time.Time
	recycling    map[int64]bool // connections being recycled: they take no new assets

	dialsPaced       atomic.Uint64
	refused          atomic.Uint64 // top-ups refused by a recycling connection
	closedInval      atomic.Uint64 // CloseConn calls that invalidated the connection's books
	snapshotRedrives atomic.Uint64 // assets resubscribed for an overdue snapshot
	loops            atomic.Uint64 // loop passes, for tests

	group runner.Group // owns loop
}

// NewPool returns a pool that is not started yet, with cfg's defaults filled
// in. reg is normally *assets.Registry; reg and sink must not be nil.
func NewPool(cfg PoolConfig, reg Registry, sink FrameSink) *Pool {
	cfg.fill()
	if reg == nil || sink == nil {
		panic("venue: NewPool needs a registry and a sink")
	}
	return &Pool{
		cfg:       cfg,
		reg:       reg,
		sink:      sink,
		log:       cfg.Logger,
		conns:     xsync.NewMapOf[int64, *Conn](),
		recycling: make(map[int64]bool),
	}
}

// SetRecycling marks connection id as being recycled (on) or kept after all
// (off). A connection being recycled takes no new assets: the recycler has
// read its asset list for the replacement, and an asset placed on it now
// would be left behind when it closes. When SetRecycling(id, true) returns,
// no top-up of id is in flight.
func (p *Pool) SetRecycling(id int64, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.recycling[id] = true
	} else {
		delete(p.recycling, id)
	}
}

// Start launches the subscription loop. The pool runs until Stop; ctx only
// guards the call.
func (p *Pool) Start(ctx context.Context) error {
	return p.group.Start(ctx, p.loop)
}

// Stop ends the subscription loop, then stops every connection concurrently
// and waits for them, bounded by ctx. Connections are stopped even when the
// loop does not end in time (their sockets are then closed without
// ceremony): no socket outlives Stop. The registry is left as it is.
func (p *Pool) Stop(ctx context.Context) error {
	var loopErr error
	if p.group.Stop() {
		if err := p.group.Wait(ctx); err != nil {
			loopErr = fmt.Errorf("cannot stop the subscription loop: %w", ctx.Err())
		}
	}
	// A loop pass that did not end may hold the mutex (a socket write): stop the
	// connections without it first, so none outlives a Stop that runs out of time.
	p.closing.Store(true) // no connection opens from here on
	errs := p.stopConns(ctx)
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	// One opened by that pass before it saw closing is stopped now; the others
	// return at once.
	errs = append(errs, p.stopConns(ctx)...)
	return errors.Join(append(errs, loopErr)...)
}

// stopConns stops every connection of the pool concurrently and waits for them.
func (p *Pool) stopConns(ctx context.Context) []error {
	var conns []*Conn
	p.conns.Range(func(_ int64, c *Conn) bool {
		conns = append(conns, c)
		return true
	})
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.Stop(ctx)
		}()
	}
	wg.Wait()
	return errs
}

func (p *Pool) loop(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.reg.Updated():
		}
		wait := p.cfg.Interval
		if p.fill(ctx) {
			// More to open: come back after the dial spacing, not a full interval.
			wait = p.cfg.DialInterval
		}
		// fill's own ReturnPending (a batch held back for MinBatch) signals
		// Updated too: drop that signal, or the loop would spin on the batch
		// it is holding. Assets added meanwhile wait for the timer at worst.
		select {
		case <-p.reg.Updated():
		default:
		}
		if p.cfg.SnapshotTimeout > 0 {
			p.redriveSnapshots()
		}
		p.loops.Add(1)
		t.Reset(wait)
	}
}

// fill runs one pass of the subscription loop and reports whether a new
// connection is still due (so the loop should come back soon).
func (p *Pool) fill(ctx context.Context) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped || ctx.Err() != nil {
		return false
	}
	// refusable is the room of connections being recycled that this pass
	// skipped: the assets placed elsewhere up to it count as refused by them.
	refusable := 0
	refuse := func(n int) {
		n = min(n, refusable)
		refusable -= n
		p.refused.Add(uint64(n))
	}
	for _, c := range p.openConnsLocked() {
		room := p.cfg.AssetsPerConn - c.AssetCount()
		if room <= 0 {
			continue
		}
		if p.recycling[c.ID()] {
			refusable += room
			continue
		}
		ids := p.reg.TakePending(room)
		if len(ids) == 0 {
			p.holdingSince = time.Time{}
			return false
		}
		refuse(len(ids))
		if err := c.Subscribe(ids); err != nil {
			p.reg.ReturnPending(ids)
			p.log.Warn("cannot top up connection", "conn", c.ID(), "err", err)
			continue
		}
		p.reg.MarkSubscribed(ids, c.ID())
	}

	ids := p.reg.TakePending(p.cfg.AssetsPerConn)
	if len(ids) == 0 {
		p.holdingSince = time.Time{}
		return false
	}
	now := p.cfg.Now()
	if len(ids) < p.cfg.MinBatch {
		if p.holdingSince.IsZero() {
			p.holdingSince = now
		}
		if now.Sub(p.holdingSince) < p.cfg.MaxWait {
			p.reg.ReturnPending(ids)
			return false
		}
	}
	if !p.lastOpen.IsZero() && now.Sub(p.lastOpen) < p.cfg.DialInterval {
		p.reg.ReturnPending(ids)
		p.dialsPaced.Add(1)
		return true
	}
	c, err := p.openLocked(ids)
	if err != nil {
		p.reg.ReturnPending(ids)
		p.log.Error("cannot open connection", "err", err)
		return false
	}
	refuse(len(ids))
	p.reg.MarkSubscribed(ids, c.ID())
	p.holdingSince = time.Time{}
	p.lastOpen = now
	return true
}

// openConnsLocked returns the connections that may take more assets, by id.
func (p *Pool) openConnsLocked() []*Conn {
	var out []*Conn
	p.conns.Range(func(_ int64, c *Conn) bool {
		if s := c.Status(); s != ConnDraining && s != ConnClosed {
			out = append(out, c)
		}
		return true
	})
	slices.SortFunc(out, byConnID)
	return out
}

func byConnID(a, b *Conn) int { return cmp.Compare(a.ID(), b.ID()) }

// OpenConn opens a new connection carrying ids right away (no batching or
// dial pacing) and returns it. It does not touch the registry: the caller
// records the assignment (MarkSubscribed, or Reassign for a replacement).
func (p *Pool) OpenConn(ids []string) (*Conn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.openLocked(ids)
}

func (p *Pool) openLocked(ids []string) (*Conn, error) {
	if p.stopped || p.closing.Load() {
		return nil, errors.New("cannot open connection: pool stopped")
	}
	id := p.nextID.Add(1)
	c := NewConn(id, p.cfg.Conn, p.sink)
	if err := c.Subscribe(ids); err != nil {
		return nil, fmt.Errorf("cannot open connection %d: %w", id, err)
	}
	// Published before Start: the first frames (the initial dump) can reach the router, and
	// its MarkSnapshot lookup, before Start returns.
	p.conns.Store(id, c)
	if err := c.Start(context.Background()); err != nil {
		p.conns.Delete(id)
		return nil, fmt.Errorf("cannot open connection %d: %w", id, err)
	}
	p.log.Info("opened connection", "conn", id, "assets", len(ids))
	return c, nil
}

// CloseConn stops connection id, removes it from the pool and returns its
// live assets to pending in the registry, for the loop to place again. The
// books the connection still fed are stale from now until the assets are
// placed again and their snapshots arrive, so Conn.OnDisconnect is called
// once the socket is down (Stop itself does not call it).
func (p *Pool) CloseConn(ctx context.Context, id int64) error {
	p.mu.Lock()
	c, ok := p.conns.LoadAndDelete(id)
	delete(p.recycling, id)
	p.mu.Unlock()
	if !ok {
		return fmt.Errorf("cannot close connection %d: not in the pool", id)
	}
	err := c.Stop(ctx)
	if f := p.cfg.Conn.OnDisconnect; f != nil {
		// After Stop: every frame of the connection is already with the sink, so the
		// invalidation lands behind them.
		f(id)
		p.closedInval.Add(1)
	}
	back := p.reg.RemoveConnection(id)
	p.log.Info("closed connection", "conn", id, "returned_pending", len(back))
	return err
}

// ForceSubscribe places ids on connections now, ignoring MinBatch, MaxWait
// and dial pacing: into open connections with room first, then new ones.
// Ids already carried by a connection of the pool are skipped. Each placed
// batch is marked subscribed in the registry.
func (p *Pool) ForceSubscribe(ids []string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var todo []string
	for _, id := range ids {
		if id != "" && !slices.Contains(todo, id) && p.ownerLocked(id) == nil {
			todo = append(todo, id)
		}
	}
	refusable := 0 // as in fill
	refuse := func(n int) {
		n = min(n, refusable)
		refusable -= n
		p.refused.Add(uint64(n))
	}
	for _, c := range p.openConnsLocked() {
		if len(todo) == 0 {
			return nil
		}
		room := p.cfg.AssetsPerConn - c.AssetCount()
		if room <= 0 {
			continue
		}
		if p.recycling[c.ID()] {
			refusable += room
			continue
		}
		batch := todo[:min(room, len(todo))]
		if err := c.Subscribe(batch); err != nil {
			continue
		}
		refuse(len(batch))
		p.reg.MarkSubscribed(batch, c.ID())
		todo = todo[len(batch):]
	}
	for len(todo) > 0 {
		batch := todo[:min(p.cfg.AssetsPerConn, len(todo))]
		c, err := p.openLocked(batch)
		if err != nil {
			return fmt.Errorf("cannot force-subscribe %d assets: %w", len(todo), err)
		}
		refuse(len(batch))
		p.reg.MarkSubscribed(batch, c.ID())
		todo = todo[len(batch):]
	}
	return nil
}

func (p *Pool) ownerLocked(id string) *Conn {
	var owner *Conn
	p.conns.Range(func(_ int64, c *Conn) bool {
		if c.Has(id) {
			owner = c
			return false
		}
		return true
	})
	return owner
}

// Unsubscribe removes ids from whichever connections carry them, with live
// unsubscribe operations: expired assets leave in place, without recycling
// the socket. Registry state (MarkExpired) is the caller's business.
func (p *Pool) Unsubscribe(ids []string) error {
	return p.eachCarrier(ids, func(c *Conn, mine []string) error { return c.Unsubscribe(mine) })
}

// eachCarrier calls f once per connection that carries some of ids, with
// those ids, under the pool's mutex, and joins the errors.
func (p *Pool) eachCarrier(ids []string, f func(c *Conn, mine []string) error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	p.conns.Range(func(_ int64, c *Conn) bool {
		var mine []string
		for _, id := range ids {
			if c.Has(id) {
				mine = append(mine, id)
			}
		}
		if len(mine) > 0 {
			errs = append(errs, f(c, mine))
		}
		return true
	})
	return errors.Join(errs...)
}

// redriveSnapshots subscribes again, in place, the assets whose snapshot
// is overdue on a connected socket.
func (p *Pool) redriveSnapshots() {
	cutoff := mono.Now() - int64(p.cfg.SnapshotTimeout)
	for _, c := range p.Conns() {
		if c.Status() != ConnConnected {
			continue
		}
		if ids := c.AwaitingSnapshotSince(cutoff); len(ids) > 0 {
			p.snapshotRedrives.Add(uint64(len(ids)))
			if err := p.Resubscribe(ids); err != nil {
				p.cfg.Logger.Warn("cannot redrive missing snapshots", "conn", c.ID(), "assets", len(ids), "err", err)
			}
		}
	}
}

// Resubscribe asks the venue for fresh snapshots of ids: each carrying
// connection unsubscribes and subscribes them again in place (the venue
// answers a subscribe with a book snapshot). Used after a detected gap.
func (p *Pool) Resubscribe(ids []string) error {
	return p.eachCarrier(ids, func(c *Conn, mine []string) error {
		return errors.Join(c.Unsubscribe(mine), c.Subscribe(mine))
	})
}

// Conn returns connection id, lock-free.
func (p *Pool) Conn(id int64) (*Conn, bool) { return p.conns.Load(id) }

// Conns returns every connection of the pool, by id.
func (p *Pool) Conns() []*Conn {
	var out []*Conn
	p.conns.Range(func(_ int64, c *Conn) bool {
		out = append(out, c)
		return true
	})
	slices.SortFunc(out, byConnID)
	return out
}

// MarkSnapshot forwards a decoded snapshot to its connection (see
// Conn.MarkSnapshot). Lock-free, for the router.
func (p *Pool) MarkSnapshot(connID int64, assetID string, recvNanos int64) {
	if c, ok := p.conns.Load(connID); ok {
		c.MarkSnapshot(assetID, recvNanos)
	}
}

// Stats returns the pool's connections with their registry counts.
func (p *Pool) Stats() PoolStats {
	st := PoolStats{DialsPaced: p.dialsPaced.Load(), SnapshotRedrives: p.snapshotRedrives.Load(),
		RecyclingRefused: p.refused.Load(), ClosedInvalidated: p.closedInval.Load()}
	p.mu.Lock()
	st.Recycling = len(p.recycling)
	p.mu.Unlock()
	for _, c := range p.Conns() {
		cs := PoolConnStats{ConnStats: c.Stats()}
		cs.RegTotal, cs.RegActive, cs.RegExpired = p.reg.ConnCounts(c.ID())
		if cs.RegTotal > 0 {
			cs.Pollution = float64(cs.RegExpired) / float64(cs.RegTotal)
		}
		st.ConnectionCount++
		if cs.Status == ConnConnected {
			st.ActiveConnections++
		}
		st.Assets += cs.Assets
		st.Conns = append(st.Conns, cs)
	}
	return st
}
