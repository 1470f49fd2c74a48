// Command polysim runs the Polymarket exchange simulator (internal/sim) as a process, for
// offline testing and soak runs: Gamma at http://ADDR/markets, the market channel at
// ws://ADDR/ws/market, truth and control under http://ADDR/sim/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/polyfeed/polyfeed/internal/sim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stderr, nil)
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errUsage):
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "polysim:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("invalid usage")

const usageHead = `polysim: a local, deterministic stand-in for Polymarket's Gamma API and CLOB market channel.

Endpoints:
  GET  /markets, /markets/keyset          Gamma listing (offset and keyset pagination)
  GET  /ws/market                         WebSocket market channel
  GET  /sim/books/{asset_id}              the simulator's book (truth), best level first
  POST /sim/pause, /sim/resume            stop / restart event generation (pause is quiescent)
  POST /sim/step?ticks=N                  generate N ticks now
  GET  /sim/stats, /sim/markets           counters, all markets
  GET|POST /sim/faults                    read / replace the fault SPEC (POST body = SPEC)
  POST /sim/close?code=C                  close every socket now (1000|1001|1006|1008|1011)

Flags:
`

// parseFlags turns args into a simulator config; errors are usage errors.
func parseFlags(args []string, stderr io.Writer) (sim.Config, error) {
	fs := flag.NewFlagSet("polysim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg sim.Config
	var faults string
	var delivery float64
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8765", "listen address (host:port; port 0 picks one)")
	fs.IntVar(&cfg.Markets, "markets", 100, "number of markets at start")
	fs.Float64Var(&cfg.Rate, "rate", 1000, "event messages per second over all markets")
	fs.Int64Var(&cfg.Seed, "seed", 1, "seed: same seed and flags give the same markets and event sequence")
	fs.Float64Var(&cfg.ChurnPerMinute, "churn", 0, "markets that expire, and new ones that appear, per minute")
	fs.StringVar(&faults, "faults", "none", "injected faults, see SPEC below")
	fs.DurationVar(&cfg.Tick, "tick", 10*time.Millisecond, "generation step (whole milliseconds)")
	fs.Float64Var(&delivery, "resolved-delivery", 1, "probability that market_resolved is delivered when a market closes")
	fs.IntVar(&cfg.NoBookEvery, "no-book-every", 50, "every Nth market has enableOrderBook=false (-1: none)")
	fs.IntVar(&cfg.MaxBatch, "max-batch", 4, "most messages packed into one array frame")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", 15*time.Second, "close sockets silent this long (no PING); negative disables")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageHead)
		fs.PrintDefaults()
		fmt.Fprintln(fs.Output(), "\nFault "+sim.FaultSpecHelp)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, errUsage
	}
	bad := func(format string, a ...any) (sim.Config, error) {
		fmt.Fprintf(stderr, "polysim: "+format+"\n", a...)
		fs.Usage()
		return cfg, errUsage
	}
	if fs.NArg() > 0 {
		return bad("unexpected arguments %q", fs.Args())
	}
	switch {
	case cfg.Markets < 1:
		return bad("--markets must be >= 1, got %d", cfg.Markets)
	case cfg.Rate <= 0:
		return bad("--rate must be > 0, got %v", cfg.Rate)
	case cfg.ChurnPerMinute < 0:
		return bad("--churn must be >= 0, got %v", cfg.ChurnPerMinute)
	case delivery < 0 || delivery > 1:
		return bad("--resolved-delivery must be in [0,1], got %v", delivery)
	case cfg.NoBookEvery == 0 || cfg.NoBookEvery < -1:
		return bad("--no-book-every must be >= 1 or -1, got %d", cfg.NoBookEvery)
	case cfg.MaxBatch < 1:
		return bad("--max-batch must be >= 1, got %d", cfg.MaxBatch)
	case cfg.Tick < time.Millisecond || cfg.Tick%time.Millisecond != 0:
		return bad("--tick must be a whole number of milliseconds >= 1ms, got %v", cfg.Tick)
	}
	cfg.ResolvedDropRate = 1 - delivery
	f, err := sim.ParseFaults(faults)
	if err != nil {
		return bad("--faults: %v", err)
	}
	cfg.Faults = f
	return cfg, nil
}

// run starts the simulator and serves until ctx ends. ready, if not nil, receives the
// server once it listens (tests).
func run(ctx context.Context, args []string, stderr io.Writer, ready chan<- *sim.Server) error {
	if wantsReplay(args) {
		return runReplay(ctx, args, stderr)
	}
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	cfg.Logger = log
	s, err := sim.New(cfg)
	if err != nil {
		return err
	}
	if err := s.Start(ctx); err != nil {
		return err
	}
	log.Info("polysim serving", "gamma", s.GammaURL(), "ws", s.WSURL(), "faults", s.Faults().String())
	if ready != nil {
		ready <- s
	}
	<-ctx.Done()
	start := time.Now()
	stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Stop(stopCtx); err != nil {
		return fmt.Errorf("cannot stop simulator: %w", err)
	}
	log.Info("stopped simulator", "took", time.Since(start).Round(time.Millisecond))
	return nil
}
