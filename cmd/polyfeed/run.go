package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/cluster"
	"github.com/polyfeed/polyfeed/engine"
	"github.com/polyfeed/polyfeed/engine/markets"
	"github.com/polyfeed/polyfeed/engine/metrics"
	"github.com/polyfeed/polyfeed/internal/admin"
	"github.com/polyfeed/polyfeed/internal/flagenv"
	"github.com/polyfeed/polyfeed/internal/natsd"
	"github.com/polyfeed/polyfeed/internal/sim"
	"github.com/polyfeed/polyfeed/publish"
	"github.com/polyfeed/polyfeed/record"
)

// Bounds of the steps around the engine; the engine's own stop is bounded
// by --stop-timeout.
const (
	adminStopTimeout = 5 * time.Second
	simStopTimeout   = 10 * time.Second
	bookReadTimeout  = 2 * time.Second
)

// run is the whole program: parse → start (simulator, admin, engine) →
// wait for SIGINT/SIGTERM → stop in reverse. It returns flag.ErrHelp, an
// errUsage error, a start failure, or nil after a clean shutdown.
func run(args []string, lookup flagenv.LookupFunc, environ []string, stdout, stderr io.Writer) (err error) {
	if len(args) > 0 && args[0] == "replay" {
		return runReplay(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "export" {
		return runExport(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "cluster" {
		return runClusterCommand(args[1:], lookup, stdout)
	}
	o, err := parseConfig(args, lookup)
	if err != nil {
		return err
	}
	log := newLogger(o, stderr)
	for _, v := range flagenv.Unknown(newFlagSet(new(options), new(rawOptions)), envPrefix, environ) {
		log.Warn("ignoring environment variable that matches no flag", "var", v)
	}

	// Signals are caught from here on: one during start ends the start and
	// shuts down cleanly; a second one after shutdown began kills the
	// process the default way.
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()

	var simSrv *sim.Server
	if o.Sim {
		if simSrv, err = startSim(ctx, o, log); err != nil {
			return err
		}
		defer func() {
			err = errors.Join(err, timed(log, "stop", "simulator", func() error { return stopSim(simSrv) }))
		}()
		o.GammaURL, o.WSURL = simSrv.GammaURL(), simSrv.WSURL()
	}
	if o.DryRun {
		return dryRun(ctx, o, log, stdout)
	}

	// The stream starts before the engine (the publisher is the engine's
	// handler) and stops after it, once the last events are published.
	var st *stream
	var gate *nodeGate
	if o.Cluster.Name != "" {
		gate = new(nodeGate)
		o.Stream.gate, o.Stream.replicas = gate, o.Cluster.StorageReplicas
	}
	if o.Stream.Publish {
		if st, err = startStream(ctx, o.Stream, o.Workers, log); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, st.stop()) }()
	} else {
		log.Info("publishing disabled (--publish=false)")
	}
	rec, err := startRecorder(ctx, o, log)
	if err != nil {
		return err
	}
	if rec != nil {
		defer func() {
			err = errors.Join(err, timed(log, "stop", "recorder", func() error { return stopRecorder(rec) }))
		}()
	}

	// The cluster node joins after the publisher (a handover asks it for
	// epochs) and before the engine (discovery carries only our share); it
	// leaves after the engine stopped, having handed its markets over first.
	var node *cluster.Node
	var lnk *link
	if gate != nil {
		if node, err = startNode(ctx, o, st, gate, log); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, stopNode(node, log)) }()
		lnk = newLink(node, log.With("component", "cluster-link"))
	}

	ecfg := withRecording(engineConfig(o, log), rec)
	if st != nil {
		ecfg.Handler, ecfg.OnMarketExpired = st.pub.Handler, st.pub.MarketExpired
	}
	if lnk != nil {
		pubExpired := ecfg.OnMarketExpired
		// Markets taken over from a dead member are a few at a time: they
		// must not wait the pool's default 30 s for enough of them to fill a
		// new socket.
		ecfg.Pool.MaxWait = clusterPoolMaxWait
		ecfg.Lifecycle.Ownership = node
		ecfg.Lifecycle.OnNewMarket = lnk.onNewMarket
		ecfg.Lifecycle.OnMarketExpired = func(m markets.Market) {
			pubExpired(m)
			lnk.onExpired(m)
		}
	}
	if wrapHandler != nil {
		ecfg.Handler = wrapHandler(ecfg.Handler)
	}
	app, err := engine.New(ecfg)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(app),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if st != nil {
		reg.MustRegister(st.pub.Collector())
		if st.srv != nil {
			reg.MustRegister(st.srv.Collector())
		}
	}
	if node != nil {
		reg.MustRegister(node.Collector())
	}

	// The admin server starts first so /readyz answers (503) while the
	// engine starts, and stops last so it reports draining while the engine
	// stops.
	var adm *admin.Server
	if o.HTTPAddr != "" {
		acfg := adminConfig(o, app, st, rec, reg, log)
		if node != nil {
			acfg.Stats = withCluster(acfg.Stats, node)
		}
		adm, err = admin.New(acfg)
		if err != nil {
			return err
		}
		if err := timed(log, "start", "admin", func() error { return adm.Start(ctx) }); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, timed(log, "stop", "admin", func() error { return stopAdmin(adm) })) }()
	} else {
		log.Info("admin HTTP disabled (--http-addr is empty)")
	}

	if err := app.Start(ctx); err != nil {
		if ctx.Err() != nil {
			log.Info("start interrupted by signal; engine rolled back")
			return nil
		}
		return err
	}
	if simSrv != nil && !o.Lifecycle {
		registerSimMarkets(app, simSrv, log)
	} else if !o.Lifecycle {
		log.Warn("lifecycle disabled: nothing discovers markets, so nothing will be subscribed")
	}
	if lnk != nil {
		lnk.start(app)
	}
	printer := startBookPrinter(app, o.PrintBooks, o.PrintEvery, log)

	<-ctx.Done()
	stopSignals()
	log.Info("shutting down on signal")
	printer.stop()
	if lnk != nil {
		drainNode(node, o.Cluster.DrainTimeout, log)
		lnk.stop()
	}
	return app.Stop(context.Background())
}

