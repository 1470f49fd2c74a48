package venue

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestPoolSummary: the seed's schema carries the pool's counts and, per
// connection, the registry's pollution ratio beside the recycler's (what
// the socket carries that is not live on it), and how long ago data came.
func TestPoolSummary(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var live, idle PoolConnStats
	live.ID, live.Status, live.Messages, live.Assets, live.Age, live.LastData = 4, ConnConnected, 10, 8, time.Minute, now.Add(-2*time.Second)
	live.RegTotal, live.RegActive, live.RegExpired, live.Pollution = 8, 6, 2, 0.25
	idle.ID, idle.Status = 5, ConnIdle
	got := PoolStats{ConnectionCount: 2, ActiveConnections: 1, Recycling: 1, RecyclingRefused: 3,
		Conns: []PoolConnStats{live, idle}}.Summary(now)

	if got.ConnectionCount != 2 || got.ActiveConnections != 1 || got.Recycling != 1 || got.RecyclingRefused != 3 || len(got.Connections) != 2 {
		t.Fatalf("summary %+v", got)
	}
	c := got.Connections[0]
	if c.ConnectionID != 4 || c.Status != ConnConnected.String() || c.MessagesReceived != 10 || c.AgeSeconds != 60 ||
		c.LastDataAgoSec != 2 || c.PollutionRatio != 0.25 || c.Carried != 8 || c.RecyclePollutionRatio != 0.25 {
		t.Fatalf("connection %+v", c)
	}
	if c := got.Connections[1]; c.LastDataAgoSec != 0 || c.RecyclePollutionRatio != 0 {
		t.Fatalf("idle connection %+v: never had data, carries nothing", c)
	}
	// An empty pool still lists its connections as [] for /stats readers.
	raw, err := json.Marshal(PoolStats{}.Summary(now))
	if err != nil || !strings.Contains(string(raw), `"connections":[]`) {
		t.Fatalf("empty pool = %s, %v; want connections []", raw, err)
	}
}
