package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/polyfeed/polyfeed/engine/assets"
	"github.com/polyfeed/polyfeed/engine/markets"
	"github.com/polyfeed/polyfeed/engine/recycle"
	"github.com/polyfeed/polyfeed/engine/tap"
	"github.com/polyfeed/polyfeed/engine/venue"
	"github.com/polyfeed/polyfeed/internal/runner"
)

// App is the polyfeed engine: registry, workers, router, pool, lifecycle
// and recycler, started in that order and stopped in reverse.
//
// Frames flow forwards, from the connections through the router to the
// workers. Four notices flow backwards, against the import direction
// (engine → recycle, markets → venue, assets); each reaches the control plane
// through the App, which implements feedback:
//
//	venue.Conn ──frames──▶ router ──items──▶ workers (books)
//	    │   ▲                │   ▲
//	    │   └───── App ◀─────┘   │    snapshotSeen, resync ▶ venue.Pool;
//	    │                        │    marketNotice ▶ markets.Lifecycle
//	    └───────── App ──────────┘    connDropped ▶ InvalidateConn
//
//	back edge      called by                      the App forwards it to
//	snapshotSeen   router, per staged snapshot    venue.Pool.MarkSnapshot
//	marketNotice   router, per market notice      markets.Lifecycle.OnMarketEvent
//	resync         router's resync goroutine      venue.Pool.Resubscribe
//	connDropped    venue.Conn, on a disconnect;   the data path's InvalidateConn
//	               venue.Pool.CloseConn
//
// The lifecycle and the recycler drive the pool and the data path forwards
// (subscribe, unsubscribe, DropBooks, migrations); nothing calls them back
// except marketNotice.
//
// Concurrency: Start, Stop and Run are serialised by the App; Stats,
// Healthy, Ready, Book and AddMarket may be called from any goroutine at any
// time (the admin HTTP server calls them concurrently).
type App struct {
	cfg      Config
	log      *slog.Logger
	registry *assets.Registry
	data     *dataPath
	pool     *venue.Pool
	life     *markets.Lifecycle // nil when disabled
	recycler *recycle.Recycler  // nil when disabled

	mu    sync.Mutex // serialises Start/Stop
	seq   runner.Sequence
	state atomic.Int32 // appState
}

type appState int32

const (
	stateNew appState = iota
	stateStarting
	stateRunning
	stateStopping
	stateStopped
)

var appStateNames = [...]string{"new", "starting", "running", "stopping", "stopped"}

func (s appState) String() string { return appStateNames[s] }

// New builds an App from cfg (defaults filled, values validated). Nothing
// runs until Start.
func New(cfg Config) (*App, error) {
	if err := cfg.fill(); err != nil {
		return nil, fmt.Errorf("cannot configure engine: %w", err)
	}
	a := &App{cfg: cfg, log: cfg.Logger, registry: assets.New(nil)}

	poolCfg := cfg.Pool
	poolCfg.Conn = cfg.Conn
	poolCfg.Conn.URL = cfg.WSURL
	poolCfg.AssetsPerConn = cfg.AssetsPerConn
	if poolCfg.Logger == nil {
		poolCfg.Logger = cfg.Logger
	}
	if poolCfg.Conn.Logger == nil {
		poolCfg.Conn.Logger = cfg.Logger
	}
	if poolCfg.Conn.OnDisconnect == nil {
		poolCfg.Conn.OnDisconnect = a.connDropped
	}
	if poolCfg.Conn.Tap == nil {
		poolCfg.Conn.Tap = cfg.Tap // tap: connection events
	}

	// The pool and the data path refer to each other (frames flow in,
	// snapshot liveness and resync requests flow back); the data path
	// reports back through the App (feedback), which breaks the cycle.
	a.data = newDataPath(routerConfig{
		inboundBytes:    cfg.InboundBytes,
		handOff:         cfg.HandOffFrames,
		assetStaleAfter: max(cfg.AssetStaleAfter, 0),
		noTickResync:    cfg.DisableTickSizeResync,
		noBestCheck:     cfg.DisableBestCheck,
		policy:          cfg.Backpressure,
		ringMax:         cfg.RingSize,
		logger:          cfg.Logger,
		feedback:        a,
	}, workerConfig{
		count:    cfg.Workers,
		ringSize: min(firstRingSize, cfg.RingSize),
		factory:  cfg.Handler,
		pinCPUs:  cfg.PinCPUs,
		floating: !cfg.LockWorkers,
		// The routing goroutine applies a parked worker's items itself
		// (worker.kick) when the worker has no handler or a NonBlocking
		// one: the engine's book code and that handler run on a socket
		// reader then, never user code that may wait. With HandOffFrames
		// the router goroutine routes and the workers apply, so a single
		// fast producer gets three goroutines' worth of overlap.
		inline: !cfg.LockWorkers && !cfg.PinCPUs && !cfg.HandOffFrames,
		logger: cfg.Logger,
	})
	sink := a.data.Sink()
	if cfg.Tap != nil {
		sink = tap.Frames(cfg.Tap, sink) // tap: frames
	}
	a.pool = venue.NewPool(poolCfg, a.registry, sink)

	if !cfg.DisableLifecycle {
		lc := cfg.Lifecycle
		lc.Gamma.BaseURL = cfg.GammaURL
		if lc.Logger == nil {
			lc.Logger = cfg.Logger
		}
		if lc.OnNewMarket == nil {
			lc.OnNewMarket = cfg.OnNewMarket
		}
		if lc.OnMarketExpired == nil {
			lc.OnMarketExpired = cfg.OnMarketExpired
		}
		var books tap.Dropper = a.data
		if cfg.Tap != nil {
			lc.Tap = cfg.Tap                   // tap: listings
			books = tap.Drops(cfg.Tap, a.data) // tap: book drops
		}
		life, err := markets.New(lc, a.registry, a.pool, books)
		if err != nil {
			return nil, fmt.Errorf("cannot configure engine: %w", err)
		}
		a.life = life
	}
	if !cfg.DisableRecycling {
		rc := cfg.Recycler
		if rc.Logger == nil {
			rc.Logger = cfg.Logger
		}
		var mv recycle.Mover = mover{a.data}
		if cfg.Tap != nil {
			mv = tap.Migrations(cfg.Tap, mv) // tap: migrations
		}
		a.recycler = recycle.New(rc, a.registry, a.pool, mv)
	}

	a.seq = runner.Sequence{Logger: cfg.Logger, Steps: a.components()}
	return a, nil
}

