package engine

import (
	"fmt"
	"strings"
	"time"

	"github.com/polyfeed/polyfeed/engine/venue"
)

// Stats is the engine's state in the seed's schema (plus latency
// percentiles), as served by /stats.
type Stats struct {
	Running   bool              `json:"running"`
	State     string            `json:"state"`
	Registry  RegistryStats     `json:"registry"`
	Pool      venue.PoolSummary `json:"pool"`
	Router    RouterStats       `json:"router"`
	Workers   WorkersSummary    `json:"workers"`
	Lifecycle any               `json:"lifecycle,omitempty"`
	Recycler  any               `json:"recycler,omitempty"`
}

// RegistryStats counts assets by state.
type RegistryStats struct {
	TotalMarkets int `json:"total_markets"` // assets (tokens) known
	Pending      int `json:"pending"`
	Subscribed   int `json:"subscribed"`
	Expired      int `json:"expired"`
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

	s.Pool = a.pool.Stats().Summary(time.Now())

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
		return false, fmt.Sprintf("stuck for %s: %s (their assets' events wait in its ring and are dropped once it is full)", a.cfg.StuckAfter, strings.Join(stuck, ", "))
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
