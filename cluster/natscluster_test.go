package cluster

import (
	"fmt"
	"testing"
	"time"
)

// TestNodeNATSClusterNodeLoss runs three members on a 3-node NATS cluster
// (routes on loopback, JetStream, buckets and streams replicated R3), each
// member connected to a different node and knowing all three. The node that
// leads the members bucket is shut down mid-run: the members fail over to
// the other nodes, keep agreeing, and end with every market published
// exactly once; a member joining afterwards takes its share as usual.
func TestNodeNATSClusterNodeLoss(t *testing.T) {
	t0 := time.Now()
	ds := runNATSCluster(t, 3)
	createStreams(t, urls(ds), 3)
	t.Logf("cluster up in %v", time.Since(t0))
	ms := testMarkets(200, 15)
	r3 := func(c *Config) {
		c.StorageReplicas = 3
		// A raft election after losing a leader takes up to a few seconds;
		// an expiry shorter than that would expire members whose writes
		// were only waiting for the new leader.
		c.Heartbeat = 250 * time.Millisecond
		c.Expiry = 3 * time.Second
	}
	var all []*member
	for i, id := range []string{"a", "b", "c"} {
		// Each member starts on its own node; the URL list lets it fail over.
		u := ds[i].url() + "," + urls(ds)
		all = append(all, startMember(t, u, "t5", id, r3))
	}
	shareAll(t, ms, all[0], all...)
	checkFor(t, 20*time.Second, 50*time.Millisecond, func() error { return settled(all, ms, 1) })
	before := publishers(all, ms)
	t.Logf("members settled at %v", time.Since(t0))
	logStats(t, all)

	leader := -1
	for i, d := range ds {
		if d.s.JetStreamIsStreamLeader("$G", "KV_"+membersBucket("t5")) {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatal("no node leads the members bucket")
	}
	ds[leader].shutdown()
	t.Logf("shut down n%d, the members bucket's leader", leader)

	// The surviving nodes elect a new leader; heartbeats resume through it.
	h0 := map[string]uint64{}
	for _, m := range all {
		h0[m.id] = m.node.Stats().Heartbeats
	}
	checkFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		for _, m := range all {
			if s := m.node.Stats(); s.Heartbeats < h0[m.id]+3 || s.Frozen {
				return fmt.Errorf("%s: %d heartbeats since, frozen %v", m.id, s.Heartbeats-h0[m.id], s.Frozen)
			}
		}
		return settled(all, ms, 1)
	})
	t.Logf("failed over and settled at %v", time.Since(t0))
	moved := 0
	for cid, p := range publishers(all, ms) {
		if before[cid] != p {
			moved++
		}
	}
	if moved > 0 {
		t.Errorf("%d markets changed publisher although no member left", moved)
	}

	// Assignment goes on with two NATS nodes: a fourth member joins.
	var alive string
	for i, d := range ds {
		if i != leader {
			alive += d.url() + ","
		}
	}
	dm := startMember(t, alive, "t5", "d", r3)
	t.Logf("d started at %v", time.Since(t0))
	all = append(all, dm)
	checkFor(t, 30*time.Second, 50*time.Millisecond, func() error { return settled(all, ms, 1) })
	t.Logf("d joined and settled at %v", time.Since(t0))
	logStats(t, all)
	if s := dm.node.Stats(); s.Publishing == 0 {
		t.Errorf("d publishes nothing after joining")
	}
}

func logStats(t *testing.T, all []*member) {
	t.Helper()
	for _, m := range all {
		s := m.node.Stats()
		t.Logf("%s: members %v publishing %d, handovers in %d out %d (timeouts %d, max %d ms), restarts %d, freezes %d, watch resets %d, heartbeat errors %d",
			m.id, s.Members, s.Publishing, s.HandoversIn, s.HandoversOut, s.HandoverTimeouts, s.HandoverMaxMs,
			s.EpochRestarts, s.Freezes, s.WatchResets, s.HeartbeatErrors)
	}
}
