package natsd

import "github.com/prometheus/client_golang/prometheus"

// Collector exposes Stats as Prometheus metrics (polyfeed_nats_*).
func (s *Server) Collector() prometheus.Collector { return collector{s} }

type collector struct{ s *Server }

var (
	descDown     = prometheus.NewDesc("polyfeed_nats_jetstream_down", "1 while the embedded server's JetStream cannot store (a full disk); it is restarted once there is room.", nil, nil)
	descOutages  = prometheus.NewDesc("polyfeed_nats_jetstream_outages_total", "Times the embedded server's JetStream stopped storing.", nil, nil)
	descRestarts = prometheus.NewDesc("polyfeed_nats_jetstream_restarts_total", "Times JetStream was restarted after such an outage.", nil, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descDown
	ch <- descOutages
	ch <- descRestarts
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	down := 0.0
	if st.JetStreamDown {
		down = 1
	}
	ch <- prometheus.MustNewConstMetric(descDown, prometheus.GaugeValue, down)
	ch <- prometheus.MustNewConstMetric(descOutages, prometheus.CounterValue, float64(st.JetStreamOutages))
	ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(st.JetStreamRestarts))
}
