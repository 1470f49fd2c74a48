package cluster

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestNodeMembership runs three members against one real nats-server: they
// split the listing about evenly, a member that stops hands its markets to
// the others, a member that dies (no more heartbeats) is expired by the
// server, and a member that joins takes its share by make before break.
// Every move touches only the markets of the member that joined or left.
func TestNodeMembership(t *testing.T) {
	d := runNATS(t)
	createStreams(t, d.url(), 1)
	ms := testMarkets(300, 11)
	a := startMember(t, d.url(), "t1", "a", nil)
	b := startMember(t, d.url(), "t1", "b", nil)
	c := startMember(t, d.url(), "t1", "c", nil)
	shareAll(t, ms, a, a, b, c)
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error { return settled([]*member{a, b, c}, ms, 1) })
	for _, m := range []*member{a, b, c} {
		if s := m.node.Stats(); s.Publishing < 60 || s.Publishing > 140 || s.Assets != 2*s.Markets {
			t.Errorf("%s publishes %d of 300 markets (%d assets); want about a third", m.id, s.Publishing, s.Assets)
		}
	}

	// A graceful stop: b's key is deleted, its markets move at once.
	before := publishers([]*member{a, b, c}, ms)
	b.stop()
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error { return settled([]*member{a, c}, ms, 1) })
	onlyMoved(t, before, publishers([]*member{a, c}, ms), "b")

	// A death: c's connection drops, the server expires its key.
	before = publishers([]*member{a, c}, ms)
	c.kill()
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error { return settled([]*member{a}, ms, 1) })
	onlyMoved(t, before, publishers([]*member{a}, ms), "c")
	if s := a.node.Stats(); s.LastLeft == nil || s.LastLeft[0] != "c" || s.Members[0] != "a" || len(s.Members) != 1 {
		t.Errorf("a's stats after c died: members %v, last left %v; want [a] and [c]", s.Members, s.LastLeft)
	}

	// A join: d takes its share; a keeps publishing each until d's book is
	// on the stream, then lets go (no timeouts).
	out0 := a.node.Stats().HandoversOut
	dm := startMember(t, d.url(), "t1", "d", nil)
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error { return settled([]*member{a, dm}, ms, 1) })
	sa, sd := a.node.Stats(), dm.node.Stats()
	if moved := sa.HandoversOut - out0; moved != uint64(sd.Publishing) || moved == 0 {
		t.Errorf("a handed over %d markets; d publishes %d; want equal and non-zero", moved, sd.Publishing)
	}
	if sa.HandoverTimeouts != 0 {
		t.Errorf("a's handovers timed out %d times; want 0 (d's books were published)", sa.HandoverTimeouts)
	}
}

// onlyMoved fails the test if a market changed publisher although it was not
// published by gone before.
func onlyMoved(t *testing.T, before, after map[string]string, gone string) {
	t.Helper()
	moved := 0
	for cid, was := range before {
		if after[cid] != was {
			moved++
			if was != gone {
				t.Errorf("market %s moved from %s to %s; only %s's markets should move", cid, was, after[cid], gone)
			}
		}
	}
	if moved == 0 {
		t.Errorf("no market moved after %s left", gone)
	}
}

