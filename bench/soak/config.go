package soak

import (
	"errors"
	"fmt"
	"time"
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
	// FaultGrace is how long after a fault starts a red /healthz is put down
	// to it. Default 90 s: a socket stall is only noticed by the recycler
	// after its stall timeout (60 s).
	FaultGrace time.Duration
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
	// ExtraFlags are appended to polyfeed's command line.
	ExtraFlags []string
}

func (c *Config) fill() error {
	if c.Polyfeed == "" || c.Polysim == "" {
		return errors.New("cannot configure soak: the polyfeed and polysim binary paths are required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.OutDir == "" {
		c.OutDir = "bench/out/soak"
	}
	def(&c.Duration, 3*time.Minute)
	def(&c.Sample, 5*time.Second)
	def(&c.FaultEvery, 30*time.Second)
	def(&c.FaultLength, 10*time.Second)
	def(&c.FaultGrace, 90*time.Second)
	def(&c.QuietTail, min(90*time.Second, c.Duration/4))
	def(&c.Converge, 3*time.Minute)
	def(&c.StopBound, 35*time.Second)
	if c.Markets == 0 {
		c.Markets = 1000
	}
	if c.Rate == 0 {
		c.Rate = 2000
	}
	if c.Churn == 0 {
		c.Churn = 30
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.WarmupFraction == 0 {
		c.WarmupFraction = 0.2
	}
	if c.Duration < 10*time.Second || c.Sample < 100*time.Millisecond || c.Sample > c.Duration/4 {
		return fmt.Errorf("cannot configure soak: duration %s must be >= 10s and sample %s in [100ms, duration/4]", c.Duration, c.Sample)
	}
	if c.Markets < 1 || c.Rate < 0 || c.Churn < 0 || c.WarmupFraction < 0 || c.WarmupFraction >= 1 {
		return errors.New("cannot configure soak: markets must be >= 1, rate and churn >= 0, warm-up fraction in [0,1)")
	}
	return nil
}
