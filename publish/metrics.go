package publish

import "github.com/prometheus/client_golang/prometheus"

// Collector exposes Stats as Prometheus metrics (polyfeed_publish_*).
func (p *Publisher) Collector() prometheus.Collector { return collector{p} }

type collector struct{ p *Publisher }

func desc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("polyfeed_publish_"+name, help, nil, nil)
}

var (
	descQueued     = desc("queued_total", "Messages handed to the NATS senders.")
	descPublished  = desc("published_total", "Messages acknowledged by JetStream.")
	descDropped    = desc("dropped_total", "Messages never stored: queue full, NATS unreachable, publish or ack failure.")
	descProbes     = desc("probes_total", "Messages published again to ask for their batch's acknowledgement.")
	descAckRetries = desc("ack_retries_total", "Acknowledgement probes sent again: a clustered stream was still replicating the message.")
	descPending    = desc("pending_acks", "Messages published and not yet acknowledged.")
	descQueueDepth = desc("queue_depth", "Messages waiting for a sender.")
	descStale      = desc("stale_notices_total", "Status stale messages published.")
	descBooks      = desc("books_total", "Book messages published.")
	descClosed     = desc("closed_assets_total", "Assets closed (last message published).")
	descYielded    = desc("yielded_assets_total", "Assets left to a publisher with a higher epoch.")
	descConnected  = desc("nats_connected", "1 when the NATS client is connected.")
	descReady      = desc("ready", "1 when connected and the streams exist.")
	descReconnects = desc("nats_reconnects_total", "NATS reconnections.")
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueued, descPublished, descDropped, descProbes, descAckRetries, descPending, descQueueDepth,
		descStale, descBooks, descClosed, descYielded, descConnected, descReady, descReconnects} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.p.Stats()
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter(descQueued, s.Queued)
	counter(descPublished, s.Published)
	counter(descDropped, s.Dropped)
	counter(descProbes, s.Probes)
	counter(descAckRetries, s.AckRetries)
	gauge(descPending, float64(s.PendingAcks))
	gauge(descQueueDepth, float64(s.QueueDepth))
	counter(descStale, s.StaleNotices)
	counter(descBooks, s.Books)
	counter(descClosed, s.Closed)
	counter(descYielded, s.Yielded)
	gauge(descConnected, b2f(s.Connection == "CONNECTED"))
	gauge(descReady, b2f(s.Ready))
	counter(descReconnects, s.Reconnects)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
