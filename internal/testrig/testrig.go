// Package testrig starts what a test runs against (the venue simulator, or
// anything with the shared Start/Stop shape: an engine, a recorder, a
// replayed venue) and stops it when the test ends, so no test writes the
// start / cleanup / bounded-stop skeleton again.
//
// It imports nothing of the engine (nothing under internal/ may): tests of
// packages built on the engine use engine/enginetest, which adds the
// engine's loopback configuration on top of this package.
//
// Concurrency: call it from the test's goroutine, as t.Cleanup requires.
package testrig

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/polyfeed/polyfeed/internal/sim"
)

// StopTimeout bounds each component's Stop at the end of a test.
const StopTimeout = 10 * time.Second

// Component is the shape every long-running part shares.
type Component interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// Start starts c and stops it when the test ends, bounded by StopTimeout.
// Cleanups run last in, first out, so what starts later stops first. A failed
// Start or Stop fails the test, naming what.
func Start[C Component](t testing.TB, what string, c C) C {
	t.Helper()
	if err := c.Start(context.Background()); err != nil {
		t.Fatalf("cannot start %s: %v", what, err)
	}
	t.Cleanup(func() { Stop(t, what, c) })
	return c
}

// Stop stops c now, bounded by StopTimeout, and fails the test on an error.
// A test may stop a part early (Stop must then be idempotent, as every
// component's is); the cleanup's second Stop does nothing.
func Stop(t testing.TB, what string, c Component) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), StopTimeout)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		t.Errorf("cannot stop %s: %v", what, err)
	}
}

// Sim starts the venue simulator with cfg on 127.0.0.1 for the test.
func Sim(t testing.TB, cfg sim.Config) *sim.Server {
	t.Helper()
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatalf("cannot create simulator: %v", err)
	}
	return Start(t, "simulator", s)
}

// LiveAssets are the simulator's open assets with an order book, sorted.
func LiveAssets(s *sim.Server) []string {
	var ids []string
	for _, m := range s.Markets() {
		if !m.Closed && m.EnableOrderBook {
			ids = append(ids, m.TokenIDs...)
		}
	}
	slices.Sort(ids)
	return ids
}

// Logger discards every record: tests judge counters and books, not logs.
func Logger() *slog.Logger { return slog.New(slog.DiscardHandler) }