// TestNodeReplicas runs three members with two carriers per market: the
// publisher of a market dies and the replica that kept a warm book takes over
// publishing it, with no other market changing publisher.
func TestNodeReplicas(t *testing.T) {
	d := runNATS(t)
	createStreams(t, d.url(), 1)
	ms := testMarkets(200, 12)
	r2 := func(c *Config) { c.Replicas = 2 }
	a := startMember(t, d.url(), "t2", "a", r2)
	b := startMember(t, d.url(), "t2", "b", r2)
	c := startMember(t, d.url(), "t2", "c", r2)
	all := []*member{a, b, c}
	shareAll(t, ms, a, all...)
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error { return settled(all, ms, 2) })
	for _, m := range all {
		if s := m.node.Stats(); s.Replica == 0 || s.Publishing == 0 || s.Markets != s.Replica+s.Publishing {
			t.Errorf("%s: %d markets, %d publishing, %d replica; want both roles", m.id, s.Markets, s.Publishing, s.Replica)
		}
	}
	// Remember who keeps the warm book of each market c publishes.
	replicaOf := map[string]string{}
	for _, mk := range ms {
		if c.node.Role(mk.ConditionID) == RolePublisher {
			for _, m := range []*member{a, b} {
				if m.node.Role(mk.ConditionID) == RoleReplica {
					replicaOf[mk.ConditionID] = m.id
				}
			}
		}
	}
	before := publishers(all, ms)
	in0 := a.node.Stats().HandoversIn + b.node.Stats().HandoversIn
	c.kill()
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error { return settled([]*member{a, b}, ms, 2) })
	after := publishers([]*member{a, b}, ms)
	onlyMoved(t, before, after, "c")
	for cid, rep := range replicaOf {
		if after[cid] != rep {
			t.Errorf("market %s: %s took over; want its replica %s", cid, after[cid], rep)
		}
	}
	if in := a.node.Stats().HandoversIn + b.node.Stats().HandoversIn - in0; in != uint64(len(replicaOf)) {
		t.Errorf("handovers in after c died = %d; want %d (c's markets)", in, len(replicaOf))
	}
	checkStatus(t, d.url(), "t2", []*member{a, b}, len(ms), 2)
	checkMetrics(t, a)
}

// checkMetrics gathers m's collector and compares it with its Stats.
func checkMetrics(t *testing.T, m *member) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m.node.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	s := m.node.Stats()
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, x := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range x.GetLabel() {
				name += "/" + l.GetValue()
			}
			got[name] = x.GetGauge().GetValue() + x.GetCounter().GetValue()
		}
	}
	for name, want := range map[string]float64{
		"polyfeed_cluster_members":                  float64(len(s.Members)),
		"polyfeed_cluster_markets/publisher":        float64(s.Publishing),
		"polyfeed_cluster_markets/replica":          float64(s.Replica),
		"polyfeed_cluster_assets":                   float64(s.Assets),
		"polyfeed_cluster_handovers_in_total":       float64(s.HandoversIn),
		"polyfeed_cluster_membership_changes_total": float64(s.MembershipChanges),
	} {
		if got[name] != want {
			t.Errorf("metric %s = %v; want %v", name, got[name], want)
		}
	}
}

// checkStatus reads the cluster's status from outside and compares it with
// what the members themselves report.
func checkStatus(t *testing.T, url, cluster string, live []*member, markets, replicas int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := ReadStatus(ctx, connect(t, url), cluster)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Members) != len(live) || len(st.Markets) != markets || st.Replicas != replicas || st.Disagree {
		t.Fatalf("status: %d members, %d markets, replicas %d (disagree %v); want %d, %d, %d",
			len(st.Members), len(st.Markets), st.Replicas, st.Disagree, len(live), markets, replicas)
	}
	for i, m := range live {
		s, ms := m.node.Stats(), st.Members[i]
		if ms.ID != m.id || ms.Publishing != s.Publishing || ms.Carrying != s.Markets || ms.Assets != s.Assets {
			t.Errorf("status of %s = %+v; the member reports publishing %d, carrying %d, assets %d",
				m.id, ms, s.Publishing, s.Markets, s.Assets)
		}
	}
	var out strings.Builder
	if err := st.Write(&out, true); err != nil {
		t.Fatal(err)
	}
	head := fmt.Sprintf("cluster %s: %d members, %d markets, replicas %d\n", cluster, len(live), markets, replicas)
	if !strings.HasPrefix(out.String(), head) || strings.Count(out.String(), "\n") != 1+1+len(live)+2+markets {
		t.Errorf("status output:\n%s\nwant it to start with %q and list every member and market", out.String(), head)
	}
}

