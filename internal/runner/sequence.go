package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Step is one startable part of a Sequence; a nil Start or Stop has nothing
// to do (the step is listed for the log).
type Step struct {
	Name  string
	Start func(ctx context.Context) error
	Stop  func(ctx context.Context) error
}

// Sequence starts steps in slice order and stops the started ones in
// reverse, bounding each stop, and logs each with its duration.
// Not safe for concurrent use: its owner serialises calls.
type Sequence struct {
	Steps   []Step
	Logger  *slog.Logger
	started int // how many of Steps are running
}

// StartAll starts every step in order. On failure it stops the ones already
// started (in reverse, within stopBudget) and returns the start error.
func (s *Sequence) StartAll(ctx context.Context, stopBudget time.Duration) error {
	for i, c := range s.Steps {
		t0 := time.Now()
		if c.Start != nil {
			if err := c.Start(ctx); err != nil {
				s.Logger.Error("cannot start component", "component", c.Name, "err", err)
				rbCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopBudget)
				_ = s.StopAll(rbCtx)
				cancel()
				return fmt.Errorf("cannot start %s: %w", c.Name, err)
			}
		}
		s.started = i + 1
		s.Logger.Info("started", "component", c.Name, "duration", time.Since(t0).Round(time.Microsecond))
	}
	return nil
}

// StopAll stops started components in reverse order. Each step gets the
// remaining budget of ctx split evenly over the remaining steps (at least
// 100 ms), so one hung component cannot eat the others' time. It returns
// the joined errors, naming each component.
func (s *Sequence) StopAll(ctx context.Context) error {
	var errs []error
	for i := s.started - 1; i >= 0; i-- {
		c := s.Steps[i]
		s.started = i
		if c.Stop == nil {
			continue
		}
		budget := 5 * time.Second
		if dl, ok := ctx.Deadline(); ok {
			budget = max(time.Until(dl)/time.Duration(i+1), 100*time.Millisecond)
		}
		stepCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), budget)
		t0 := time.Now()
		err := Bounded(stepCtx, c.Stop)
		cancel()
		d := time.Since(t0).Round(time.Microsecond)
		switch {
		case errors.Is(err, ErrHung):
			s.Logger.Error("component hung during stop; skipped", "component", c.Name, "waited", d)
			errs = append(errs, fmt.Errorf("cannot stop %s: %w", c.Name, err))
		case err != nil:
			s.Logger.Warn("component stopped with error", "component", c.Name, "duration", d, "err", err)
			errs = append(errs, fmt.Errorf("cannot stop %s: %w", c.Name, err))
		default:
			s.Logger.Info("stopped", "component", c.Name, "duration", d)
		}
	}
	return errors.Join(errs...)
}
