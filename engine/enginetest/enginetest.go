// Package enginetest runs an engine for tests of the packages built on it
// (metrics, record, replay, replay/venue): a configuration for a venue on
// 127.0.0.1, an App started for one test and stopped at its end, and its
// books read and compared with the simulator's truth. The engine's own
// white-box tests cannot import it (they are package engine, and this
// package imports engine) and use internal/testrig directly.
//
// Concurrency: call it from the test's goroutine, as t.Cleanup requires.
package enginetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/engine"
	"github.com/polyfeed/polyfeed/engine/venue"
	"github.com/polyfeed/polyfeed/internal/sim"
	"github.com/polyfeed/polyfeed/internal/testrig"
)

// Loopback returns an engine configuration for a venue at wsURL and
// gammaURL on 127.0.0.1: logs discarded, and connections placed, dialled
// and reconnected in milliseconds rather than the defaults' seconds, since
// a loopback venue answers at once. Everything else is engine.New's
// default; a test sets what it tests on top.
func Loopback(wsURL, gammaURL string) engine.Config {
	return engine.Config{
		WSURL:    wsURL,
		GammaURL: gammaURL,
		Logger:   testrig.Logger(),
		Pool:     venue.LoopbackPool(),
		Conn:     venue.LoopbackConn(),
	}
}

// Start builds an App from cfg, starts it and stops it when the test ends.
func Start(t testing.TB, cfg engine.Config) *engine.App {
	t.Helper()
	a, err := engine.New(cfg)
	if err != nil {
		t.Fatalf("cannot create engine: %v", err)
	}
	return testrig.Start(t, "engine", a)
}

// Books reads the books of ids that a holds.
func Books(t testing.TB, a *engine.App, ids []string) map[string]book.View {
	t.Helper()
	out := make(map[string]book.View, len(ids))
	for _, id := range ids {
		v, ok, err := a.Book(context.Background(), id, 0)
		if err != nil {
			t.Fatalf("cannot read book %s: %v", id, err)
		}
		if ok {
			out[id] = v
		}
	}
	return out
}

// DiffTruth says how got differs from the simulator's books of ids, level
// for level; nil when every one is present, valid and equal.
func DiffTruth(got map[string]book.View, s *sim.Server, ids []string) error {
	for _, id := range ids {
		truth, ok := s.Book(id)
		if !ok {
			return fmt.Errorf("simulator has no book for %s", id)
		}
		v, ok := got[id]
		if !ok || !v.Valid {
			return fmt.Errorf("book %s… missing (%v) or invalid (closed %v)", short(id), ok, truth.Closed)
		}
		if !sameSide(v.Bids, truth.Bids) || !sameSide(v.Asks, truth.Asks) {
			return fmt.Errorf("book %s… differs from the truth", short(id))
		}
	}
	return nil
}

func sameSide(got []book.LevelView, want []sim.Level) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i].Price != want[i].Price || got[i].Size != want[i].Size {
			return false
		}
	}
	return true
}

func short(id string) string { return id[:min(12, len(id))] }
