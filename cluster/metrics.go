package cluster

import "github.com/prometheus/client_golang/prometheus"

// Collector exposes Stats to Prometheus, read at scrape time (one walk of the
// shared listing per scrape). Register it beside the engine's:
// reg.MustRegister(node.Collector()).
func (n *Node) Collector() prometheus.Collector { return &collector{n: n} }

type collector struct{ n *Node }

var (
	cDesc = func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("polyfeed_cluster_"+name, help, labels, nil)
	}
	descMembers      = cDesc("members", "Members in the assignment this instance uses.")
	descLeaving      = cDesc("members_leaving", "Members draining.")
	descMarkets      = cDesc("markets", "Markets this instance carries, by role.", "role")
	descAssetsC      = cDesc("assets", "Assets of the markets this instance carries.")
	descPubAssets    = cDesc("publishing_assets", "Assets this instance publishes (releasing included).")
	descListed       = cDesc("listed_markets", "Markets in the shared listing.")
	descHandIn       = cDesc("handovers_in_total", "Markets this instance started publishing after a change.")
	descHandOut      = cDesc("handovers_out_total", "Markets this instance stopped publishing after a handover.")
	descHandTimeouts = cDesc("handover_timeouts_total", "Handovers ended by timeout, without the new publisher's book.")
	descRestarts     = cDesc("epoch_restarts_total", "Assets whose epoch was raised over a handing-over member's.")
	descChanges      = cDesc("membership_changes_total", "Member-set changes acted on.")
	descLastChange   = cDesc("last_membership_change_timestamp_seconds", "When the last member-set change was acted on.")
	descFrozen       = cDesc("frozen", "1 while NATS is unreachable and the assignment is held.")
	descFreezes      = cDesc("freezes_total", "Times the assignment was frozen.")
	descBeats        = cDesc("heartbeats_total", "Heartbeats written.")
	descBeatErrs     = cDesc("heartbeat_errors_total", "Heartbeats that could not be written.")
	descConflicts    = cDesc("id_conflicts_total", "Heartbeats from another process under this member id.")
	descBad          = cDesc("bad_values_total", "Malformed heartbeats, listing entries or claims, ignored.")
	descResets       = cDesc("watch_resets_total", "Member watches found behind the bucket and restarted.")
	allDescs         = []*prometheus.Desc{descMembers, descLeaving, descMarkets, descAssetsC, descPubAssets,
		descListed, descHandIn, descHandOut, descHandTimeouts, descRestarts, descChanges, descLastChange,
		descFrozen, descFreezes, descBeats, descBeatErrs, descConflicts, descBad, descResets}
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.n.Stats()
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge(descMembers, float64(len(s.Members)))
	gauge(descLeaving, float64(len(s.Leaving)))
	gauge(descMarkets, float64(s.Publishing), "publisher")
	gauge(descMarkets, float64(s.Replica), "replica")
	gauge(descMarkets, float64(s.Releasing), "releasing")
	gauge(descAssetsC, float64(s.Assets))
	gauge(descPubAssets, float64(s.PublishingAssets))
	gauge(descListed, float64(s.ListedMarkets))
	counter(descHandIn, s.HandoversIn)
	counter(descHandOut, s.HandoversOut)
	counter(descHandTimeouts, s.HandoverTimeouts)
	counter(descRestarts, s.EpochRestarts)
	counter(descChanges, s.MembershipChanges)
	last := 0.0
	if !s.LastChange.IsZero() {
		last = float64(s.LastChange.UnixMilli()) / 1e3
	}
	gauge(descLastChange, last)
	frozen := 0.0
	if s.Frozen {
		frozen = 1
	}
	gauge(descFrozen, frozen)
	counter(descFreezes, s.Freezes)
	counter(descBeats, s.Heartbeats)
	counter(descBeatErrs, s.HeartbeatErrors)
	counter(descConflicts, s.IDConflicts)
	counter(descBad, s.BadValues)
	counter(descResets, s.WatchResets)
}
