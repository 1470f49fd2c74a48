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
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/polyfeed/polyfeed/engine"
	"github.com/polyfeed/polyfeed/engine/metrics"
	"github.com/polyfeed/polyfeed/internal/admin"
	"github.com/polyfeed/polyfeed/record"
	"github.com/polyfeed/polyfeed/replay"
)

// replayOptions are the flags of "polyfeed replay".
type replayOptions struct {
	Dir      string
	From, To int64 // Unix ns; 0 unbounded
	Speed    float64
	HTTPAddr string
	Workers  int
	Exit     bool
	LogLevel slog.Level
}

func newReplayFlagSet(o *replayOptions, from, to, speed, level *string) *flag.FlagSet {
	fs := flag.NewFlagSet("polyfeed replay", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(from, "from", "", "start at this time: RFC 3339 (2026-12-01T10:00:00Z), a UTC date (2026-12-01) or Unix nanoseconds")
	fs.StringVar(to, "to", "", "end at this time (same forms as --from)")
	fs.StringVar(speed, "speed", "max", "pace: 1 (recorded time), 10 (ten times faster), max (as fast as the engine goes)")
	fs.StringVar(&o.HTTPAddr, "http-addr", "127.0.0.1:9090", "admin HTTP address (/stats /healthz /readyz /metrics /books); empty disables")
	fs.IntVar(&o.Workers, "workers", 4, "worker goroutines that own the order books (1..256)")
	fs.BoolVar(&o.Exit, "exit", false, "exit when the recording ends instead of serving the final books until SIGINT/SIGTERM")
	fs.StringVar(level, "log-level", "info", "log level: debug|info|warn|error")
	return fs
}

// parseReplay reads "polyfeed replay DIR [flags]" (flags before or after DIR).
func parseReplay(args []string) (replayOptions, error) {
	var o replayOptions
	var from, to, speed, level string
	fs := newReplayFlagSet(&o, &from, &to, &speed, &level)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return o, err
			}
			return o, usagef("replay: %v", err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 1 {
		return o, usagef("replay: want one recording directory, got %d arguments", len(pos))
	}
	o.Dir = pos[0]
	var err error
	if o.From, err = parseTime(from); err != nil {
		return o, usagef("replay: invalid --from: %v", err)
	}
	if o.To, err = parseTime(to); err != nil {
		return o, usagef("replay: invalid --to: %v", err)
	}
	if o.To != 0 && o.To < o.From {
		return o, usagef("replay: --to is before --from")
	}
	if o.Speed, err = replay.ParseSpeed(speed); err != nil {
		return o, usagef("replay: invalid --speed: %v", err)
	}
	if o.Workers < 1 || o.Workers > 256 {
		return o, usagef("replay: invalid --workers: %d, want 1..256", o.Workers)
	}
	if err := o.LogLevel.UnmarshalText([]byte(level)); err != nil {
		return o, usagef("replay: invalid --log-level: %q", clip(level))
	}
	if o.HTTPAddr != "" {
		if err := checkAddr(o.HTTPAddr); err != nil {
			return o, usagef("replay: invalid --http-addr: %v", err)
		}
	}
	return o, nil
}

// parseTime reads RFC 3339, a UTC date or Unix nanoseconds; "" is 0.
func parseTime(s string) (int64, error) {
	switch {
	case s == "":
		return 0, nil
	case strings.Trim(s, "0123456789") == "":
		return strconv.ParseInt(s, 10, 64)
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixNano(), nil
		}
	}
	return 0, fmt.Errorf("%q: want RFC 3339, YYYY-MM-DD or Unix nanoseconds", clip(s))
}

// replayEngineConfig is an engine fed only by the replay: no sockets, no
// discovery, no recycling, no stale-asset resyncs (they would ask a venue
// that is not there), a blocking router so --speed max loses nothing, and
// the small inbound queue replay.InboundBytes explains.
// A publisher the live run attaches to the engine (Config.Handler) attaches
// here the same way, so consumers of the live stream run unchanged.
func replayEngineConfig(o replayOptions, log *slog.Logger) engine.Config {
	return engine.Config{
		WSURL: "ws://127.0.0.1:1/ws/market", GammaURL: "http://127.0.0.1:1", // never dialed
		Workers: o.Workers, Backpressure: engine.Block, InboundBytes: replay.InboundBytes, HandOffFrames: true,
		DisableLifecycle: true, DisableRecycling: true, AssetStaleAfter: -1,
		Logger: log,
	}
}

