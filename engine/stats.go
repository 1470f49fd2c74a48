package engine

import (
	"fmt"
	"strings"
	"time"
)

// Stats is the engine's state in the seed's schema (plus latency
// percentiles), as served by /stats.
type Stats struct {
	Running   bool           `json:"running"`
	State     string         `json:"state"`
	Registry  RegistryStats  `json:"registry"`
	Pool      PoolSummary    `json:"pool"`
	Router    RouterStats    `json:"router"`
	Workers   WorkersSummary `json:"workers"`
	Lifecycle any            `json:"lifecycle,omitempty"`
	Recycler  any            `json:"recycler,omitempty"`
}

// RegistryStats counts assets by state.
type RegistryStats struct {
	TotalMarkets int `json:"total_markets"` // assets (tokens) known
	Pending      int `json:"pending"`
	Subscribed   int `json:"subscribed"`
	Expired      int `json:"expired"`
}

// PoolSummary is the pool in the seed's schema, plus what recycling does to
// placement.
type PoolSummary struct {
	ConnectionCount   int `json:"connection_count"`
	ActiveConnections int `json:"active_connections"`
	// Recycling connections take no new assets; RecyclingRefused counts the
	// assets placed elsewhere that one of them had room for. ClosedInvalidated
	// counts connections the pool closed whose books were invalidated at once.
	Recycling         int              `json:"recycling_connections"`
	RecyclingRefused  uint64           `json:"assets_refused_by_recycling"`
	ClosedInvalidated uint64           `json:"closed_connections_invalidated"`
	Connections       []ConnectionStat `json:"connections"`
}

// ConnectionStat is one connection in the seed's schema plus liveness.
type ConnectionStat struct {
	ConnectionID     int64   `json:"connection_id"`
	Status           string  `json:"status"`
	AgeSeconds       float64 `json:"age_seconds"`
	MessagesReceived uint64  `json:"messages_received"`
	BytesReceived    uint64  `json:"bytes_received"`
	Reconnects       uint64  `json:"reconnects"`
	LastDataAgoSec   float64 `json:"last_data_seconds_ago"`
	Total            int     `json:"total"`
	Active           int     `json:"active"`
	Expired          int     `json:"expired"`
	// PollutionRatio is the registry's view: expired / total assets assigned
	// to the connection (the seed's schema). RecyclePollutionRatio is what the
	// recycler triggers on: the share of the assets the socket carries that
	// are not live on it, (carried − active) / carried; it also counts assets
	// removed from the registry while still subscribed.
	PollutionRatio        float64 `json:"pollution_ratio"`
	Carried               int     `json:"carried"`
	RecyclePollutionRatio float64 `json:"recycle_pollution_ratio"`
}

// WorkersSummary is the workers in the seed's schema.
type WorkersSummary struct {
	AliveCount int  `json:"alive_count"`
	IsHealthy  bool `json:"is_healthy"`
	// Stuck names the workers that hold queued work and made no progress
	// for StuckAfter (a handler that does not return): their assets' events
	// are dropped and resynced later, every other worker goes on.
	Stuck       []string               `json:"stuck_workers"`
	WorkerStats map[string]WorkerStats `json:"worker_stats"`
}

// Stats returns a consistent-enough snapshot of every component; safe from
// any goroutine, at any time (also before Start and after Stop).
func (a *App) Stats() Stats {
	st := appState(a.state.Load())
	s := Stats{Running: st == stateRunning, State: st.String()}
	c := a.registry.Counts()
	s.Registry = RegistryStats{TotalMarkets: c.Total, Pending: c.Pending, Subscribed: c.Subscribed, Expired: c.Expired}

	ps := a.pool.Stats()
	s.Pool = PoolSummary{ConnectionCount: ps.ConnectionCount, ActiveConnections: ps.ActiveConnections,
		Recycling: ps.Recycling, RecyclingRefused: ps.RecyclingRefused, ClosedInvalidated: ps.ClosedInvalidated,
		Connections: []ConnectionStat{}}
	now := time.Now()
	for _, pc := range ps.Conns {
		cs := ConnectionStat{
			ConnectionID:     pc.ID,
			Status:           pc.Status.String(),
			MessagesReceived: pc.Messages,
			BytesReceived:    pc.Bytes,
			Reconnects:       pc.Reconnects,
			Total:            pc.RegTotal,
			Active:           pc.RegActive,
			Expired:          pc.RegExpired,
			PollutionRatio:   pc.Pollution,
			Carried:          pc.Assets,
		}
		if pc.Assets > 0 {
			cs.RecyclePollutionRatio = float64(max(pc.Assets-pc.RegActive, 0)) / float64(pc.Assets)
		}
		cs.AgeSeconds = pc.Age.Seconds()
		if !pc.LastData.IsZero() {
			cs.LastDataAgoSec = now.Sub(pc.LastData).Seconds()
		}
		s.Pool.Connections = append(s.Pool.Connections, cs)
	}

	s.Router = a.data.router.stats()
	ws := a.data.workerStats()
	alive, healthy, stuck := a.data.workersHealthy(a.cfg.StuckAfter)
	s.Workers = WorkersSummary{AliveCount: alive, IsHealthy: healthy && alive == len(ws), Stuck: stuck, WorkerStats: make(map[string]WorkerStats, len(ws))}
	if s.Workers.Stuck == nil {
		s.Workers.Stuck = []string{}
	}
	for i, w := range ws {
		s.Workers.WorkerStats[workerName(i)] = w
	}
	if a.life != nil {
		s.Lifecycle = a.life.Stats()
	}
	if a.recycler != nil {
		s.Recycler = a.recycler.Stats()
	}
	return s
}

// Healthy reports whether the engine is doing its job: running, every
// worker alive and not stuck, and, with assets subscribed, data arriving on
// some connection within DataStaleAfter. The reason names what is wrong.
func (a *App) Healthy() (bool, string) {
	if st := appState(a.state.Load()); st != stateRunning {
		return false, "engine " + st.String()
	}
	alive, healthy, stuck := a.data.workersHealthy(a.cfg.StuckAfter)
	if alive != a.cfg.Workers {
		return false, fmt.Sprintf("%d of %d workers alive", alive, a.cfg.Workers)
	}
	if !healthy {
		return false, fmt.Sprintf("stuck for %s: %s (their assets' events are dropped)", a.cfg.StuckAfter, strings.Join(stuck, ", "))
	}
	if a.registry.Counts().Subscribed == 0 {
		return true, ""
	}
	var newest time.Time
	for _, c := range a.pool.Conns() {
		if t := c.LastData(); t.After(newest) {
			newest = t
		}
	}
	if newest.IsZero() || time.Since(newest) > a.cfg.DataStaleAfter {
		return false, "no market data received for " + a.cfg.DataStaleAfter.String()
	}
	return true, ""
}

// Ready reports whether the engine is serving: started and not draining.
func (a *App) Ready() (bool, string) {
	st := appState(a.state.Load())
	if st != stateRunning {
		return false, "engine " + st.String()
	}
	return true, ""
}
