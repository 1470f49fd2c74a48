package cluster

import (
	"slices"
	"testing"
	"time"
)

// TestNodeFailoverTiming measures, with the default timings (heartbeat 1 s,
// expiry 3 s, settle 500 ms), the time from killing a member to the first
// book of each of its assets from the new publisher. It asserts only that
// every one of them moved within the 10 s; the distribution is
// logged for docs/CLUSTER.md. The stand-in publisher publishes at once, so
// this excludes the venue snapshot a real new owner waits for.
func TestNodeFailoverTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("takes the default expiry; run without -short")
	}
	d := runNATS(t)
	createStreams(t, d.url(), 1)
	ms := testMarkets(600, 18)
	a := startMember(t, d.url(), "", "a", nil)
	b := startMember(t, d.url(), "", "b", nil)
	c := startMember(t, d.url(), "", "c", nil)
	all := []*member{a, b, c}
	shareAll(t, ms, a, all...)
	checkFor(t, 30*time.Second, 50*time.Millisecond, func() error { return settled(all, ms, 1) })
	var moved []string // assets c published
	for _, mk := range ms {
		if c.node.Publishes(mk.ConditionID) {
			moved = append(moved, mk.AssetIDs...)
		}
	}
	killed := time.Now()
	c.kill()
	checkFor(t, 10*time.Second, 50*time.Millisecond, func() error { return settled([]*member{a, b}, ms, 1) })
	var took []time.Duration
	for _, asset := range moved {
		for _, m := range []*member{a, b} {
			m.mu.Lock()
			at, ok := m.booked[asset]
			m.mu.Unlock()
			if ok && at.After(killed) {
				took = append(took, at.Sub(killed))
			}
		}
	}
	if len(took) != len(moved) {
		t.Fatalf("%d of %d moved assets got a new book", len(took), len(moved))
	}
	slices.Sort(took)
	p := func(q float64) time.Duration { return took[int(q*float64(len(took)-1))] }
	t.Logf("kill -> new publisher's first book, %d assets: p50 %v, p99 %v, max %v",
		len(took), p(0.5).Round(time.Millisecond), p(0.99).Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
	if took[len(took)-1] > 10*time.Second {
		t.Errorf("an asset took %v to move; want under 10 s", took[len(took)-1])
	}
}