// newLogger builds the process logger on stderr.
func newLogger(o options, w io.Writer) *slog.Logger {
	hopts := &slog.HandlerOptions{Level: o.LogLevel}
	if o.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, hopts))
	}
	return slog.New(slog.NewTextHandler(w, hopts))
}

// engineConfig maps the options onto the engine; everything else keeps the
// engine's documented defaults.
// wrapHandler, when set, wraps the engine's handler factory. Only the
// soak's fault build sets it (soakstuck.go, -tags soakstuck); a normal
// build leaves it nil.
var wrapHandler func(engine.HandlerFactory) engine.HandlerFactory

func engineConfig(o options, log *slog.Logger) engine.Config {
	return engine.Config{
		WSURL:            o.WSURL,
		GammaURL:         o.GammaURL,
		Workers:          o.Workers,
		AssetsPerConn:    o.AssetsPerConn,
		Backpressure:     o.Backpressure,
		PinCPUs:          o.PinCPUs,
		LockWorkers:      o.LockWorkers,
		DisableLifecycle: !o.Lifecycle,
		DisableRecycling: !o.Recycling,
		DisableBestCheck: !o.BestCheck,
		StopTimeout:      o.StopTimeout,
		Lifecycle:        lifecycleConfig(o),
		Logger:           log,
	}
}

// lifecycleConfig maps the lifecycle knobs; the engine fills in the rest.
func lifecycleConfig(o options) markets.Config {
	grace := o.ExpiryGrace
	if grace == 0 {
		grace = -1 // the operator asked for none; zero would mean the default
	}
	return markets.Config{
		DiscoveryInterval:  o.DiscoveryInterval,
		ExpiryInterval:     o.ExpiryInterval,
		ExpiryGrace:        grace,
		CleanupGrace:       o.CleanupGrace,
		SuspectExpiryShare: o.SuspectExpiryShare,
	}
}

