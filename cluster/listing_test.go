package cluster

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestListingSharedAtOnce: the markets this member shares are in its
// snapshot as soon as it shares them, before their entries come back
// through the watch (here never: the bucket does not exist, so the writes
// fail): a member set that changes meanwhile must hand them over, make
// before break, instead of dropping them.
func TestListingSharedAtOnce(t *testing.T) {
	d := runNATS(t)
	nc := connect(t, d.url())
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig("nobucket", "a")
	if err := cfg.fill(); err != nil {
		t.Fatal(err)
	}
	l := newListing(js, nil, &cfg, func() {})
	ms := testMarkets(3, 7)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := l.put(ctx, ms); err == nil {
		t.Fatal("put into a missing bucket succeeded")
	}
	var want []string
	for _, m := range ms {
		want = append(want, m.ConditionID)
	}
	slices.Sort(want)
	got := l.snapshot()
	if len(got) != len(ms) || l.len() != len(ms) {
		t.Fatalf("snapshot has %d markets (len %d) right after sharing %d", len(got), l.len(), len(ms))
	}
	for i, m := range got {
		if m.ConditionID != want[i] || len(m.AssetIDs) != 2 {
			t.Errorf("snapshot[%d] = %+v", i, m)
		}
	}
}
