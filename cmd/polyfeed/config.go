package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/polyfeed/polyfeed/engine"
	"github.com/polyfeed/polyfeed/engine/markets"
	"github.com/polyfeed/polyfeed/engine/venue"
	"github.com/polyfeed/polyfeed/internal/flagenv"
	"github.com/polyfeed/polyfeed/record"
)

// envPrefix is the prefix of every flag's environment variable.
const envPrefix = "POLYFEED_"

// Demo settings of --sim: enough markets to need several connections, a
// rate a laptop shows comfortably, and churn so the lifecycle has work.
const (
	defaultSimMarkets    = 500
	defaultSimRate       = 1000
	defaultSimChurn      = 6
	defaultSimPrintBooks = 3
)

// options is everything the command line and the environment decide.
type options struct {
	Workers       int
	LogLevel      slog.Level
	LogFormat     string // "text" or "json"
	GammaURL      string
	WSURL         string
	HTTPAddr      string // "" disables the admin server
	AssetsPerConn int
	Lifecycle     bool
	Recycling     bool
	BestCheck     bool
	Backpressure  engine.Backpressure
	PinCPUs       bool
	LockWorkers   bool
	StopTimeout   time.Duration
	Pprof         bool
	DryRun        bool

	// Market lifecycle knobs (see markets.Config).
	DiscoveryInterval  time.Duration
	ExpiryInterval     time.Duration
	ExpiryGrace        time.Duration // 0: none
	CleanupGrace       time.Duration
	SuspectExpiryShare float64

	Sim        bool
	SimMarkets int
	SimRate    float64
	SimSeed    int64
	SimChurn   float64

	PrintBooks int           // books logged every PrintEvery; 0 disables
	PrintEvery time.Duration // period of the book log

	Stream streamOptions // --publish, --nats-*, --data-dir

	// Recording (--record): "" disables.
	RecordDir     string
	RecordMaxFile int64
	RecordKeep    record.Keep

	Cluster clusterOptions // --cluster*, --replicas
}

// rawOptions holds the flags that are validated after parsing: enums as
// strings, so that a bad value is reported with the flag or variable it came
// from, like every other bad value.
type rawOptions struct {
	logLevel, logFormat, backpressure string
	recordMaxFile, recordKeep         string
}

// errUsage marks an invalid command line or environment: exit status 2.
var errUsage = errors.New("invalid usage")

// usageError is one invalid setting; its message names the flag, or the
// environment variable when the value came from there.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }
func (e *usageError) Unwrap() error { return errUsage }

func usagef(format string, a ...any) error {
	return &usageError{msg: printable(fmt.Sprintf(format, a...))}
}

