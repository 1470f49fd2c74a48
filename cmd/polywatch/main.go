// Command polywatch is a live terminal view of polyfeed's order-book stream over NATS:
// top of book, spread, last trade, state, age and lag of chosen assets or markets,
// refreshed in place. With --json it prints one JSON line per update instead, for
// scripts and for tools in other languages.
//
//	go run ./cmd/polywatch                             # every asset on nats://127.0.0.1:4222
//	go run ./cmd/polywatch --market 0xabc… --asset 7124…
//	go run ./cmd/polywatch --json --asset 7124… | jq .
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
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/polyfeed/polyfeed/stream"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errUsage):
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "polywatch:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("invalid usage")

type options struct {
	url      string
	prefix   string
	assets   []string
	markets  []string
	json     bool
	refresh  time.Duration
	lookback time.Duration
	rows     int
}

// listFlag collects a repeatable, comma-separated flag.
type listFlag struct{ vals *[]string }

func (l listFlag) String() string {
	if l.vals == nil {
		return ""
	}
	return strings.Join(*l.vals, ",")
}

func (l listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l.vals = append(*l.vals, v)
		}
	}
	return nil
}

// newFlagSet defines polywatch's flags over o.
func newFlagSet(o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("polywatch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.url, "nats-url", "nats://127.0.0.1:4222", "NATS server URL(s), comma-separated")
	fs.StringVar(&o.prefix, "prefix", stream.DefaultPrefix, "subject prefix of the stream (polyfeed's --nats-prefix)")
	fs.Var(listFlag{&o.assets}, "asset", "asset id to watch (repeat or comma-separate)")
	fs.Var(listFlag{&o.markets}, "market", "market condition id whose assets to watch (repeat or comma-separate)")
	fs.BoolVar(&o.json, "json", false, "print one JSON line per update instead of the live view")
	fs.DurationVar(&o.refresh, "refresh", 250*time.Millisecond, "live view refresh interval")
	fs.DurationVar(&o.lookback, "lookback", stream.DefaultLookback, "how far back to replay the events stream at start")
	fs.IntVar(&o.rows, "rows", 40, "most assets shown in the live view (0: all)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "polywatch: watch polyfeed's order books over NATS (no asset or market: all).\n\nFlags:")
		fs.PrintDefaults()
	}
	return fs
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := newFlagSet(&o, stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "polywatch: unexpected argument %q\n", fs.Arg(0))
		return o, errUsage
	}
	if o.refresh <= 0 {
		fmt.Fprintln(stderr, "polywatch: --refresh must be positive")
		return o, errUsage
	}
	if err := stream.ValidatePrefix(o.prefix); err != nil {
		fmt.Fprintln(stderr, "polywatch:", err)
		return o, errUsage
	}
	return o, nil
}

// run watches until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	nc, err := nats.Connect(o.url, nats.Name("polywatch"), nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond))
	if err != nil {
		return fmt.Errorf("cannot connect to %s: %w", o.url, err)
	}
	defer nc.Close()

	var out sink
	if o.json {
		out = newJSONSink(stdout)
	} else {
		out = newView(stdout, o.rows)
	}
	c, err := start(ctx, stream.Config{
		Conn: nc, Prefix: o.prefix, Assets: o.assets, Markets: o.markets,
		Lookback: o.lookback, Handler: out.update, Logger: log,
	}, stderr)
	if err != nil {
		return err
	}
	if c == nil {
		return nil // interrupted while waiting for the stream
	}
	defer c.Close()
	if o.json {
		<-ctx.Done()
		return out.err()
	}
	t := time.NewTicker(o.refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			out.(*view).render(time.Now(), c.Stats())
		}
	}
}

// start starts a consumer, waiting (and saying so once) while the stream does not
// exist yet or the server cannot be reached: polywatch may start before polyfeed. It
// returns nil, nil if ctx ends first.
func start(ctx context.Context, cfg stream.Config, stderr io.Writer) (*stream.Consumer, error) {
	said := false
	for {
		c, err := stream.New(cfg)
		if err != nil {
			return nil, err
		}
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = c.Start(sctx)
		cancel()
		if err == nil {
			return c, nil
		}
		if !said {
			fmt.Fprintf(stderr, "polywatch: waiting for the stream (%v)\n", err)
			said = true
		}
		t := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil
		case <-t.C:
		}
	}
}

// sink receives every update on the consumer's goroutine.
type sink interface {
	update(stream.Update)
	err() error
}
