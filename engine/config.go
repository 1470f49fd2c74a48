package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/polyfeed/polyfeed/engine/markets"
	"github.com/polyfeed/polyfeed/engine/recycle"
	"github.com/polyfeed/polyfeed/engine/tap"
	"github.com/polyfeed/polyfeed/engine/venue"
	"github.com/polyfeed/polyfeed/internal/fill"
	"github.com/polyfeed/polyfeed/internal/gamma"
)

// Defaults New fills in (and cmd/polyfeed shows as flag defaults). Nothing below the App
// fills these again: newWorkerSet and newRouter take them as given.
const (
	// DefaultGammaURL is the venue's market discovery API.
	DefaultGammaURL = gamma.DefaultBaseURL
	// DefaultWorkers is the number of worker goroutines.
	DefaultWorkers = 4
	// MaxWorkers bounds Workers: more workers than this only add park/wake cost.
	MaxWorkers = 256
	// DefaultRingSize is the capacity, in items, each worker's ring may grow to.
	DefaultRingSize = 1 << 16
	// DefaultInboundBytes bounds the router's inbound queue: enough for the whole startup
	// dump of 10,000 markets.
	DefaultInboundBytes = 64 << 20
)

// Config configures an App. The zero value runs against the live venue with
// the documented defaults; New fills them in and validates the rest.
//
// Some settings of the component configs nested here are set by the App from
// a Config field. "always": the nested setting is ignored, set the Config
// field; "if nil": the nested setting wins when both are set.
//
//	nested setting                        set by the App from             when
//	Pool.Conn                             Conn                            always
//	Pool.Conn.URL (and Conn.URL)          WSURL                           always
//	Pool.AssetsPerConn                    AssetsPerConn                   always
//	Lifecycle.Gamma.BaseURL               GammaURL                        always
//	Lifecycle.OnNewMarket                 OnNewMarket                     if nil
//	Lifecycle.OnMarketExpired             OnMarketExpired                 if nil
//	Pool.Conn.OnDisconnect                the App (invalidates books)     if nil
//	Logger of Pool, Conn, Lifecycle,      Logger                          if nil
//	Recycler
type Config struct {
	// WSURL is the CLOB market channel. Default venue.DefaultMarketURL.
	WSURL string
	// GammaURL is the Gamma REST base URL. Default DefaultGammaURL.
	GammaURL string

	// Workers is the number of pinned worker goroutines that own the books.
	// Default DefaultWorkers (4), at most MaxWorkers.
	Workers int
	// RingSize is the most items each worker's ring grows to (a snapshot
	// takes one item per level plus two). Rings start at 1,024 items (or
	// RingSize if smaller), double when the router finds one full and
	// shrink back once the burst is over, so memory follows the load; only
	// a full ring at RingSize applies Backpressure. Rounded up to a power of
	// two. Default DefaultRingSize (65536).
	RingSize int
	// InboundBytes bounds the router's inbound queue. Default
	// DefaultInboundBytes (64 MiB).
	InboundBytes int
	// Backpressure is what the router does when a worker's ring is full.
	// Default DropAndResync.
	Backpressure Backpressure
	// PinCPUs pins worker i to CPU i mod NumCPU (Linux). Default off: on a
	// shared machine the scheduler usually does better.
	PinCPUs bool
	// LockWorkers locks each worker goroutine to its own OS thread (the
	// design card's pinned workers). Every park and wake of a locked
	// goroutine is a thread hand-off, which at the venue's real rates
	// (a few thousand messages/s) costs more than the work itself: measured
	// side by side (PERFORMANCE.md, "Worker mode"), so the default is
	// floating workers, ordinary goroutines. Locked workers give a lower p50
	// only under sustained load near saturation. PinCPUs implies locked.
	LockWorkers bool
	// Handler builds each worker's event handler. Default: none (books only).
	// Without a handler, or with one that implements NonBlocking (and with
	// floating workers), items for a parked worker are applied by the
	// goroutine that routed them, saving a wake-up per frame; any other
	// handler always runs on its worker's goroutine, so a slow one never
	// blocks a socket reader.
	Handler HandlerFactory
	// HandOffFrames queues every frame for the router goroutine instead of
	// letting the goroutine that delivers it route it, and leaves applying
	// to the workers' own goroutines. With one producer that is faster than
	// the engine (a replay at --speed max) reading, routing and applying
	// then overlap on two cores; live sockets, many producers each
	// mostly idle, are cheaper routing their own frames, which saves a
	// wake-up per frame. Default off. Measured in PERFORMANCE.md ("Replay
	// on two cores").
	HandOffFrames bool

	// AssetsPerConn is how many assets share one socket. Default
	// venue.DefaultAssetsPerConn (200), at most venue.MaxAssetsPerConn (500).
	AssetsPerConn int
	// Conn tunes every connection (ping, stale timeout, backoff, frame size);
	// its URL is taken from WSURL (see the table on Config).
	Conn venue.ConnConfig
	// Pool tunes the subscription loop; its Conn and AssetsPerConn are taken
	// from the fields above (see the table on Config).
	Pool venue.PoolConfig

	// DisableLifecycle turns off Gamma discovery and expiry: assets then come
	// only from AddMarket.
	DisableLifecycle bool
	// Lifecycle tunes discovery and expiry; its Gamma.BaseURL is taken from
	// GammaURL (see the table on Config).
	Lifecycle markets.Config
	// DisableRecycling turns off connection recycling.
	DisableRecycling bool
	// Recycler tunes connection recycling.
	Recycler recycle.Config

	// OnNewMarket and OnMarketExpired are called from the lifecycle
	// goroutine when a market is registered or retired. Optional; the
	// Lifecycle's own, when set, are called instead.
	OnNewMarket     func(markets.Market)
	OnMarketExpired func(markets.Market)

	// AssetStaleAfter: an asset with no event for this long gets a fresh
	// snapshot requested, which heals the venue's per-asset silent stall (a
	// quiet market just gets one redundant snapshot). Default 10 min;
	// negative disables.
	AssetStaleAfter time.Duration

	// DisableBestCheck turns off the cross-check of each price_change's
	// best_bid/best_ask against the book (a mismatch invalidates the book and
	// requests a snapshot). For a venue whose best_bid/best_ask would mean
	// something else than the top of book after the message's last change of
	// that asset; /stats shows mismatches as best_mismatches. Default off.
	DisableBestCheck bool

	// DisableTickSizeResync keeps the book as it is after a tick_size_change
	// instead of asking the venue for a fresh snapshot (PROTOCOL: the book
	// should be re-snapshotted when the grid changes). Default off.
	DisableTickSizeResync bool

	// StopTimeout bounds the whole Stop. Default 30 s.
	StopTimeout time.Duration
	// StuckAfter: a worker with queued events that made no progress this
	// long makes the App unhealthy. Default 10 s.
	StuckAfter time.Duration
	// DataStaleAfter: with assets subscribed, no data frame on any
	// connection for this long makes the App unhealthy. Default 2 min.
	DataStaleAfter time.Duration

	// Logger receives lifecycle logs (never per-event logs). Default
	// slog.Default().
	Logger *slog.Logger

	// Tap, when set, sees every frame, connection event, listing and book
	// drop, for a recorder (see engine/tap). Default none.
	Tap tap.Interface
}

