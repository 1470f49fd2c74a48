package metrics_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/engine"
	"github.com/polyfeed/polyfeed/engine/enginetest"
	"github.com/polyfeed/polyfeed/engine/markets"
	"github.com/polyfeed/polyfeed/engine/metrics"
	"github.com/polyfeed/polyfeed/internal/poll"
	"github.com/polyfeed/polyfeed/internal/sim"
	"github.com/polyfeed/polyfeed/internal/testrig"
)

// TestCollectorFollowsTheEngine scrapes an engine fed by the simulator: the
// registry passes Prometheus' own consistency checks (every metric described,
// no duplicate series), and the counters and histograms move with the
// engine's Stats, with one series per worker.
func TestCollectorFollowsTheEngine(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	s := testrig.Sim(t, sim.Config{Seed: 7, Markets: 20, Rate: 1000})
	cfg := enginetest.Loopback(s.WSURL(), s.GammaURL())
	cfg.Workers, cfg.DisableRecycling = 3, true
	cfg.Lifecycle = markets.Config{DiscoveryInterval: 200 * time.Millisecond}
	a, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(metrics.NewCollector(a))

	// Before Start: the series exist, the engine is down.
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP polyfeed_up 1 while the engine runs.
# TYPE polyfeed_up gauge
polyfeed_up 0
`), "polyfeed_up"); err != nil {
		t.Fatal(err)
	}

	testrig.Start(t, "engine", a)
	ids := testrig.LiveAssets(s)
	poll.For(t, 30*time.Second, 50*time.Millisecond, func() error {
		st := a.Stats()
		if st.Router.MessagesRouted < 1000 || st.Registry.Subscribed < len(ids) {
			return fmt.Errorf("%d events routed, %d of %d assets subscribed", st.Router.MessagesRouted, st.Registry.Subscribed, len(ids))
		}
		return nil
	})
	if n, err := testutil.GatherAndCount(reg); err != nil || n == 0 {
		t.Fatalf("gather: %d series, %v", n, err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if got := sample(fams, "polyfeed_up"); got != 1 {
		t.Fatalf("polyfeed_up = %v; want 1", got)
	}
	byName := map[string]int{}
	for _, f := range fams {
		byName[f.GetName()] = len(f.GetMetric())
	}
	if byName["polyfeed_worker_events_total"] != 3 {
		t.Errorf("%d worker event series; want one per worker (3)", byName["polyfeed_worker_events_total"])
	}
	st := a.Stats()
	routed := sample(fams, "polyfeed_router_events_routed_total")
	if routed == 0 || routed < float64(st.Router.MessagesRouted)*0.5 {
		t.Errorf("routed = %v; Stats says %d", routed, st.Router.MessagesRouted)
	}
	for _, name := range []string{"polyfeed_routing_latency_seconds", "polyfeed_processing_latency_seconds", "polyfeed_end_to_end_latency_seconds"} {
		if h := histCount(fams, name); h == 0 {
			t.Errorf("%s has no observations", name)
		}
	}
	if got := sample(fams, "polyfeed_registry_assets", "state", "subscribed"); got < float64(len(ids)) {
		t.Errorf("subscribed assets = %v; want >= %d", got, len(ids))
	}
	for _, name := range []string{"polyfeed_lifecycle_suspect_listings_total", "polyfeed_pool_recycling_refused_total"} {
		if _, ok := byName[name]; !ok {
			t.Errorf("%s missing", name)
		}
	}
}

// sample sums the named metric's samples whose labels include the given
// name/value pairs.
func sample(fams []*dto.MetricFamily, name string, labels ...string) float64 {
	var sum float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// histCount is the named histogram's observation count.
func histCount(fams []*dto.MetricFamily, name string) uint64 {
	for _, f := range fams {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return 0
}