// components lists the start order. Stop runs it backwards: the recycler
// and lifecycle stop changing subscriptions, the pool stops feeding frames,
// the router routes what is queued, the workers drain their rings.
func (a *App) components() []runner.Step {
	cs := []runner.Step{
		{Name: "registry"}, // passive: nothing to start, listed for the log
		{Name: "workers", Start: a.data.startWorkers, Stop: a.data.stopWorkers},
		{Name: "router", Start: a.data.startRouter, Stop: a.data.stopRouter},
		{Name: "pool", Start: a.pool.Start, Stop: a.pool.Stop},
	}
	if a.life != nil {
		cs = append(cs, runner.Step{Name: "lifecycle", Start: a.life.Start, Stop: a.life.Stop})
	}
	if a.recycler != nil {
		cs = append(cs, runner.Step{Name: "recycler", Start: a.recycler.Start, Stop: a.recycler.Stop})
	}
	return cs
}

// Start starts every component in order. If one fails, the ones already
// started are stopped in reverse and the error is returned.
func (a *App) Start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if appState(a.state.Load()) != stateNew {
		return errors.New("cannot start engine: already started")
	}
	a.state.Store(int32(stateStarting))
	t0 := time.Now()
	if err := a.seq.StartAll(ctx, a.cfg.StopTimeout); err != nil {
		a.state.Store(int32(stateStopped))
		return err
	}
	a.state.Store(int32(stateRunning))
	a.log.Info("engine started", "duration", time.Since(t0).Round(time.Millisecond), "workers", a.cfg.Workers, "ws", a.cfg.WSURL)
	return nil
}

// Stop stops every started component in reverse order, each bounded by its
// share of StopTimeout (and ctx); a hung component is reported and skipped.
// Stop is idempotent.
func (a *App) Stop(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if appState(a.state.Load()) == stateStopped || appState(a.state.Load()) == stateNew {
		a.state.Store(int32(stateStopped))
		return nil
	}
	a.state.Store(int32(stateStopping))
	ctx, cancel := context.WithTimeout(ctx, a.cfg.StopTimeout)
	defer cancel()
	t0 := time.Now()
	err := a.seq.StopAll(ctx)
	a.state.Store(int32(stateStopped))
	s := a.Stats()
	a.log.Info("engine stopped", "duration", time.Since(t0).Round(time.Millisecond),
		"routed", s.Router.MessagesRouted, "dropped", s.Router.Dropped, "malformed", s.Router.Malformed)
	return err
}

// Run starts the App, waits for SIGINT/SIGTERM or ctx to end, then stops it.
// The signal handlers are removed before it returns.
func (a *App) Run(ctx context.Context) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := a.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	a.log.Info("shutting down", "cause", context.Cause(ctx))
	stop() // a second signal now kills the process the default way
	return a.Stop(context.WithoutCancel(ctx))
}

// assets.Registry exposes the asset registry (read it freely; mutate with care).
func (a *App) Registry() *assets.Registry { return a.registry }

// venue.Pool exposes the connection pool.
func (a *App) Pool() *venue.Pool { return a.pool }

