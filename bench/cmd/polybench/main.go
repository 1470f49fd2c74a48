// Command polybench measures the polyfeed engine end to end: a throughput
// sweep of the engine alone (a recorded frame corpus replayed into
// App.FrameSink) and the whole path (the exchange simulator over loopback
// WebSockets), with per-stage latency, CPU, allocations, GC and memory. It
// writes report.txt, report.json and figures (SVG and PNG), and exits 1 when the
// latency gate fails (harness.GateRule: p99 routing and processing under
// their limits on every step with headroom, that is paced engine-alone
// steps offered at most a third of the run's own unpaced maximum and every
// whole-path step; saturated steps are reported, not gated; a run that
// gates no step fails). With -profile it instead writes CPU, heap, allocs,
// block and mutex profiles of one engine-alone and one whole-path run.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/polyfeed/polyfeed/bench/harness"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "polybench:", err)
		os.Exit(1)
	}
}

type flags struct {
	out                 string
	workers             int
	rates, wholeRates   string
	step, wholeStep     time.Duration
	noMax               bool
	gateRoute, gateProc time.Duration
	profile             string
	profileRate         float64
	profileWholeRate    float64
	profileDur          time.Duration
}

func run() error {
	var f flags
	flag.StringVar(&f.out, "out", "bench/out", "directory for report.txt, report.json and the figures")
	flag.IntVar(&f.workers, "workers", 2, "engine workers")
	flag.StringVar(&f.rates, "rates", "1k,5k,20k,50k,100k,200k,400k,800k", "engine-alone offered loads, events/s, ascending (the sweep stops after the first saturated step)")
	flag.BoolVar(&f.noMax, "no-max", false, "skip the unpaced engine-alone step")
	flag.DurationVar(&f.step, "step", 4*time.Second, "measured window of each engine-alone step")
	flag.StringVar(&f.wholeRates, "whole-rates", "1k,10k,30k", "whole-path simulator rates, messages/s")
	flag.DurationVar(&f.wholeStep, "whole-step", 5*time.Second, "measured window of each whole-path step")
	flag.DurationVar(&f.gateRoute, "gate-route", time.Millisecond, "fail when p99 routing of a gated step reaches this")
	flag.DurationVar(&f.gateProc, "gate-processing", 5*time.Millisecond, "fail when p99 processing of a gated step reaches this")
	flag.StringVar(&f.profile, "profile", "", "profile mode: write *.pprof into this directory instead of running the sweep")
	flag.Float64Var(&f.profileRate, "profile-rate", 100e3, "profile mode: engine-alone offered events/s")
	flag.Float64Var(&f.profileWholeRate, "profile-whole-rate", 20e3, "profile mode: whole-path simulator messages/s")
	flag.DurationVar(&f.profileDur, "profile-duration", 10*time.Second, "profile mode: window of each profiled run")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if f.profile != "" {
		return profile(ctx, f)
	}
	rates, err := parseRates(f.rates)
	if err != nil {
		return err
	}
	wholeRates, err := parseRates(f.wholeRates)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(f.out, 0o755); err != nil {
		return fmt.Errorf("cannot create output directory: %w", err)
	}
	rep, err := harness.Run(ctx, harness.SuiteConfig{
		Workers: f.workers, Rates: rates, NoMax: f.noMax, StepDuration: f.step,
		WholeRates: wholeRates, WholeDuration: f.wholeStep,
		Progress: func(s string) { fmt.Fprintln(os.Stderr, s) },
	})
	if err != nil {
		return err
	}
	txt, err := os.Create(filepath.Join(f.out, "report.txt"))
	if err != nil {
		return err
	}
	gate := rep.Gate(f.gateRoute, f.gateProc)
	rep.Verdict = gate
	if err := rep.WriteText(txt); err != nil {
		txt.Close()
		return err
	}
	var gb strings.Builder
	gate.WriteText(&gb, rep.Machine)
	if _, err := txt.WriteString(gb.String()); err != nil {
		txt.Close()
		return err
	}
	if err := txt.Close(); err != nil {
		return err
	}
	fmt.Fprint(os.Stderr, gb.String())
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(f.out, "report.json"), js, 0o644); err != nil {
		return err
	}
	if err := rep.WriteFigures(f.out); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s/{report.txt,report.json} and %v as .svg and .png\n", f.out, harness.FigureNames)
	if !gate.Passed() {
		return fmt.Errorf("latency gate failed on %s:\n  %s", rep.Machine.CPU, strings.Join(gate.Failures(), "\n  "))
	}
	return nil
}

// profile runs one engine-alone step and one whole-path step, each under
// its own CPU profile, with block and mutex profiling on throughout, and
// writes heap, allocs, block and mutex profiles at the end.
func profile(ctx context.Context, f flags) error {
	if err := os.MkdirAll(f.profile, 0o755); err != nil {
		return fmt.Errorf("cannot create profile directory: %w", err)
	}
	runtime.SetBlockProfileRate(10_000) // on average one sample per 10 µs blocked
	runtime.SetMutexProfileFraction(10) // one in ten contention events
	c, err := harness.Record(ctx, harness.CorpusConfig{})
	if err != nil {
		return err
	}
	var engineRes, wholeRes *harness.Result
	if err := withCPUProfile(filepath.Join(f.profile, "engine.cpu.pprof"), func() error {
		engineRes, err = harness.Replay(ctx, c, harness.ReplayConfig{Workers: f.workers, Rate: f.profileRate, Duration: f.profileDur})
		return err
	}); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "engine alone at %.0f ev/s: achieved %.0f/s, cpu/event %v, allocs/event %.4f\n", f.profileRate, engineRes.Achieved, engineRes.CPUPerEvent, engineRes.AllocsPerEvent)
	if err := withCPUProfile(filepath.Join(f.profile, "whole.cpu.pprof"), func() error {
		wholeRes, err = harness.WholePath(ctx, harness.WholeConfig{Workers: f.workers, Rate: f.profileWholeRate, Duration: f.profileDur})
		return err
	}); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "whole path at %.0f msg/s: achieved %.0f ev/s, cpu/event %v, allocs/event %.4f\n", f.profileWholeRate, wholeRes.Achieved, wholeRes.CPUPerEvent, wholeRes.AllocsPerEvent)
	for _, name := range []string{"heap", "allocs", "block", "mutex"} {
		if err := writeProfile(filepath.Join(f.profile, name+".pprof"), name); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "wrote %s/{engine.cpu,whole.cpu,heap,allocs,block,mutex}.pprof\n", f.profile)
	return nil
}

func withCPUProfile(path string, fn func() error) error {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		out.Close()
		return fmt.Errorf("cannot start cpu profile: %w", err)
	}
	ferr := fn()
	pprof.StopCPUProfile()
	return errors.Join(ferr, out.Close())
}

func writeProfile(path, name string) error {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup(name).WriteTo(out, 0); err != nil {
		out.Close()
		return fmt.Errorf("cannot write %s profile: %w", name, err)
	}
	return out.Close()
}

// parseRates reads "1k,5k,1.5M" as events/s.
func parseRates(s string) ([]float64, error) {
	if strings.TrimSpace(s) == "" {
		return []float64{}, nil
	}
	var out []float64
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		mul := 1.0
		switch {
		case strings.HasSuffix(f, "k"), strings.HasSuffix(f, "K"):
			mul, f = 1e3, f[:len(f)-1]
		case strings.HasSuffix(f, "M"):
			mul, f = 1e6, f[:len(f)-1]
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("cannot parse rate %q: want a positive number with an optional k or M", f)
		}
		out = append(out, v*mul)
	}
	return out, nil
}
