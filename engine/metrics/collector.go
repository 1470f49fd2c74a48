// Package metrics exposes an engine's counters and latency histograms to
// Prometheus. It reads the engine's public snapshots (App.Stats, App.Healthy,
// App.Latencies) at scrape time only, so the hot path pays nothing for
// metrics, and the engine does not depend on Prometheus.
//
// Usage:
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(metrics.NewCollector(app))
//
// Concurrency: a Collector may be collected from any number of goroutines at
// once, at any time in the App's life (before Start and after Stop too).
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/polyfeed/polyfeed/engine"
	"github.com/polyfeed/polyfeed/internal/hist"
)

// NewCollector returns a Prometheus collector of app's metrics.
func NewCollector(app *engine.App) prometheus.Collector { return &collector{a: app} }

type collector struct{ a *engine.App }

var (
	mDesc = func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("polyfeed_"+name, help, labels, nil)
	}
	descUp           = mDesc("up", "1 while the engine runs.")
	descHealthy      = mDesc("healthy", "1 while Healthy() holds.")
	descAssets       = mDesc("registry_assets", "Assets in the registry by state.", "state")
	descConns        = mDesc("pool_connections", "Connections in the pool by status.", "status")
	descConnMsgs     = mDesc("connection_messages_total", "Data frames received, all connections.")
	descConnBytes    = mDesc("connection_bytes_total", "Bytes received, all connections.")
	descReconnects   = mDesc("connection_reconnects_total", "Reconnects, all connections.")
	descRouterFrames = mDesc("router_frames_total", "Frames decoded by the router.")
	descRouted       = mDesc("router_events_routed_total", "Per-asset events staged to workers.")
	descDropped      = mDesc("router_events_dropped_total", "Events dropped under backpressure.")
	descMalformed    = mDesc("router_malformed_frames_total", "Frames with a decoding error (good parts kept).")
	descStalls       = mDesc("router_backpressure_stalls_total", "Times the router waited for ring room.")
	descResyncs      = mDesc("router_resyncs_requested_total", "Assets for which a fresh snapshot was requested.")
	descBackoffs     = mDesc("router_resync_backoffs_total", "Resync requests held back by their asset's backoff.")
	descRejected     = mDesc("router_assets_rejected_repeatedly", "Assets whose last few snapshots were all rejected.")
	descDeferred     = mDesc("router_controls_deferred_total", "Control requests deferred because their worker's ring was full.")
	descStuck        = mDesc("workers_stuck", "Workers with queued work and no progress for StuckAfter.")
	descInbound      = mDesc("router_inbound_queue_frames", "Frames waiting in the router's inbound queue.")
	descRingDepth    = mDesc("worker_queue_depth", "Items waiting in a worker's ring.", "worker")
	descWorkerEvents = mDesc("worker_events_total", "Events applied and handed to the handler.", "worker")
	descBooks        = mDesc("worker_books", "Books owned by a worker.", "worker")
	descPanics       = mDesc("worker_handler_panics_total", "Handler panics recovered.", "worker")
	descInvalid      = mDesc("worker_books_invalidated_total", "Books invalidated (drop or divergence).", "worker")
	descDiverged     = mDesc("worker_best_mismatches_total", "price_change best bid/ask disagreed with the book.", "worker")
	descRouteLat     = mDesc("routing_latency_seconds", "Frame received to events staged in worker rings.")
	descProcLat      = mDesc("processing_latency_seconds", "Event staged to handler done.")
	descE2ELat       = mDesc("end_to_end_latency_seconds", "Frame received to handler done.")
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descHealthy, descAssets, descConns, descConnMsgs, descConnBytes,
		descReconnects, descRouterFrames, descRouted, descDropped, descMalformed, descStalls, descResyncs,
		descBackoffs, descRejected, descDeferred, descStuck, descInbound, descRingDepth, descWorkerEvents, descBooks, descPanics, descInvalid, descDiverged,
		descRouteLat, descProcLat, descE2ELat} {
		ch <- d
	}
	describeControl(ch)
}

// inboundQueue is the key of the router's inbound queue in
// RouterStats.QueueDepths (the others are the workers' rings).
const inboundQueue = "async_queue"

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	s := c.a.Stats()
	gauge(descUp, b2f(s.Running))
	ok, _ := c.a.Healthy()
	gauge(descHealthy, b2f(ok))

	gauge(descAssets, float64(s.Registry.Pending), "pending")
	gauge(descAssets, float64(s.Registry.Subscribed), "subscribed")
	gauge(descAssets, float64(s.Registry.Expired), "expired")

	byStatus := map[string]int{}
	var msgs, bytes, reconnects uint64
	for _, conn := range s.Pool.Connections {
		byStatus[conn.Status]++
		msgs += conn.MessagesReceived
		bytes += conn.BytesReceived
		reconnects += conn.Reconnects
	}
	for st, n := range byStatus {
		gauge(descConns, float64(n), st)
	}
	counter(descConnMsgs, float64(msgs))
	counter(descConnBytes, float64(bytes))
	counter(descReconnects, float64(reconnects))

	r := s.Router
	counter(descRouterFrames, float64(r.Frames))
	counter(descRouted, float64(r.MessagesRouted))
	counter(descDropped, float64(r.Dropped))
	counter(descMalformed, float64(r.Malformed))
	counter(descStalls, float64(r.Stalls))
	counter(descResyncs, float64(r.Resyncs))
	counter(descBackoffs, float64(r.ResyncBackoffs))
	gauge(descRejected, float64(r.RejectedAssets))
	counter(descDeferred, float64(r.DeferredControls))
	gauge(descStuck, float64(len(s.Workers.Stuck)))
	gauge(descInbound, float64(r.QueueDepths[inboundQueue]))

	for name, w := range s.Workers.WorkerStats {
		gauge(descRingDepth, float64(w.QueueDepth), name)
		counter(descWorkerEvents, float64(w.Events), name)
		gauge(descBooks, float64(w.Books), name)
		counter(descPanics, float64(w.HandlerPanics), name)
		counter(descInvalid, float64(w.Invalidations), name)
		counter(descDiverged, float64(w.Divergences), name)
	}

	lat := c.a.Latencies()
	ch <- constHistogram(descRouteLat, &lat.Routing)
	var proc, e2e hist.Snapshot
	for i := range lat.Processing {
		proc.Merge(&lat.Processing[i])
		e2e.Merge(&lat.EndToEnd[i])
	}
	ch <- constHistogram(descProcLat, &proc)
	ch <- constHistogram(descE2ELat, &e2e)
	collectControl(ch, &s)
}

// constHistogram converts a latency snapshot (ns) into a Prometheus
// histogram in seconds, one bucket per non-empty hist bucket.
func constHistogram(d *prometheus.Desc, s *hist.Snapshot) prometheus.Metric {
	buckets := map[float64]uint64{}
	s.Buckets(func(upper int64, cum uint64) { buckets[float64(upper)/1e9] = cum })
	return prometheus.MustNewConstHistogram(d, s.Count, float64(s.Sum)/1e9, buckets)
}
