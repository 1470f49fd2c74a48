// Command polysoak runs a soak test of the polyfeed binary against polysim
// (see package bench/soak for what it checks and how it judges) and exits
// 1 when the run fails its checks, 2 on bad usage.
//
//	go build -o bin/ ./cmd/polyfeed ./cmd/polysim ./bench/cmd/polysoak
//	bin/polysoak -duration 10m -polyfeed bin/polyfeed -polysim bin/polysim
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/polyfeed/polyfeed/bench/soak"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:])
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "polysoak:", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "polysoak:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("invalid usage")

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("polysoak", flag.ContinueOnError)
	var c soak.Config
	var extra string
	fs.StringVar(&c.Polyfeed, "polyfeed", "bin/polyfeed", "path of the polyfeed binary")
	fs.StringVar(&c.Polysim, "polysim", "bin/polysim", "path of the polysim binary")
	fs.StringVar(&c.OutDir, "out", "bench/out/soak", "report directory")
	fs.DurationVar(&c.Duration, "duration", 0, "loaded phase (default 3m)")
	fs.DurationVar(&c.Sample, "sample", 0, "sampling period (default 5s)")
	fs.IntVar(&c.Markets, "markets", 0, "simulator markets (default 1000)")
	fs.Float64Var(&c.Rate, "rate", 0, "simulator messages per second (default 2000)")
	fs.Float64Var(&c.Churn, "churn", 0, "markets expiring and appearing per minute (default 30)")
	fs.Int64Var(&c.Seed, "seed", 0, "simulator seed (default 1)")
	fs.DurationVar(&c.FaultEvery, "fault-every", 0, "fault period (default 30s; negative: no faults)")
	fs.DurationVar(&c.FaultLength, "fault-length", 0, "how long a lasting fault stays on (default 10s)")
	fs.DurationVar(&c.Converge, "converge", 0, "bound on the final book comparison (default 3m)")
	fs.BoolVar(&c.StuckHandler, "stuck-handler", false, "add a stuck handler to the faults (polyfeed built with -tags soakstuck)")
	fs.DurationVar(&c.DiscoveryInterval, "discovery-interval", 0, "polyfeed's --discovery-interval (default 5s)")
	fs.StringVar(&extra, "polyfeed-flags", "", "extra polyfeed flags, space separated")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	c.ExtraFlags = strings.Fields(extra)
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	rep, err := soak.Run(ctx, c, log)
	if err != nil {
		return err
	}
	fmt.Printf("soak report: %s/report.md\n", c.OutDir)
	for _, f := range rep.Failures {
		fmt.Println("FAIL", f)
	}
	if !rep.Passed() {
		return soak.ErrFailed
	}
	fmt.Println("PASS")
	return nil
}
