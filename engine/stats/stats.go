// Package stats is the shape of the engine's /stats snapshot: plain values
// that engine.App.Stats fills from its components' counters (the engine
// keeps its historical names for them as aliases: engine.Stats,
// engine.RouterStats, ...). Values only: safe to copy, keep and marshal from
// any goroutine.
package stats

import (
	"github.com/polyfeed/polyfeed/engine/venue"
	"github.com/polyfeed/polyfeed/internal/hist"
)

// Snapshot is the engine's state in the seed's schema (plus latency
// percentiles), as served by /stats.
type Snapshot struct {
	Running   bool              `json:"running"`
	State     string            `json:"state"`
	Registry  Registry          `json:"registry"`
	Pool      venue.PoolSummary `json:"pool"`
	Router    Router            `json:"router"`
	Workers   Workers           `json:"workers"`
	Lifecycle any               `json:"lifecycle,omitempty"`
	Recycler  any               `json:"recycler,omitempty"`
}

// Registry counts assets by state.
type Registry struct {
	TotalMarkets int `json:"total_markets"` // assets (tokens) known
	Pending      int `json:"pending"`
	Subscribed   int `json:"subscribed"`
	Expired      int `json:"expired"`
}

// Workers is the workers in the seed's schema.
type Workers struct {
	AliveCount int  `json:"alive_count"`
	IsHealthy  bool `json:"is_healthy"`
	// Stuck names the workers that hold queued work and made no progress
	// for engine.Config.StuckAfter (a handler that does not return): their assets' events
	// are dropped and resynced later, every other worker goes on.
	Stuck       []string          `json:"stuck_workers"`
	WorkerStats map[string]Worker `json:"worker_stats"`
}

// Router is a snapshot of the router's counters.
type Router struct {
	Frames         uint64 `json:"frames"`
	Events         uint64 `json:"events"`
	MessagesRouted uint64 `json:"messages_routed"`
	Dropped        uint64 `json:"messages_dropped"`
	Malformed      uint64 `json:"malformed_frames"`
	Stalls         uint64 `json:"backpressure_stalls"`
	Resyncs        uint64 `json:"resyncs_requested"`
	TooLarge       uint64 `json:"snapshots_too_large"`
	// DeferredControls: control requests that found their worker's ring
	// full (a stuck handler) and waited off the router; ControlBacklog: how
	// many wait now.
	DeferredControls uint64 `json:"controls_deferred"`
	ControlBacklog   int64  `json:"control_backlog"`
	// LateEvents: events for assets already dropped from the engine, ignored.
	LateEvents uint64 `json:"late_events_ignored"`
	// ResyncBackoffs: resync requests held back because their asset was
	// resynced just before; RejectedAssets: assets whose last few snapshots
	// were all rejected (too large for the ring, undecodable), now.
	ResyncBackoffs uint64         `json:"resync_backoffs"`
	RejectedAssets int64          `json:"assets_rejected_repeatedly"`
	StaleResyncs   uint64         `json:"stale_asset_resyncs"`
	MarketNotices  uint64         `json:"market_notices"`
	InboundStalls  int64          `json:"inbound_stalls"`
	InboundBytes   int64          `json:"inbound_bytes"`
	QueueDepths    map[string]int `json:"queue_depths"`
	Latency        Latency        `json:"routing_latency"`
	Policy         string         `json:"backpressure"`
	// From the decoder (refreshed about once a second).
	UnknownEvents      uint64            `json:"unknown_events"`
	UnknownTypes       map[string]uint64 `json:"unknown_event_types,omitempty"`
	LegacyPriceChanges uint64            `json:"legacy_price_changes"`
	MalformedParts     uint64            `json:"malformed_parts"`
}

// Worker is a snapshot of one worker.
type Worker struct {
	Events          uint64    `json:"events_processed"`
	Books           int64     `json:"books"`
	HandlerPanics   uint64    `json:"handler_errors"`
	Invalidations   uint64    `json:"books_invalidated"`
	Divergences     uint64    `json:"best_mismatches"`
	BadLevels       uint64    `json:"bad_levels"`
	CrossedBooks    uint64    `json:"crossed_snapshots"`
	ForeignIgnored  uint64    `json:"foreign_events_ignored"`
	Misaligned      uint64    `json:"migration_misaligned"`
	Migrated        uint64    `json:"assets_migrated"`
	Migration       Migration `json:"migration"`
	QueueDepth      int       `json:"queue_depth"`
	Alive           bool      `json:"alive"`
	Parked          bool      `json:"parked"`
	LastHeartbeatMs float64   `json:"last_heartbeat_ms_ago"`
	Processing      Latency   `json:"processing_latency"`
	EndToEnd        Latency   `json:"end_to_end_latency"`
}

// Migration is a worker's migration counters (engine/migration.go: migCounters).
type Migration struct {
	Held     uint64 `json:"held_back"`
	CaughtUp uint64 `json:"caught_up"`
	Replayed uint64 `json:"held_replayed"`
	Skipped  uint64 `json:"repeats_skipped"`
	Forced   uint64 `json:"forced"`
	Overflow uint64 `json:"forced_over_limit"`
}

// Latency is a latency distribution in milliseconds.
type Latency struct {
	Count  uint64  `json:"count"`
	MeanMs float64 `json:"avg_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p999_ms"`
	MaxMs  float64 `json:"max_ms"`
}

// Summarize reduces a latency histogram (nanoseconds) to its summary.
func Summarize(h *hist.Snapshot) Latency {
	ms := func(ns int64) float64 { return float64(ns) / 1e6 }
	return Latency{
		Count:  h.Count,
		MeanMs: h.Mean() / 1e6,
		P50Ms:  ms(h.Quantile(0.50)),
		P90Ms:  ms(h.Quantile(0.90)),
		P99Ms:  ms(h.Quantile(0.99)),
		P999Ms: ms(h.Quantile(0.999)),
		MaxMs:  ms(h.Max),
	}
}
