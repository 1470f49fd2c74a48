package cluster

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// TestNodeSettle writes a member that comes and goes faster than Settle, a
// few times: nobody acts on it. A real join afterwards is one change.
func TestNodeSettle(t *testing.T) {
	d := runNATS(t)
	createStreams(t, d.url(), 1)
	ms := testMarkets(100, 16)
	// A settle delay far above the flapping's few milliseconds, so a loaded
	// machine cannot stretch the flapping past it.
	slow := func(c *Config) { c.Settle = time.Second }
	a := startMember(t, d.url(), "t6", "a", slow)
	b := startMember(t, d.url(), "t6", "b", slow)
	shareAll(t, ms, a, a, b)
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error { return settled([]*member{a, b}, ms, 1) })
	before := publishers([]*member{a, b}, ms)
	c0 := a.node.Stats().MembershipChanges

	kv := a.node.members.kv
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ghost, _ := json.Marshal(heartbeat{ID: "ghost", Nonce: "1", Replicas: 1})
	for range 5 {
		if _, err := kv.Put(ctx, "ghost", ghost); err != nil {
			t.Fatal(err)
		}
		if err := kv.Delete(ctx, "ghost"); err != nil {
			t.Fatal(err)
		}
	}
	c := startMember(t, d.url(), "t6", "c", slow)
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error { return settled([]*member{a, b, c}, ms, 1) })
	s := a.node.Stats()
	if s.MembershipChanges != c0+1 || len(s.LastJoined) != 1 || s.LastJoined[0] != "c" {
		t.Errorf("a: %d membership changes, last joined %v; want 1 and [c]", s.MembershipChanges-c0, s.LastJoined)
	}
	for cid, p := range publishers([]*member{a, b, c}, ms) {
		if p != before[cid] && p != "c" {
			t.Errorf("market %s moved from %s to %s; only to the joiner c", cid, before[cid], p)
		}
	}
}

// TestNodeIDConflict runs two processes with one member id: they are told.
// A member restarted under its id, its old key not yet expired, is not.
func TestNodeIDConflict(t *testing.T) {
	d := runNATS(t)
	a := startMember(t, d.url(), "t7", "a", nil)
	old := a.node.members.self
	a.stop()
	// The previous run's heartbeat is still in the bucket (not expired).
	kv := a.node.members.kv
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, _ := json.Marshal(old)
	if _, err := kv.Put(ctx, "a", v); err != nil {
		t.Fatal(err)
	}
	a2 := startMember(t, d.url(), "t7", "a", nil)
	checkFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if a2.node.Stats().Heartbeats < 3 {
			return errNotYet
		}
		return nil
	})
	if n := a2.node.Stats().IDConflicts; n != 0 {
		t.Errorf("a restarted over its own old key: %d conflicts; want 0", n)
	}
	twin := startMember(t, d.url(), "t7", "a", nil)
	checkFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if a2.node.Stats().IDConflicts == 0 || twin.node.Stats().IDConflicts == 0 {
			return errNotYet
		}
		return nil
	})
}

func TestNodeLookupsDoNotAllocate(t *testing.T) {
	n, err := New(connect(t, runNATS(t).url()), testConfig("t8", "a"))
	if err != nil {
		t.Fatal(err)
	}
	cid := conditionIDs(1, 17)[0]
	if allocs := testing.AllocsPerRun(100, func() {
		_ = n.Publishes(cid)
		_ = n.Owns(cid)
		_ = n.Gen()
	}); allocs != 0 {
		t.Errorf("Publishes/Owns/Gen allocate %.0f times; want 0", allocs)
	}
	if !n.Publishes(cid) {
		t.Error("a node alone publishes nothing before Start; want everything")
	}
}

func TestConfigRejects(t *testing.T) {
	for _, c := range []Config{
		{Cluster: ""}, {Cluster: "a.b"}, {Cluster: "x", ID: "a b"}, {Cluster: "x", ID: ".a"},
		{Cluster: "x", Replicas: -1}, {Cluster: "x", Heartbeat: time.Second, Expiry: time.Second},
		{Cluster: "x", Prefix: "a.b"}, {Cluster: "x", StorageReplicas: 7},
	} {
		if err := c.fill(); err == nil {
			t.Errorf("Config %+v accepted", c)
		}
	}
	c := Config{Cluster: "x"}
	if err := c.fill(); err != nil || c.ID == "" || c.ReconnectHold != 4*time.Second || c.Expiry != 3*time.Second {
		t.Errorf("defaults: %+v, %v", c, err)
	}
}

// ownership is the interface the package doc proposes for the engine;
// *Node must keep satisfying it.
type ownership interface {
	Owns(conditionID string) bool
	Publishes(conditionID string) bool
	Gen() uint64
	Changes() <-chan struct{}
}

var _ ownership = (*Node)(nil)
