package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/polyfeed/polyfeed/engine"
	"github.com/polyfeed/polyfeed/engine/markets"
)

// The control plane's metrics: what the lifecycle refused to believe or took
// back, and what recycling refused to place.
var (
	descSuspect        = mDesc("lifecycle_suspect_listings_total", "Gamma listings that looked cut short: nothing expired on them.")
	descRetracked      = mDesc("lifecycle_retracked_markets_total", "Expired markets listed open again and tracked again.")
	descExpiryDeferred = mDesc("lifecycle_expiries_deferred_total", "Markets past their end date kept for the expiry grace.")
	descAbsent         = mDesc("lifecycle_markets_absent_once", "Live markets the last complete listing missed once.")
	descRefused        = mDesc("pool_recycling_refused_total", "Assets placed elsewhere that a connection being recycled had room for.")
	descClosedInv      = mDesc("pool_closed_connections_invalidated_total", "Connections closed by the pool whose books were invalidated at once.")
)

func describeControl(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSuspect, descRetracked, descExpiryDeferred, descAbsent, descRefused, descClosedInv} {
		ch <- d
	}
}

// collectControl reports the control plane's part of s; a disabled
// lifecycle reports zeros, so the series always exist.
func collectControl(ch chan<- prometheus.Metric, s *engine.Stats) {
	ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(s.Pool.RecyclingRefused))
	ch <- prometheus.MustNewConstMetric(descClosedInv, prometheus.CounterValue, float64(s.Pool.ClosedInvalidated))
	ls, _ := s.Lifecycle.(markets.Stats)
	ch <- prometheus.MustNewConstMetric(descSuspect, prometheus.CounterValue, float64(ls.SuspectListings))
	ch <- prometheus.MustNewConstMetric(descRetracked, prometheus.CounterValue, float64(ls.RetrackedMarkets))
	ch <- prometheus.MustNewConstMetric(descExpiryDeferred, prometheus.CounterValue, float64(ls.ExpiriesDeferred))
	ch <- prometheus.MustNewConstMetric(descAbsent, prometheus.GaugeValue, float64(ls.AbsentOnce))
}