// TestNodeDrain hands every market of a draining member over before it
// leaves: each is published until the new publisher's book is on the stream.
func TestNodeDrain(t *testing.T) {
	d := runNATS(t)
	createStreams(t, d.url(), 1)
	ms := testMarkets(150, 13)
	a := startMember(t, d.url(), "t3", "a", nil)
	b := startMember(t, d.url(), "t3", "b", nil)
	c := startMember(t, d.url(), "t3", "c", nil)
	shareAll(t, ms, a, a, b, c)
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error { return settled([]*member{a, b, c}, ms, 1) })
	s0 := a.node.Stats()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.node.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	s := a.node.Stats()
	if s.Markets != 0 || s.HandoverTimeouts != 0 || s.HandoversOut-s0.HandoversOut != uint64(s0.Publishing) {
		t.Errorf("after Drain a carries %d markets, handed over %d of %d, %d timeouts; want 0, all, 0",
			s.Markets, s.HandoversOut-s0.HandoversOut, s0.Publishing, s.HandoverTimeouts)
	}
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error { return settled([]*member{b, c}, ms, 1) })
}

// TestNodeNATSOutage stops the only nats-server for a while and starts it
// again on the same port and store: the members keep every market while it
// is away (frozen), and when it returns they agree again without moving a
// single market (no fight, no flap), each market published exactly once.
func TestNodeNATSOutage(t *testing.T) {
	outage := 10 * time.Second
	if testing.Short() {
		outage = 1500 * time.Millisecond
	}
	d := runNATS(t)
	createStreams(t, d.url(), 1)
	ms := testMarkets(200, 14)
	// c reconnects up to a second after the others, and the reconnect hold
	// (2 s) is above any member's reconnect. (Taking the hold away does not
	// fail this test on one server: the settle delay and the old heartbeats
	// the server keeps until they expire cover it too.)
	hold := func(c *Config) { c.ReconnectHold = 2 * time.Second }
	a := startMember(t, d.url(), "t4", "a", hold)
	b := startMember(t, d.url(), "t4", "b", hold)
	c := startMemberOn(t, connectWait(t, d.url(), time.Second), "t4", "c", hold)
	all := []*member{a, b, c}
	shareAll(t, ms, a, all...)
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error { return settled(all, ms, 1) })
	before := publishers(all, ms)
	changes := map[string]uint64{}
	for _, m := range all {
		changes[m.id] = m.node.Stats().MembershipChanges
	}

	d.shutdown()
	checkFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		for _, m := range all {
			if !m.node.Stats().Frozen {
				return fmt.Errorf("%s not frozen", m.id)
			}
		}
		return nil
	})
	<-time.After(outage) // the outage itself, not an assertion
	if got := publishers(all, ms); !maps.Equal(got, before) {
		t.Errorf("markets moved while NATS was away")
	}
	d.start()
	checkFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		for _, m := range all {
			if s := m.node.Stats(); s.Frozen || s.Heartbeats == 0 {
				return fmt.Errorf("%s still frozen", m.id)
			}
		}
		return settled(all, ms, 1)
	})
	// Past the reconnect hold and a few settle periods, nothing has moved.
	<-time.After(2*time.Second + 10*testConfig("", "").Settle)
	if err := settled(all, ms, 1); err != nil {
		t.Fatal(err)
	}
	if got := publishers(all, ms); !maps.Equal(got, before) {
		t.Errorf("markets changed publisher across the outage")
	}
	for _, m := range all {
		if s := m.node.Stats(); s.MembershipChanges != changes[m.id] || s.Freezes == 0 {
			t.Errorf("%s: %d membership changes across the outage (%d freezes); want none and at least one freeze",
				m.id, s.MembershipChanges-changes[m.id], s.Freezes)
		}
	}
}

// TestNodeLastDrain drains the only member: nobody can take its markets, so
// it lets go at once instead of waiting for handover timeouts.
func TestNodeLastDrain(t *testing.T) {
	d := runNATS(t)
	ms := testMarkets(20, 20)
	a := startMember(t, d.url(), "t9", "a", func(c *Config) { c.HandoverTimeout = time.Minute })
	shareAll(t, ms, a, a)
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error { return settled([]*member{a}, ms, 1) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.node.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if s := a.node.Stats(); s.Markets != 0 || s.HandoverTimeouts != 0 {
		t.Errorf("after the last member drained: %d markets, %d timeouts; want 0 and 0", s.Markets, s.HandoverTimeouts)
	}
}