// printable keeps a message on one line: the flag package echoes unknown
// flag names verbatim, and those may contain control characters.
func printable(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// newFlagSet defines every flag, bound to o and raw. The flag set is also
// what --help prints and what the README test checks against.
func newFlagSet(o *options, raw *rawOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("polyfeed", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported once, by main, on one line
	fs.IntVar(&o.Workers, "workers", engine.DefaultWorkers, fmt.Sprintf("worker goroutines that own the order books (1..%d)", engine.MaxWorkers))
	fs.StringVar(&raw.logLevel, "log-level", "info", "log level: debug|info|warn|error")
	fs.StringVar(&raw.logFormat, "log-format", "text", "log format: text|json (to stderr)")
	fs.StringVar(&o.GammaURL, "gamma-url", engine.DefaultGammaURL, "Gamma REST API base URL (market discovery)")
	fs.StringVar(&o.WSURL, "ws-url", venue.DefaultMarketURL, "CLOB market channel WebSocket URL")
	fs.StringVar(&o.HTTPAddr, "http-addr", "127.0.0.1:9090", "admin HTTP address (/stats /healthz /readyz /metrics /books); empty disables")
	fs.IntVar(&o.AssetsPerConn, "assets-per-conn", venue.DefaultAssetsPerConn, fmt.Sprintf("assets (tokens) per WebSocket connection (1..%d)", venue.MaxAssetsPerConn))
	fs.BoolVar(&o.Lifecycle, "enable-lifecycle", true, "discover markets from Gamma and retire expired ones")
	fs.BoolVar(&o.Recycling, "enable-recycling", true, "replace polluted, old or unhealthy connections (make before break)")
	fs.BoolVar(&o.BestCheck, "best-check", true, "cross-check each price_change's best_bid/best_ask against the book; a mismatch resyncs the book")
	fs.StringVar(&raw.backpressure, "backpressure", "drop", "full worker ring: drop (drop, invalidate the book, resnapshot) or block (stall the router)")
	fs.BoolVar(&o.PinCPUs, "pin-cpus", false, "pin worker i to CPU i mod NumCPU (Linux)")
	fs.BoolVar(&o.LockWorkers, "lock-workers", false, "lock each worker goroutine to its own OS thread (implied by --pin-cpus)")
	fs.DurationVar(&o.StopTimeout, "stop-timeout", 30*time.Second, "bound on the engine's graceful stop")
	fs.DurationVar(&o.DiscoveryInterval, "discovery-interval", markets.DefaultDiscoveryInterval, "time between two Gamma market listings (1s..24h)")
	fs.DurationVar(&o.ExpiryInterval, "expiry-interval", markets.DefaultExpiryInterval, "time between two end-date expiry checks (100ms..1h)")
	fs.DurationVar(&o.ExpiryGrace, "expiry-grace", markets.DefaultExpiryGrace, "a market expires this long after its end date unless Gamma lists it closed or the venue resolves it (0..168h; 0: at its end date)")
	fs.DurationVar(&o.CleanupGrace, "cleanup-grace", markets.DefaultCleanupGrace, "an expired market's assets and final books are kept this long (1s..168h)")
	fs.Float64Var(&o.SuspectExpiryShare, "suspect-expiry-share", markets.DefaultSuspectExpiryShare, "a Gamma listing that would expire more than this share of the live markets is suspect and expires nothing (0 < share <= 1)")
	fs.BoolVar(&o.Pprof, "pprof", true, "serve /debug/pprof/ on the admin server")
	fs.BoolVar(&o.DryRun, "dry-run", false, "discover markets via Gamma, print what would be subscribed, exit")
	fs.BoolVar(&o.Sim, "sim", false, "run the built-in exchange simulator on loopback and feed the engine from it")
	fs.IntVar(&o.SimMarkets, "sim-markets", defaultSimMarkets, "with --sim: markets at start")
	fs.Float64Var(&o.SimRate, "sim-rate", defaultSimRate, "with --sim: event messages per second over all markets")
	fs.Int64Var(&o.SimSeed, "sim-seed", 1, "with --sim: seed of the simulated universe")
	fs.Float64Var(&o.SimChurn, "sim-churn", defaultSimChurn, "with --sim: markets that expire, and new ones that appear, per minute")
	fs.IntVar(&o.PrintBooks, "print-books", 0, fmt.Sprintf("log the top of book of N subscribed assets every --print-every (with --sim and unset: %d)", defaultSimPrintBooks))
	fs.DurationVar(&o.PrintEvery, "print-every", 5*time.Second, "period of --print-books")
	defineStreamFlags(fs, &o.Stream)
	defineClusterFlags(fs, &o.Cluster)

	fs.StringVar(&o.RecordDir, "record", "", "record every raw frame and connection event under this directory (docs/RECORDING.md); empty disables")
	fs.StringVar(&raw.recordMaxFile, "record-max-file", "256MiB", "with --record: rotate a file at this compressed size (files also rotate every UTC hour)")
	fs.StringVar(&raw.recordKeep, "record-keep", "all", "with --record: delete the oldest files beyond an age (36h, 7d) or a total size (50GB)")
	return fs
}

// parseConfig reads args (without the program name) and the environment
// through lookup. Precedence: flag, then POLYFEED_* variable, then default.
// It returns flag.ErrHelp for -h/--help, and an error wrapping errUsage,
// with a one-line message naming the flag or variable, for anything invalid.
func parseConfig(args []string, lookup flagenv.LookupFunc) (options, error) {
	var o options
	var raw rawOptions
	fs := newFlagSet(&o, &raw)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return o, usagef("unexpected argument %q (flags only)", clip(fs.Arg(0)))
	}
	fromEnv, err := flagenv.Apply(fs, envPrefix, lookup)
	if err != nil {
		return o, usagef("%v", err)
	}
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for name := range fromEnv {
		set[name] = true
	}
	// name is how a message refers to a setting: the variable if the value
	// came from the environment, else the flag.
	name := func(flag string) string {
		if v, ok := fromEnv[flag]; ok {
			return v
		}
		return "--" + flag
	}
	bad := func(flag, format string, a ...any) error {
		return usagef("invalid %s: "+format, append([]any{name(flag)}, a...)...)
	}

	switch {
	case o.Workers < 1 || o.Workers > engine.MaxWorkers:
		return o, bad("workers", "%d, want 1..%d", o.Workers, engine.MaxWorkers)
	case o.AssetsPerConn < 1 || o.AssetsPerConn > venue.MaxAssetsPerConn:
		return o, bad("assets-per-conn", "%d, want 1..%d (the venue's limit per connection)", o.AssetsPerConn, venue.MaxAssetsPerConn)
	case o.StopTimeout <= 0:
		return o, bad("stop-timeout", "%v, want > 0", o.StopTimeout)
	case o.PrintBooks < 0 || o.PrintBooks > 100:
		return o, bad("print-books", "%d, want 0..100", o.PrintBooks)
	case o.PrintEvery < 100*time.Millisecond:
		return o, bad("print-every", "%v, want >= 100ms", o.PrintEvery)
	case o.DiscoveryInterval < time.Second || o.DiscoveryInterval > 24*time.Hour:
		return o, bad("discovery-interval", "%v, want 1s..24h", o.DiscoveryInterval)
	case o.ExpiryInterval < 100*time.Millisecond || o.ExpiryInterval > time.Hour:
		return o, bad("expiry-interval", "%v, want 100ms..1h", o.ExpiryInterval)
	case o.ExpiryGrace < 0 || o.ExpiryGrace > 168*time.Hour:
		return o, bad("expiry-grace", "%v, want 0..168h", o.ExpiryGrace)
	case o.CleanupGrace < time.Second || o.CleanupGrace > 168*time.Hour:
		return o, bad("cleanup-grace", "%v, want 1s..168h", o.CleanupGrace)
	case !(o.SuspectExpiryShare > 0 && o.SuspectExpiryShare <= 1): // also refuses NaN
		return o, bad("suspect-expiry-share", "%v, want > 0 and <= 1", o.SuspectExpiryShare)
	}
	switch strings.ToLower(raw.logLevel) {
	case "debug":
		o.LogLevel = slog.LevelDebug
	case "info":
		o.LogLevel = slog.LevelInfo
	case "warn", "warning":
		o.LogLevel = slog.LevelWarn
	case "error":
		o.LogLevel = slog.LevelError
	default:
		return o, bad("log-level", "%q, want debug|info|warn|error", clip(raw.logLevel))
	}
	switch o.LogFormat = strings.ToLower(raw.logFormat); o.LogFormat {
	case "text", "json":
	default:
		return o, bad("log-format", "%q, want text|json", clip(raw.logFormat))
	}
	switch strings.ToLower(raw.backpressure) {
	case "drop":
		o.Backpressure = engine.DropAndResync
	case "block":
		o.Backpressure = engine.Block
	default:
		return o, bad("backpressure", "%q, want drop|block", clip(raw.backpressure))
	}
	if err := checkURL(o.GammaURL, "http", "https"); err != nil {
		return o, bad("gamma-url", "%v", err)
	}
	if err := checkURL(o.WSURL, "ws", "wss"); err != nil {
		return o, bad("ws-url", "%v", err)
	}
	if o.HTTPAddr != "" {
		if err := checkAddr(o.HTTPAddr); err != nil {
			return o, bad("http-addr", "%v", err)
		}
	}

	if err := checkStream(&o.Stream, set, name, bad); err != nil {
		return o, err
	}
	if err := checkCluster(&o, set, name, bad); err != nil {
		return o, err
	}

	if o.RecordMaxFile, err = record.ParseSize(raw.recordMaxFile); err != nil || o.RecordMaxFile < 1<<20 {
		return o, bad("record-max-file", "%q, want a size of at least 1MiB (such as 256MiB or 1GB)", clip(raw.recordMaxFile))
	}
	if o.RecordKeep, err = record.ParseKeep(raw.recordKeep); err != nil {
		return o, bad("record-keep", "%q, want all, an age (36h, 7d) or a size (50GB)", clip(raw.recordKeep))
	}
	if o.RecordDir == "" {
		for _, f := range []string{"record-max-file", "record-keep"} {
			if set[f] {
				return o, usagef("%s has no effect without --record", name(f))
			}
		}
	}

	if o.Sim {
		for _, f := range []string{"ws-url", "gamma-url"} {
			if set[f] {
				return o, usagef("%s conflicts with --sim (the simulator provides both URLs)", name(f))
			}
		}
		switch {
		case o.SimMarkets < 1 || o.SimMarkets > 100_000:
			return o, bad("sim-markets", "%d, want 1..100000", o.SimMarkets)
		case !(o.SimRate > 0 && o.SimRate <= 1e6): // also refuses NaN
			return o, bad("sim-rate", "%v, want > 0 and <= 1000000", o.SimRate)
		case !(o.SimChurn >= 0 && o.SimChurn <= 1e5):
			return o, bad("sim-churn", "%v, want 0..100000", o.SimChurn)
		}
		if !set["print-books"] {
			o.PrintBooks = defaultSimPrintBooks
		}
	} else {
		for _, f := range []string{"sim-markets", "sim-rate", "sim-seed", "sim-churn"} {
			if set[f] {
				return o, usagef("%s has no effect without --sim", name(f))
			}
		}
	}
	return o, nil
}

// checkURL accepts an absolute URL with one of schemes and a host.
func checkURL(raw string, schemes ...string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL", clip(raw))
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", clip(raw))
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return nil
		}
	}
	return fmt.Errorf("%q: scheme must be %s", clip(raw), strings.Join(schemes, " or "))
}

