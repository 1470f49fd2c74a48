package soak

import (
	"errors"
	"fmt"
	"time"

	"github.com/polyfeed/polyfeed/internal/fill"
)

// Config configures one soak run. Zero fields take the defaults noted.
type Config struct {
	// Polyfeed and Polysim are the paths of the two binaries. Required.
	Polyfeed, Polysim string
	// OutDir receives the report, samples, plot and both processes' logs.
	// Default "bench/out/soak".
	OutDir string
	// Duration is the loaded part of the run, before the final check.
	// Default 3 min.
	Duration time.Duration
	// Sample is the sampling period. Default 5 s.
	Sample time.Duration
	// Markets, Rate (messages/s), Churn (markets/min) and Seed configure the
	// simulator. Defaults 1000, 2000, 30, 1.
	Markets int
	Rate    float64
	Churn   float64
	Seed    int64
	// FaultEvery is the period of injected faults; 0 means 30 s, negative
	// disables them. FaultLength is how long a lasting fault (bad frames,
	// stalls, Gamma errors) stays on. Default 10 s.
	FaultEvery, FaultLength time.Duration
	// RecoverBound is how long after a fault ends a red /healthz may still
	// be put down to it (and only until the first green sample). Default
	// 15 s: reconnecting every socket and reloading its books takes a few
	// seconds here.
	RecoverBound time.Duration
	// QuietTail: no fault starts in the last QuietTail of Duration, so the
	// final check sees a healed engine. Default min(90 s, Duration/4).
	QuietTail time.Duration
	// Converge bounds the final comparison: books are compared again until
	// all match or Converge has passed (discovery runs every 60 s). Default
	// 3 min.
	Converge time.Duration
	// StopBound is how long polyfeed may take to exit after SIGTERM.
	// Default 35 s (its stop timeout is 30 s).
	StopBound time.Duration
	// WarmupFraction of the run is left out of the trend check (at least
	// one minute, at most half the run). Default 0.2.
	WarmupFraction float64
	// StuckHandler adds a stuck handler to the fault cycle: polyfeed's
	// worker 0 blocks for 25 s on request, past the engine's StuckAfter,
	// and /healthz must report it and recover. Only a polyfeed built
	// with -tags soakstuck can take the request; any other fails the
	// injection, which the report shows.
	StuckHandler bool
	// DiscoveryInterval is polyfeed's --discovery-interval. Default 5 s:
	// shorter than FaultLength, so every Gamma fault meets listings while
	// it lasts (at polyfeed's own 60 s most would pass unseen).
	DiscoveryInterval time.Duration
	// ExtraFlags are appended to polyfeed's command line; Env to its
	// environment (NAME=value).
	ExtraFlags []string
	Env        []string
}

// MinDuration is the shortest run that can be judged: the warm-up (at
// least a minute) plus the trend check's shortest window, with room for
// the sample period.
const MinDuration = 3 * time.Minute

// warmup is the part of the run left out of the trend check: the first
// WarmupFraction, at least a minute, at most half the run.
func (c *Config) warmup() time.Duration {
	return min(max(time.Minute, time.Duration(c.WarmupFraction*float64(c.Duration))), c.Duration/2)
}

func (c *Config) fill() error {
	if c.Polyfeed == "" || c.Polysim == "" {
		return errors.New("cannot configure soak: the polyfeed and polysim binary paths are required")
	}
	fill.Zero(&c.OutDir, "bench/out/soak")
	fill.Zero(&c.Duration, 3*time.Minute)
	fill.Zero(&c.Sample, 5*time.Second)
	fill.Zero(&c.FaultEvery, 30*time.Second)
	fill.Zero(&c.FaultLength, 10*time.Second)
	fill.Zero(&c.RecoverBound, 15*time.Second)
	fill.Zero(&c.QuietTail, min(90*time.Second, c.Duration/4))
	fill.Zero(&c.Converge, 3*time.Minute)
	fill.Zero(&c.StopBound, 35*time.Second)
	fill.Zero(&c.DiscoveryInterval, 5*time.Second)
	fill.Zero(&c.Markets, 1000)
	fill.Zero(&c.Rate, 2000)
	fill.Zero(&c.Churn, 30)
	fill.Zero(&c.Seed, 1)
	fill.Zero(&c.WarmupFraction, 0.2)
	judged := c.Duration - c.warmup()
	if c.Duration < MinDuration || c.Sample < 100*time.Millisecond || c.Sample > judged/(2*minPoints) {
		return fmt.Errorf("cannot configure soak: duration %s must be >= %s (a shorter window cannot tell a leak from noise) and sample %s in [100ms, %s]",
			c.Duration, MinDuration, c.Sample, judged/(2*minPoints))
	}
	if c.Markets < 1 || c.Rate < 0 || c.Churn < 0 || c.WarmupFraction < 0 || c.WarmupFraction >= 1 {
		return errors.New("cannot configure soak: markets must be >= 1, rate and churn >= 0, warm-up fraction in [0,1)")
	}
	return nil
}
