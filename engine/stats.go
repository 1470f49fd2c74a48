package engine

import (
	"fmt"
	"strings"
	"time"

	"github.com/polyfeed/polyfeed/engine/stats"
)

// The snapshot's types live in engine/stats, the shape of /stats; these
// names are the engine's API for them.
type (
	Stats          = stats.Snapshot
	RegistryStats  = stats.Registry
	WorkersSummary = stats.Workers
	RouterStats    = stats.Router
	WorkerStats    = stats.Worker
	MigrationStats = stats.Migration
	LatencySummary = stats.Latency
)

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