// runReplay is "polyfeed replay": start the engine and the admin server,
// feed the recording, then serve the final books until a signal (or exit
// with --exit).
func runReplay(args []string, stdout, stderr io.Writer) (err error) {
	o, err := parseReplay(args)
	if errors.Is(err, flag.ErrHelp) {
		printReplayUsage(stdout)
		return nil
	}
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: o.LogLevel}))
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()

	r, err := record.Open(o.Dir, o.From, o.To, log)
	if err != nil {
		return err
	}
	defer r.Close()
	if len(r.Files()) == 0 {
		return fmt.Errorf("cannot replay %s: %w", o.Dir, replay.ErrNoRecording)
	}
	app, err := engine.New(replayEngineConfig(o, log))
	if err != nil {
		return err
	}
	p, err := replay.New(r, app, replay.Config{Speed: o.Speed})
	if err != nil {
		return err
	}
	if o.HTTPAddr != "" {
		reg := prometheus.NewRegistry()
		reg.MustRegister(metrics.NewCollector(app))
		acfg := adminConfig(options{HTTPAddr: o.HTTPAddr}, app, nil, nil, reg, log)
		acfg.Stats = func() any { return replayStats{Stats: app.Stats(), Replay: p.Stats()} }
		adm, err := admin.New(acfg)
		if err != nil {
			return err
		}
		if err := timed(log, "start", "admin", func() error { return adm.Start(ctx) }); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, timed(log, "stop", "admin", func() error { return stopAdmin(adm) })) }()
	}
	if err := app.Start(ctx); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, app.Stop(context.Background())) }()

	t0, cpu0 := time.Now(), processCPU()
	log.Info("replaying", "dir", o.Dir, "files", len(r.Files()), "speed", o.Speed)
	if err := p.Run(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	st, rs := p.Stats(), r.Stats()
	// The engine may still be routing the last frames fed.
	for ctx.Err() == nil && app.Stats().Router.Frames < st.Frames {
		time.Sleep(time.Millisecond)
	}
	took, cpu := time.Since(t0), processCPU()-cpu0
	log.Info("replay done", "records", st.Records, "frames", st.Frames, "closes", st.Closes, "gaps", st.Gaps,
		"truncated_files", rs.Truncated, "duration", took.Round(time.Millisecond),
		"records_per_sec", int64(float64(st.Records)/max(took.Seconds(), 1e-9)))
	// Every event fed is applied before the engine reports it routed; the
	// rate counts the whole path, reading and decompressing included.
	events := app.Stats().Router.Events
	fmt.Fprintf(stdout, "replayed %d records (%d frames, %d events) from %d files in %s: %.0f events/s, %.0f events per CPU-second\n",
		st.Records, st.Frames, events, rs.Files, took.Round(time.Millisecond), float64(events)/max(took.Seconds(), 1e-9),
		float64(events)/max(cpu.Seconds(), 1e-9))
	if o.Exit || ctx.Err() != nil {
		return nil
	}
	log.Info("serving the final books until SIGINT/SIGTERM")
	<-ctx.Done()
	return nil
}

// processCPU is the process's user and system CPU time so far: on a
// shared machine, events per CPU-second says more than events per second.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// replayStats is /stats during a replay.
type replayStats struct {
	engine.Stats
	Replay replay.Stats `json:"replay"`
}

func printReplayUsage(w io.Writer) {
	var o replayOptions
	var a, b, c, d string
	fs := newReplayFlagSet(&o, &a, &b, &c, &d)
	fmt.Fprint(w, `polyfeed replay feeds a recording (polyfeed --record DIR) through the engine
and serves the same admin HTTP and /books.

Usage:
  polyfeed replay DIR [--from T] [--to T] [--speed 1|10|max] [flags]

Flags:
`)
	fs.VisitAll(func(f *flag.Flag) {
		fmt.Fprintf(w, "  --%s\n      %s (default %q)\n", f.Name, f.Usage, f.DefValue)
	})
}
