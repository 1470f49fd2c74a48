// Command polyside runs the side-by-side benchmark (package bench/sidebyside):
// polyfeed, a naive client and a floor client on one polysim at the venue's
// real rates. It prints the table, writes sidebyside.txt and sidebyside.json
// under -out, and exits 1 when the efficiency gate or the book check fails.
//
//	go build -o bin/ ./cmd/polyfeed ./cmd/polysim ./bench/cmd/polybaseline ./bench/cmd/polyside
//	bin/polyside -polyfeed bin/polyfeed -polysim bin/polysim -baseline bin/polybaseline -out bench/out/sidebyside
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/polyfeed/polyfeed/bench/sidebyside"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:])
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "polyside:", err)
		os.Exit(1)
	}
}

var errGate = errors.New("side-by-side gate failed")

func run(ctx context.Context, args []string) error {
	var cfg sidebyside.Config
	fs := flag.NewFlagSet("polyside", flag.ContinueOnError)
	fs.StringVar(&cfg.Polyfeed, "polyfeed", "bin/polyfeed", "polyfeed binary")
	fs.StringVar(&cfg.Polysim, "polysim", "bin/polysim", "polysim binary")
	fs.StringVar(&cfg.Baseline, "baseline", "bin/polybaseline", "polybaseline binary")
	fs.StringVar(&cfg.OutDir, "out", "bench/out/sidebyside", "report directory")
	rates := fs.String("rates", "2000,10000", "venue rates, messages/s, comma-separated")
	fs.IntVar(&cfg.Markets, "markets", 1000, "markets")
	fs.DurationVar(&cfg.Warmup, "warmup", 0, "warm-up after start (default 10s)")
	fs.DurationVar(&cfg.Window, "window", 0, "measured window per rate (default 60s, one Gamma discovery period)")
	fs.DurationVar(&cfg.Idle, "idle", 0, "idle window (default 60s, one Gamma discovery period)")
	fs.StringVar(&cfg.Profile, "profile", "", "write a CPU profile of polyfeed at the gate rate to this file")
	feedFlags := fs.String("feed-flags", "", "extra polyfeed flags, space-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, s := range strings.Split(*rates, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || v <= 0 {
			return fmt.Errorf("invalid -rates %q", *rates)
		}
		cfg.Rates = append(cfg.Rates, v)
	}
	cfg.FeedFlags = strings.Fields(*feedFlags)
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	rep, err := sidebyside.Run(ctx, cfg, log)
	if rep != nil {
		fmt.Print(rep.Table())
	}
	if err != nil {
		return err
	}
	if len(rep.Failures) > 0 {
		return errGate
	}
	return nil
}