// checkAddr accepts host:port with a numeric port (0 picks a free one).
func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q, want host:port", clip(addr))
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port must be 0..65535", clip(addr))
	}
	return nil
}

// clip shortens outside input echoed in messages.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// printUsage writes --help: the two ways to start, then every flag with its
// variable and default.
func printUsage(w io.Writer) {
	var o options
	var raw rawOptions
	fs := newFlagSet(&o, &raw)
	fmt.Fprint(w, `polyfeed keeps a live L2 order book for every active Polymarket market.

Usage:
  polyfeed [flags]          run against the live venue
  polyfeed --sim [flags]    run against the built-in simulator (no network needed)
  polyfeed --dry-run        list what would be subscribed, then exit
  polyfeed cluster status [--markets] --cluster NAME --nats-url URL
                            who owns what in a cluster (docs/CLUSTER.md)
  polyfeed replay DIR       replay a recording through the engine (polyfeed replay --help)
  polyfeed export --parquet OUT DIR   export a recording as Parquet tables

Every flag can also be set by its environment variable; a flag on the command
line wins over the variable, the variable over the default.

Flags:
`)
	fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		if typ == "" {
			typ = "bool"
		}
		def := f.DefValue
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(w, "  --%s %s\n      %s\n      env %s, default %s\n", f.Name, typ, usage,
			flagenv.VarName(envPrefix, f.Name), def)
	})
}
