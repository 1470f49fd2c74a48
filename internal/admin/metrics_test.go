package admin_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/polyfeed/polyfeed/internal/admin"
)

// prometheusRegistry is a real registry holding one counter at 3.
func prometheusRegistry(t *testing.T) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "polyfeed_test_events_total", Help: "Events seen by the test."})
	reg.MustRegister(c)
	c.Add(3)
	return reg
}

func TestMetrics(t *testing.T) {
	h := start(t, admin.Config{Gatherer: prometheusRegistry(t)})
	r := h.get("/metrics")
	if r.status != http.StatusOK {
		t.Fatalf("GET /metrics = %d; want 200 (%s)", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q; want the text exposition format", ct)
	}
	body := string(r.body)
	for _, want := range []string{"# HELP polyfeed_test_events_total Events seen by the test.", "\npolyfeed_test_events_total 3\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /metrics lacks %q:\n%s", want, body)
		}
	}
}

// brokenCollector fails every collection, as a collector reading a dead source would.
type brokenCollector struct{ desc *prometheus.Desc }

func (b brokenCollector) Describe(ch chan<- *prometheus.Desc) { ch <- b.desc }
func (b brokenCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.NewInvalidMetric(b.desc, errors.New("source unavailable"))
}

// One failing collector does not hide the others; the failure is logged.
func TestMetricsContinueOnError(t *testing.T) {
	reg := prometheusRegistry(t)
	reg.MustRegister(brokenCollector{prometheus.NewDesc("polyfeed_test_broken", "Always fails.", nil, nil)})
	h := start(t, admin.Config{Gatherer: reg})
	r := h.get("/metrics")
	if r.status != http.StatusOK || !strings.Contains(string(r.body), "\npolyfeed_test_events_total 3\n") {
		t.Fatalf("GET /metrics with a broken collector = %d:\n%s\nwant 200 with the healthy counter", r.status, r.body)
	}
	recs := h.logs.records(t, "cannot gather metrics")
	if len(recs) != 1 || !strings.Contains(recs[0]["err"].(string), "source unavailable") {
		t.Errorf("logged %v; want one record naming the collector's error", recs)
	}
}
