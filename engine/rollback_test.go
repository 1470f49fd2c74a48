package engine

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/internal/mono"
	"github.com/polyfeed/polyfeed/internal/poll"
	"github.com/polyfeed/polyfeed/internal/testrig"
)

// issue 12 defect 2: a recycle rolled back after the replacement's frames slipped in while it
// closed. The asset had switched to the replacement (aligned on change 4); the recycler then
// ended the migration with FinishMigration and kept the old connection as carrier, so the
// asset stayed owned by the closed replacement, every later event of the old connection,
// snapshots included, was ignored, and the book stayed valid at change 4 for good. The
// rollback hands it back to the old connection: invalidated, resynced, and valid again once
// the old connection's snapshot arrives.
func TestMigrationRollbackAfterLateFrameLeavesNoFrozenBook(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	var s migStream
	var rec migRecorder
	var mu sync.Mutex
	var resynced []string
	d := newDataPath(routerConfig{inboundBytes: DefaultInboundBytes, logger: testrig.Logger(), resyncEvery: time.Millisecond,
		feedback: resyncRecorder(func(ids []string) {
			mu.Lock()
			resynced = append(resynced, ids...)
			mu.Unlock()
		})}, workerConfig{count: 1, ringSize: 1024, factory: rec.factory, logger: testrig.Logger()})
	ctx := context.Background()
	if err := d.startWorkers(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.startRouter(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.stopRouter(ctx); _ = d.stopWorkers(ctx) })
	sink := d.Sink()
	sink(1, []byte(s.snapshot(0)), mono.Now())
	for k := 1; k <= 3; k++ {
		sink(1, []byte(s.change(k)), mono.Now())
	}
	m := d.BeginMigration([]string{dpAssetA}, 1)
	// The replacement's dump and first change arrive while the recycler closes it.
	sink(2, []byte(s.snapshot(3)), mono.Now())
	sink(1, []byte(s.change(4)), mono.Now())
	sink(2, []byte(s.change(4)), mono.Now())
	select {
	case <-m.Done():
	case <-time.After(5 * time.Second):
		t.Fatalf("migration did not switch; pending %d", m.Pending())
	}
	// The replacement is closed; the old connection carries the asset and goes on.
	d.RollbackMigration(m)
	sink(1, []byte(s.change(5)), mono.Now())
	sink(1, []byte(s.change(6)), mono.Now())
	v, _, err := d.Book(ctx, dpAssetA, 0)
	if err != nil {
		t.Fatal(err)
	}
	if v.Valid && len(v.Bids) != 7 {
		t.Fatalf("after the rollback the book is valid with %d bids; want it invalid or following the old connection (7)", len(v.Bids))
	}
	poll.For(t, 5*time.Second, time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if !slices.Contains(resynced, dpAssetA) {
			return fmt.Errorf("resync requests %v; want asset A", resynced)
		}
		return nil
	})
	// The old connection answers the resync.
	sink(1, []byte(s.snapshot(6)), mono.Now())
	sink(2, []byte(s.change(5)), mono.Now()) // a straggler of the closed replacement: ignored
	v, _, err = d.Book(ctx, dpAssetA, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Valid || len(v.Bids) != 7 {
		t.Fatalf("after the old connection's snapshot the book has %d bids (valid %v); want 7, valid", len(v.Bids), v.Valid)
	}
}
