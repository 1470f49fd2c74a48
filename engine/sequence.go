package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/polyfeed/polyfeed/internal/runner"
)

// component is one startable part of the engine. The App starts components
// in slice order and stops them in reverse.
type component struct {
	name  string
	start func(ctx context.Context) error
	stop  func(ctx context.Context) error
}

// sequence starts and stops components in order, bounding each stop.
// Not safe for concurrent use: the App serialises calls.
type sequence struct {
	comps   []component
	started int // how many of comps are running
	logger  *slog.Logger
}

// startAll starts every component in order. On failure it stops the ones
// already started (in reverse) and returns the start error.
func (s *sequence) startAll(ctx context.Context, stopBudget time.Duration) error {
	for i, c := range s.comps {
		t0 := time.Now()
		if c.start != nil {
			if err := c.start(ctx); err != nil {
				s.logger.Error("cannot start component", "component", c.name, "err", err)
				rbCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopBudget)
				_ = s.stopAll(rbCtx)
				cancel()
				return fmt.Errorf("cannot start %s: %w", c.name, err)
			}
		}
		s.started = i + 1
		s.logger.Info("started", "component", c.name, "duration", time.Since(t0).Round(time.Microsecond))
	}
	return nil
}

// stopAll stops started components in reverse order. Each step gets the
// remaining budget of ctx split evenly over the remaining steps (at least
// 100 ms), so one hung component cannot eat the others' time. It returns
// the joined errors, naming each component.
func (s *sequence) stopAll(ctx context.Context) error {
	var errs []error
	for i := s.started - 1; i >= 0; i-- {
		c := s.comps[i]
		s.started = i
		if c.stop == nil {
			continue
		}
		budget := 5 * time.Second
		if dl, ok := ctx.Deadline(); ok {
			budget = max(time.Until(dl)/time.Duration(i+1), 100*time.Millisecond)
		}
		stepCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), budget)
		t0 := time.Now()
		err := runner.Bounded(stepCtx, c.stop)
		cancel()
		d := time.Since(t0).Round(time.Microsecond)
		switch {
		case errors.Is(err, runner.ErrHung):
			s.logger.Error("component hung during stop; skipped", "component", c.name, "waited", d)
			errs = append(errs, fmt.Errorf("cannot stop %s: %w", c.name, err))
		case err != nil:
			s.logger.Warn("component stopped with error", "component", c.name, "duration", d, "err", err)
			errs = append(errs, fmt.Errorf("cannot stop %s: %w", c.name, err))
		default:
			s.logger.Info("stopped", "component", c.name, "duration", d)
		}
	}
	return errors.Join(errs...)
}