// adminConfig wires the admin server to the engine.
func adminConfig(o options, app *engine.App, st *stream, rec *record.Writer, g prometheus.Gatherer, log *slog.Logger) admin.Config {
	stats := func() any {
		ps := processStats{Stats: app.Stats()}
		if st != nil {
			s := st.pub.Stats()
			ps.Publish = &s
			if st.srv != nil {
				n := st.srv.Stats()
				ps.NATS = &n
			}
		}
		if rec != nil {
			s := rec.Stats()
			ps.Recording = &s
		}
		return ps
	}
	return admin.Config{
		Addr:         o.HTTPAddr,
		Logger:       log,
		Stats:        stats,
		HealthDetail: healthDetail(recordingHealth(rec), streamHealth(st)),
		Healthy:      app.Healthy,
		Ready:        app.Ready,
		Book: func(assetID string) (book.View, bool, error) {
			// The worker that owns the book copies it between two events;
			// the timeout only matters if that worker is stuck.
			ctx, cancel := context.WithTimeout(context.Background(), bookReadTimeout)
			defer cancel()
			return app.Book(ctx, assetID, 0)
		},
		Gatherer:    g,
		EnablePprof: o.Pprof,
	}
}

// processStats is /stats: the engine's fields, plus "publish" with
// publishing on, "nats" with the embedded server and "recording" with
// --record.
type processStats struct {
	engine.Stats
	Publish   *publish.Stats `json:"publish,omitempty"`
	NATS      *natsd.Stats   `json:"nats,omitempty"` // the embedded server
	Recording *record.Stats  `json:"recording,omitempty"`
}

// startSim runs the simulator on a free loopback port with the --sim-*
// settings.
func startSim(ctx context.Context, o options, log *slog.Logger) (*sim.Server, error) {
	s, err := sim.New(sim.Config{
		Addr:           "127.0.0.1:0",
		Seed:           o.SimSeed,
		Markets:        o.SimMarkets,
		Rate:           o.SimRate,
		ChurnPerMinute: o.SimChurn,
		Logger:         log.With("component", "simulator"),
	})
	if err != nil {
		return nil, fmt.Errorf("cannot create simulator: %w", err)
	}
	if err := timed(log, "start", "simulator", func() error { return s.Start(ctx) }); err != nil {
		return nil, fmt.Errorf("cannot start simulator: %w", err)
	}
	log.Info("simulator serving", "gamma", s.GammaURL(), "ws", s.WSURL(), "markets", o.SimMarkets,
		"rate", o.SimRate, "churn_per_min", o.SimChurn, "truth", s.URL()+"/sim/books/{asset_id}")
	return s, nil
}

// registerSimMarkets registers the simulator's open markets once, so that
// --sim also shows books with the lifecycle disabled.
func registerSimMarkets(app *engine.App, s *sim.Server, log *slog.Logger) {
	n, refused := 0, 0
	var firstErr error
	for _, m := range s.Markets() {
		if m.Closed || !m.EnableOrderBook {
			continue
		}
		err := app.AddMarket(markets.Market{ID: m.ID, ConditionID: m.ConditionID, Question: m.Question, Slug: m.Slug,
			AssetIDs: m.TokenIDs, Outcomes: m.Outcomes, EndDate: m.EndDate, NegRisk: m.NegRisk, TickSize: m.TickSize})
		if err != nil {
			refused++
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		n++
	}
	log.Info("lifecycle disabled: registered the simulator's markets once", "markets", n)
	if refused > 0 {
		log.Warn("simulator markets refused", "markets", refused, "first_err", firstErr)
	}
}

func stopSim(s *sim.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), simStopTimeout)
	defer cancel()
	return s.Stop(ctx)
}

func stopAdmin(s *admin.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), adminStopTimeout)
	defer cancel()
	return s.Stop(ctx)
}

// timed runs f and logs "started|stopped component=<name> duration=…", as
// the engine does for its own components, or the error.
func timed(log *slog.Logger, action, name string, f func() error) error {
	t0 := time.Now()
	if err := f(); err != nil {
		log.Error("cannot "+action+" component", "component", name, "err", err)
		return err
	}
	done := map[string]string{"start": "started", "stop": "stopped"}[action]
	log.Info(done, "component", name, "duration", time.Since(t0).Round(time.Microsecond))
	return nil
}