// Book returns a copy of an asset's book (depth levels a side, 0 = all).
func (a *App) Book(ctx context.Context, assetID string, depth int) (BookView, bool, error) {
	return a.data.Book(ctx, assetID, depth)
}

// AddMarket registers a market's assets by hand (also with the lifecycle
// disabled); the pool subscribes them. With the lifecycle on, the market is
// tracked like a discovered one but never expired for being absent from
// Gamma.
func (a *App) AddMarket(m markets.Market) error {
	if a.life != nil {
		return a.life.AddMarket(m)
	}
	if len(m.AssetIDs) == 0 {
		return fmt.Errorf("cannot add market %q: no asset ids", m.ID)
	}
	for _, id := range m.AssetIDs {
		a.registry.Add(id, m.ConditionID, m.EndDate)
	}
	return nil
}

// feedback is what flows back against the data path, to the control plane
// (drawn on App). The App implements it; the router and the connections call
// it.
type feedback interface {
	// snapshotSeen: the router staged a book snapshot of assetID that
	// connection connID delivered (data liveness). Router goroutine, per
	// snapshot: it must not block.
	snapshotSeen(connID int64, assetID string, recvNanos int64)
	// marketNotice: a socket new_market or market_resolved notice, copied.
	// Router goroutine: it must only queue.
	marketNotice(ev markets.Event)
	// resync asks for fresh snapshots of these assets. The router's resync
	// goroutine, never the hot path.
	resync(assetIDs []string)
	// connDropped: a connection's socket dropped, or the pool closed it;
	// events may have been lost. The connection's goroutine, or the
	// goroutine that called venue.Pool.CloseConn.
	connDropped(connID int64)
	// tracked: whether the control plane tracks assetID (in the registry).
	// Router goroutine, only for a frame of an asset dropped from the
	// engine: lock-free, it must not block.
	tracked(assetID string) bool
}

var _ feedback = (*App)(nil)

// snapshotSeen tells the connection that delivered it that an asset got a
// book.
func (a *App) snapshotSeen(connID int64, assetID string, recvNanos int64) {
	a.pool.MarkSnapshot(connID, assetID, recvNanos)
}

// marketNotice forwards socket market notices to the lifecycle.
func (a *App) marketNotice(ev markets.Event) {
	if a.life != nil {
		a.life.OnMarketEvent(ev)
	}
}

// resync asks for fresh snapshots: unsubscribe and subscribe again on the
// connection that carries each asset (the venue answers a subscribe with a
// snapshot).
func (a *App) resync(ids []string) {
	if err := a.pool.Resubscribe(ids); err != nil {
		a.log.Warn("cannot resync assets", "assets", len(ids), "err", err)
	}
}

// tracked reports whether the registry knows the asset.
func (a *App) tracked(assetID string) bool {
	_, ok := a.registry.Get(assetID)
	return ok
}

// connDropped marks the books the connection still owns invalid until the
// reconnect's snapshots arrive.
func (a *App) connDropped(connID int64) { a.data.InvalidateConn(connID) }

// FrameSink feeds raw market-channel frames into the engine as if connection
// connID had received them: for replaying recorded frames and for
// benchmarks that measure the engine without sockets. Safe for concurrent
// use; frame may be reused after the call.
func (a *App) FrameSink() venue.FrameSink { return a.data.Sink() }

// ForceRecycle replaces connection connID now (make before break) and
// returns when the recycle ended. It fails when recycling is disabled.
func (a *App) ForceRecycle(connID int64) error {
	if a.recycler == nil {
		return errors.New("cannot recycle: recycling disabled")
	}
	return a.recycler.ForceRecycle(connID)
}

// ResetLatency zeroes the engine's latency histograms (routing, processing,
// end to end), so that Stats and Latencies describe a measurement window
// rather than the whole life of the App (startup burst included). Safe at
// any time; events in flight may be counted on either side.
func (a *App) ResetLatency() {
	a.data.router.latency.Reset()
	for _, w := range a.data.workers.workers {
		w.processing.Reset()
		w.endToEnd.Reset()
	}
}

// mover adapts the data path's migrations to the recycler's make-before-break protocol.
type mover struct{ d *dataPath }

func (m mover) Begin(ids []string, from int64) recycle.Migration {
	return m.d.BeginMigration(ids, from)
}

func (m mover) Finish(mg recycle.Migration) recycle.Result {
	return recycle.Result(m.d.FinishMigration(mg.(*Migration)))
}

func (m mover) Abort(mg recycle.Migration) recycle.Result {
	return recycle.Result(m.d.AbortMigration(mg.(*Migration)))
}

func (m mover) Rollback(mg recycle.Migration) recycle.Result {
	return recycle.Result(m.d.RollbackMigration(mg.(*Migration)))
}

// The asset registry is what the pool runs on.
var _ venue.Registry = (*assets.Registry)(nil)
