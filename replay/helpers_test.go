package replay

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/engine"
	"github.com/polyfeed/polyfeed/internal/sim"
	"github.com/polyfeed/polyfeed/record"
	"github.com/polyfeed/polyfeed/record/enginetap"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func checkFor(t testing.TB, total, every time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s: %v", total, err)
		}
		time.Sleep(every)
	}
}

func startSim(t *testing.T, cfg sim.Config) *sim.Server {
	t.Helper()
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("cannot stop simulator: %v", err)
		}
	})
	return s
}

func startApp(t *testing.T, cfg engine.Config) *engine.App {
	t.Helper()
	a, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopApp(t, a) })
	return a
}

func stopApp(t *testing.T, a *engine.App) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Stop(ctx); err != nil {
		t.Errorf("cannot stop engine: %v", err)
	}
}

// replayConfig is an engine that takes frames only from a replay.
func replayConfig() engine.Config {
	return engine.Config{
		WSURL: "ws://127.0.0.1:1/ws/market", GammaURL: "http://127.0.0.1:1",
		Workers: 4, RingSize: 1 << 14, Backpressure: engine.Block, InboundBytes: InboundBytes,
		DisableLifecycle: true, DisableRecycling: true, AssetStaleAfter: -1,
		Logger: quietLogger(),
	}
}

// countingTap counts the connection events that change books without a
// frame, so a checkpoint taken while one happened can be told apart.
type countingTap struct {
	*enginetap.Tap
	closes, drops atomic.Int64
}

func (c *countingTap) OnClose(conn int64, code uint16, reason string) {
	c.closes.Add(1)
	c.Tap.OnClose(conn, code, reason)
}

func (c *countingTap) OnDrop(assets []string) {
	c.drops.Add(1)
	c.Tap.OnDrop(assets)
}

func startWriter(t *testing.T, dir string) *record.Writer {
	t.Helper()
	w, err := record.New(record.Config{Dir: dir, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop(context.Background()) })
	return w
}

// liveAssets are the simulator's open assets with a book.
func liveAssets(s *sim.Server) []string {
	var ids []string
	for _, m := range s.Markets() {
		if !m.Closed && m.EnableOrderBook {
			ids = append(ids, m.TokenIDs...)
		}
	}
	slices.Sort(ids)
	return ids
}

// books reads the books of ids.
func books(t testing.TB, a *engine.App, ids []string) map[string]book.View {
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

// diffBooks says how got differs from want, level for level; "" if equal.
func diffBooks(got, want map[string]book.View) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d books, want %d", len(got), len(want))
	}
	bad, first := 0, ""
	for id, w := range want {
		g, ok := got[id]
		msg := ""
		switch {
		case !ok:
			msg = "missing"
		case g.Valid != w.Valid:
			msg = fmt.Sprintf("valid %v, want %v", g.Valid, w.Valid)
		case g.TickSize != w.TickSize:
			msg = fmt.Sprintf("tick size %v, want %v", g.TickSize, w.TickSize)
		case !slices.Equal(g.Bids, w.Bids):
			msg = fmt.Sprintf("bids %v, want %v", g.Bids, w.Bids)
		case !slices.Equal(g.Asks, w.Asks):
			msg = fmt.Sprintf("asks %v, want %v", g.Asks, w.Asks)
		}
		if msg != "" {
			bad++
			if first == "" {
				first = id[:min(12, len(id))] + "…: " + msg
			}
		}
	}
	if bad > 0 {
		return fmt.Sprintf("%d of %d books differ; first %s", bad, len(want), first)
	}
	return ""
}

// diffTruth compares books with the simulator's truth.
func diffTruth(got map[string]book.View, s *sim.Server, ids []string) string {
	for _, id := range ids {
		truth, ok := s.Book(id)
		if !ok {
			return "simulator has no book for " + id
		}
		v, ok := got[id]
		if !ok || !v.Valid {
			return fmt.Sprintf("book %s… missing (%v) or invalid (closed %v)", id[:12], ok, truth.Closed)
		}
		side := func(g []book.LevelView, w []sim.Level) bool {
			if len(g) != len(w) {
				return false
			}
			for i := range g {
				if g[i].Price != w[i].Price || g[i].Size != w[i].Size {
					return false
				}
			}
			return true
		}
		if !side(v.Bids, truth.Bids) || !side(v.Asks, truth.Asks) {
			return fmt.Sprintf("book %s… differs from the truth", id[:12])
		}
	}
	return ""
}
