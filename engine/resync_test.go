package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/internal/mono"
	"github.com/polyfeed/polyfeed/internal/poll"
	"github.com/polyfeed/polyfeed/internal/testrig"
)

// TestRejectedSnapshotResyncsBackOff pins issue 12 defect 9: a venue that
// answers every resync with a snapshot the engine must reject (too large for
// the ring, or with an undecodable level) is asked again less and less
// often, exponentially, and the asset is reported; its next good snapshot
// clears the report.
func TestRejectedSnapshotResyncsBackOff(t *testing.T) {
	var levels []string
	for i := range 80 {
		levels = append(levels, fmt.Sprintf(`{"price":"0.%02d","size":"1"}`, i+1))
	}
	tooLarge := strings.Replace(dpBookA, `"bids":[`, `"bids":[`+strings.Join(levels, ",")+",", 1)
	undecodable := strings.Replace(dpBookA, `"price":"0.48"`, `"price":"0.4x8"`, 1)
	for _, tc := range []struct{ name, frame string }{{"too large", tooLarge}, {"undecodable level", undecodable}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Cleanup(func() { goleak.VerifyNone(t) })
			const lo = 20 * time.Millisecond
			var mu sync.Mutex
			var at []time.Time
			var d *dataPath
			fb := resyncRecorder(func(ids []string) {
				for _, id := range ids {
					if id != dpAssetA {
						continue
					}
					mu.Lock()
					at = append(at, time.Now())
					mu.Unlock()
					d.Sink()(1, []byte(tc.frame), mono.Now()) // the venue answers the same way
				}
			})
			d = newDataPath(routerConfig{inboundBytes: DefaultInboundBytes, logger: testrig.Logger(), feedback: fb,
				resyncEvery: time.Millisecond, backoffMin: lo, backoffMax: time.Minute},
				workerConfig{count: 1, ringSize: 64, logger: testrig.Logger()})
			ctx := context.Background()
			_ = d.startWorkers(ctx)
			_ = d.startRouter(ctx)
			t.Cleanup(func() { _ = d.stopRouter(ctx); _ = d.stopWorkers(ctx) })
			d.Sink()(1, []byte(tc.frame), mono.Now())
			const want = 6
			poll.For(t, 20*time.Second, time.Millisecond, func() error {
				mu.Lock()
				defer mu.Unlock()
				if len(at) < want {
					return fmt.Errorf("%d resyncs so far", len(at))
				}
				return nil
			})
			mu.Lock()
			got := append([]time.Time(nil), at[:want]...)
			mu.Unlock()
			// The k-th repeat waits lo·2^(k-1) after the previous resync;
			// half of that leaves room for scheduling on either side.
			for k := 1; k < want; k++ {
				gap, floor := got[k].Sub(got[k-1]), lo<<(k-1)/2
				if gap < floor {
					t.Errorf("resync %d came %v after the previous one; want at least %v (backoff)", k+1, gap, floor)
				}
			}
			st := d.router.stats()
			if st.RejectedAssets != 1 || st.ResyncBackoffs == 0 {
				t.Errorf("rejected assets %d, resync backoffs %d; want 1 and > 0", st.RejectedAssets, st.ResyncBackoffs)
			}
			d.Sink()(1, []byte(dpBookA), mono.Now())
			poll.For(t, 10*time.Second, time.Millisecond, func() error {
				if n := d.router.stats().RejectedAssets; n != 0 {
					return fmt.Errorf("rejected assets %d after a good snapshot; want 0", n)
				}
				return nil
			})
		})
	}
}

// TestDroppedEventResyncsDoNotBackOff pins the backoff's scope: an asset
// that loses events again and again (here a price change the engine cannot
// decode, each time answered by a good snapshot) is resynced at once every
// time. Backing off is for snapshots that are themselves rejected; a book
// invalidated by a drop must come back as soon as the venue answers, not
// minutes later because it was resynced a moment ago.
func TestDroppedEventResyncsDoNotBackOff(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	badChange := strings.Replace(dpChanges, `"price":"0.50"`, `"price":"0.5x0"`, 1)
	var mu sync.Mutex
	resyncs := 0
	var d *dataPath
	fb := resyncRecorder(func(ids []string) {
		for _, id := range ids {
			if id != dpAssetA {
				continue
			}
			mu.Lock()
			resyncs++
			mu.Unlock()
			d.Sink()(1, []byte(dpBookA), mono.Now()) // the venue answers with a good snapshot
		}
	})
	// A backoff of a minute would stall this test far past its deadline.
	d = newDataPath(routerConfig{inboundBytes: DefaultInboundBytes, logger: testrig.Logger(), feedback: fb,
		resyncEvery: time.Millisecond, backoffMin: time.Minute, backoffMax: time.Hour},
		workerConfig{count: 1, ringSize: 64, logger: testrig.Logger()})
	ctx := context.Background()
	_ = d.startWorkers(ctx)
	_ = d.startRouter(ctx)
	t.Cleanup(func() { _ = d.stopRouter(ctx); _ = d.stopWorkers(ctx) })
	d.Sink()(1, []byte(dpBookA), mono.Now())
	const drops = 4
	for k := 1; k <= drops; k++ {
		d.Sink()(1, []byte(badChange), mono.Now())
		poll.For(t, 10*time.Second, time.Millisecond, func() error {
			mu.Lock()
			n := resyncs
			mu.Unlock()
			if n < k {
				return fmt.Errorf("drop %d: %d resyncs so far (backoffs %d)", k, n, d.router.stats().ResyncBackoffs)
			}
			return nil
		})
	}
	if n := d.router.stats().ResyncBackoffs; n != 0 {
		t.Errorf("%d resync backoffs for an asset whose snapshots were all accepted; want 0", n)
	}
}
