package harness

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/polyfeed/polyfeed/bench/plot"
)

// SuiteConfig is a whole benchmark run. Zero fields take the defaults.
type SuiteConfig struct {
	Workers int // default 2
	// Rates are the engine-alone offered loads in events/s, ascending. The
	// sweep stops after the first saturated step. Default 1k … 800k.
	Rates []float64
	// NoMax skips the final unpaced step.
	NoMax bool
	// StepDuration is each engine-alone window. Default 4 s.
	StepDuration time.Duration
	// WholeRates are the simulator's message rates for the whole path.
	// Default 1k, 10k, 30k messages/s.
	WholeRates    []float64
	WholeDuration time.Duration // default 5 s
	Corpus        CorpusConfig
	// Progress receives one line per finished step. Optional.
	Progress func(string) `json:"-"`
}

func (c *SuiteConfig) fill() {
	if c.Workers == 0 {
		c.Workers = 2
	}
	if c.Rates == nil {
		c.Rates = []float64{1e3, 5e3, 20e3, 50e3, 100e3, 200e3, 400e3, 800e3}
	}
	if c.StepDuration == 0 {
		c.StepDuration = 4 * time.Second
	}
	if c.WholeRates == nil {
		c.WholeRates = []float64{1e3, 10e3, 30e3}
	}
	if c.WholeDuration == 0 {
		c.WholeDuration = 5 * time.Second
	}
	if c.Progress == nil {
		c.Progress = func(string) {}
	}
}

// Report is everything one run measured.
type Report struct {
	Machine Machine
	Config  SuiteConfig
	Corpus  CorpusSummary
	Startup *Startup
	Sweep   []*Result // engine alone, paced steps then the unpaced one
	Whole   []*Result // simulator over loopback
	Elapsed time.Duration
	// Verdict is the gate's outcome, once Gate has been applied by the caller.
	Verdict *GateResult `json:",omitempty"`
}

// Machine describes where the run happened.
type Machine struct {
	CPU        string
	Cores      int
	GOMAXPROCS int
	GoVersion  string
	LoadBefore string // /proc/loadavg
	LoadAfter  string
}

// CorpusSummary describes the replayed frames.
type CorpusSummary struct {
	Markets, Assets, Frames, SnapshotFrames, CycleEvents int
	Bytes                                                int64
	Kinds                                                map[string]int
}

// Run records the corpus and runs every step.
func Run(ctx context.Context, cfg SuiteConfig) (*Report, error) {
	cfg.fill()
	t0 := time.Now()
	rep := &Report{Config: cfg, Machine: machine()}
	c, err := Record(ctx, cfg.Corpus)
	if err != nil {
		return nil, err
	}
	rep.Corpus = CorpusSummary{Markets: len(c.Markets), Assets: len(c.Assets), Frames: len(c.Frames),
		SnapshotFrames: c.SnapshotFrames, CycleEvents: c.CycleEvent, Bytes: c.Bytes, Kinds: c.Kinds}
	cfg.Progress(fmt.Sprintf("corpus: %d assets, %d frames, %.1f MB, %d events a cycle", len(c.Assets), len(c.Frames), float64(c.Bytes)/1e6, c.CycleEvent))

	if rep.Startup, err = MeasureStartup(ctx, c, cfg.Workers); err != nil {
		return nil, err
	}
	cfg.Progress(fmt.Sprintf("startup: %d books in %v, %.0f B/book", rep.Startup.Books, rep.Startup.Duration.Round(time.Microsecond), rep.Startup.BytesPerBook))

	for _, rate := range cfg.Rates {
		r, err := Replay(ctx, c, ReplayConfig{Workers: cfg.Workers, Rate: rate, Duration: cfg.StepDuration})
		if err != nil {
			return nil, err
		}
		rep.Sweep = append(rep.Sweep, r)
		cfg.Progress(r.line())
		if r.Saturated {
			break
		}
	}
	if !cfg.NoMax {
		r, err := Replay(ctx, c, ReplayConfig{Workers: cfg.Workers, Duration: cfg.StepDuration})
		if err != nil {
			return nil, err
		}
		rep.Sweep = append(rep.Sweep, r)
		cfg.Progress(r.line())
	}
	c = nil
	runtime.GC()
	for _, rate := range cfg.WholeRates {
		r, err := WholePath(ctx, WholeConfig{Workers: cfg.Workers, Markets: cfg.Corpus.Markets, Seed: cfg.Corpus.Seed, Rate: rate, Duration: cfg.WholeDuration})
		if err != nil {
			return nil, err
		}
		rep.Whole = append(rep.Whole, r)
		cfg.Progress(r.line())
	}
	rep.Machine.LoadAfter = loadavg()
	rep.Elapsed = time.Since(t0)
	return rep, nil
}

func (r *Result) line() string {
	sat := ""
	if r.Saturated {
		sat = " SATURATED"
	}
	msgs := ""
	if r.Mode == "whole" {
		msgs = fmt.Sprintf(" (%.0f msg/s), inbound stalls %d", r.AchievedMessages, r.InboundStalls)
	}
	return fmt.Sprintf("%s offered %s: achieved %.0f ev/s%s, dropped %d, handler p99 %.1f µs, route p99 %.1f µs, processing p99 %.1f µs%s",
		r.Mode, rateName(r.Offered, r.Mode), r.Achieved, msgs, r.Dropped, us(r.Handler.P99), us(r.Route.P99), us(r.Processing.P99), sat)
}

func rateName(v float64, mode string) string {
	if v == 0 {
		return "max"
	}
	unit := " ev/s"
	if mode == "whole" {
		unit = " msg/s"
	}
	return plot.FormatTick(v) + unit
}

func machine() Machine {
	m := Machine{CPU: "unknown (no model name in /proc/cpuinfo)", Cores: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(), LoadBefore: loadavg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return m
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