func (c *Config) fill() error {
	fill.Zero(&c.WSURL, venue.DefaultMarketURL)
	fill.Zero(&c.GammaURL, DefaultGammaURL)
	fill.Zero(&c.Workers, DefaultWorkers)
	fill.Zero(&c.RingSize, DefaultRingSize)
	fill.Zero(&c.InboundBytes, DefaultInboundBytes)
	fill.Zero(&c.AssetsPerConn, venue.DefaultAssetsPerConn)
	fill.Zero(&c.AssetStaleAfter, 10*time.Minute)
	fill.Zero(&c.StopTimeout, 30*time.Second)
	fill.Zero(&c.StuckAfter, 10*time.Second)
	fill.Zero(&c.DataStaleAfter, 2*time.Minute)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.Workers >= 1 && c.Workers <= MaxWorkers, "workers must be 1..%d, got %d", MaxWorkers, c.Workers)
	check(c.RingSize >= 64 && c.RingSize <= 1<<24, "ring size must be 64..16777216, got %d", c.RingSize)
	check(c.InboundBytes >= 1<<20, "inbound bytes must be at least 1 MiB, got %d", c.InboundBytes)
	check(c.AssetsPerConn >= 1 && c.AssetsPerConn <= venue.MaxAssetsPerConn, "assets per connection must be 1..%d, got %d", venue.MaxAssetsPerConn, c.AssetsPerConn)
	check(c.Backpressure == DropAndResync || c.Backpressure == Block, "unknown backpressure policy %d", c.Backpressure)
	check(c.StopTimeout > 0 && c.StuckAfter > 0 && c.DataStaleAfter > 0, "timeouts must be positive")
	for name, raw := range map[string]string{"ws url": c.WSURL, "gamma url": c.GammaURL} {
		u, err := url.Parse(raw)
		ok := err == nil && u.Host != ""
		if ok && name == "ws url" {
			ok = u.Scheme == "ws" || u.Scheme == "wss"
		} else if ok {
			ok = u.Scheme == "http" || u.Scheme == "https"
		}
		check(ok, "invalid %s %q", name, raw)
	}
	return errors.Join(errs...)
}
