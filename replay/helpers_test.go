package replay

import (
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/engine"
	"github.com/polyfeed/polyfeed/engine/enginetest"
	"github.com/polyfeed/polyfeed/internal/testrig"
	"github.com/polyfeed/polyfeed/record"
	"github.com/polyfeed/polyfeed/record/enginetap"
)

// replayConfig is an engine that takes frames only from a replay.
func replayConfig() engine.Config {
	cfg := enginetest.Loopback("ws://127.0.0.1:1/ws/market", "http://127.0.0.1:1")
	cfg.Workers, cfg.RingSize, cfg.Backpressure = 4, 1<<14, engine.Block
	cfg.DisableLifecycle, cfg.DisableRecycling, cfg.AssetStaleAfter = true, true, -1
	cfg.InboundBytes = InboundBytes
	return cfg
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
	w, err := record.New(record.Config{Dir: dir, Logger: testrig.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	return testrig.Start(t, "recorder", w)
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
