package cluster

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestMovedAboveOurs: a member that stops publishing says `stale` "moved"
// under its epoch. When that epoch is above ours and the market is ours,
// our publisher had yielded to it, and nobody would publish the asset: the
// asset restarts above it, once. A lower epoch's moved (the usual end of a
// handover to us), a market we do not publish, and malformed statuses
// change nothing.
func TestMovedAboveOurs(t *testing.T) {
	r := newHandoverRig(t)
	cs := newClaims(r.nc, r.hs.cfg, func() {}, func(string, map[string]uint64) {})
	ms := newMoves(r.nc, r.hs.cfg, cs, func() {})
	if err := ms.subscribe(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ms.unsubscribe)
	ours := &view{assign: NewAssignment([]string{"a"}, 1), self: "a"}
	theirs := &view{assign: NewAssignment([]string{"b"}, 1), self: "a"}
	r.pub.set("A", 400)
	r.pub.set("B", 400)
	r.pub.set("C", 400)
	send := func(asset, market string, epoch uint64, state, reason string) {
		b := fmt.Sprintf(`{"v":1,"type":"status","asset_id":%q,"market":%q,"epoch":%d,"seq":9,"ts_ms":1,"state":%q,"reason":%q}`,
			asset, market, epoch, state, reason)
		if err := r.nc.Publish("polyfeed.v1.status."+asset, []byte(b)); err != nil {
			t.Fatal(err)
		}
	}
	send("A", "M1", 300, "stale", "moved") // below ours: the handover to us
	send("B", "M2", 500, "stale", "events lost")
	send("C", "M3", 500, "stale", "moved") // above ours, on a market that is not ours yet
	send("A", "M1", 500, "stale", "moved") // above ours: restart above 500
	send("A", "M1", 500, "stale", "moved") // the same again: one restart
	if err := r.nc.Publish("polyfeed.v1.status.A", []byte(`{"reason":"moved"`)); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		ms.mu.Lock()
		defer ms.mu.Unlock()
		if len(ms.pending) != 2 || ms.pending["A"].epoch != 500 {
			return fmt.Errorf("pending %v; want A at 500 and C", ms.pending)
		}
		return nil
	})
	ms.resolve(theirs, time.Now()) // none is ours in this view: kept
	if len(r.pub.restarts) != 0 {
		t.Fatalf("restarts %v in a view where nothing is ours", r.pub.restarts)
	}
	ms.resolve(ours, time.Now())
	if !slices.Equal(r.pub.restarts, []uint64{500, 500}) {
		t.Fatalf("restarts %v; want one above 500 for A and one for C", r.pub.restarts)
	}
	ms.resolve(ours, time.Now()) // nothing left
	if len(r.pub.restarts) != 2 {
		t.Errorf("restarts %v after a second resolve", r.pub.restarts)
	}
}
