package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/fixed"
	"github.com/polyfeed/polyfeed/internal/mono"
	"github.com/polyfeed/polyfeed/internal/poll"
)

// migStream builds a deterministic stream for one asset: a snapshot at
// step k and the k-th level change, so a test can play the same stream
// from two connections at different offsets, as the venue does during a
// make-before-break recycle.
type migStream struct{}

// change k sets bid level 0.(10+k) to size k*10.
func (migStream) change(k int) string {
	return fmt.Sprintf(`{"event_type":"price_change","market":"%s","price_changes":[{"asset_id":"%s","price":"0.%02d","side":"BUY","size":"%d"}],"timestamp":"%d"}`,
		dpMarket, dpAssetA, 10+k, k*10, 1000+k)
}

// snapshot k is the book after changes 1..k.
func (migStream) snapshot(k int) string {
	levels := []string{`{"price":"0.05","size":"1"}`}
	for i := 1; i <= k; i++ {
		levels = append(levels, fmt.Sprintf(`{"price":"0.%02d","size":"%d"}`, 10+i, i*10))
	}
	return fmt.Sprintf(`{"event_type":"book","market":"%s","asset_id":"%s","bids":[%s],"asks":[{"price":"0.90","size":"5"}],"timestamp":"%d"}`,
		dpMarket, dpAssetA, strings.Join(levels, ","), 1000+k)
}

type migRecorder struct {
	mu   sync.Mutex
	seen []string
}

func (r *migRecorder) factory(int) Handler {
	return HandlerFunc(func(ev *Event, _ *book.Book) {
		r.mu.Lock()
		defer r.mu.Unlock()
		switch ev.Kind {
		case EventLevel:
			r.seen = append(r.seen, fmt.Sprintf("e%d", ev.Timestamp-1000))
		case EventBook:
			r.seen = append(r.seen, fmt.Sprintf("S%d", ev.Timestamp-1000))
		default:
			r.seen = append(r.seen, ev.Kind.String())
		}
	})
}

func (r *migRecorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

// TestMigrationNoLossNoDuplicate plays one asset's stream from the old
// connection (1) and the replacement (2) with the replacement behind, level
// with, or ahead of the old one. In every interleaving the handler must see
// each change exactly once, in order, and the asset must end on connection 2.
func TestMigrationNoLossNoDuplicate(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	var s migStream
	type step struct {
		conn  int64
		frame string
	}
	cases := []struct {
		name  string
		steps []step // after BeginMigration
	}{
		{"replacement level with old", []step{
			{2, s.snapshot(3)}, {1, s.change(4)}, {2, s.change(4)}, {2, s.change(5)}, {1, s.change(5)}, {2, s.change(6)},
		}},
		{"old ahead of replacement", []step{
			{1, s.change(4)}, {1, s.change(5)}, {2, s.snapshot(3)}, {2, s.change(4)}, {2, s.change(5)}, {1, s.change(6)}, {2, s.change(6)},
		}},
		{"replacement ahead of old", []step{
			{2, s.snapshot(4)}, {2, s.change(5)}, {1, s.change(4)}, {1, s.change(5)}, {2, s.change(6)}, {1, s.change(6)},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var rec migRecorder
			d := newTestDataPath(t, 1, rec.factory)
			sink := d.Sink()
			sink(1, []byte(s.snapshot(0)), mono.Now())
			for k := 1; k <= 3; k++ {
				sink(1, []byte(s.change(k)), mono.Now())
			}
			m := d.BeginMigration([]string{dpAssetA}, 1)
			for _, st := range tc.steps {
				sink(st.conn, []byte(st.frame), mono.Now())
			}
			select {
			case <-m.Done():
			case <-time.After(5 * time.Second):
				t.Fatalf("migration did not converge; pending %d", m.Pending())
			}
			want := []string{"S0", "e1", "e2", "e3", "e4", "e5", "e6"}
			poll.For(t, 5*time.Second, time.Millisecond, func() error {
				if got := rec.get(); !slices.Equal(got, want) {
					return fmt.Errorf("handler saw %v; want %v", got, want)
				}
				return nil
			})
			if r := m.Result(); r.Switched != 1 || r.Forced != 0 || r.Missing != 0 {
				t.Errorf("result = %+v; want one switched", r)
			}
			// After the switch only connection 2 counts.
			sink(1, []byte(s.change(7)), mono.Now())
			sink(2, []byte(s.change(7)), mono.Now())
			poll.For(t, 5*time.Second, time.Millisecond, func() error {
				if got := rec.get(); len(got) != 8 || got[7] != "e7" {
					return fmt.Errorf("after the switch the handler saw %v", got)
				}
				return nil
			})
			v, _, _ := d.Book(context.Background(), dpAssetA, 0)
			if len(v.Bids) != 8 || !v.Valid {
				t.Errorf("final book bids = %d (valid %v); want 8 levels", len(v.Bids), v.Valid)
			}
		})
	}
}

// TestMigrationFinishForcesOrReportsMissing: when the old connection has
// stalled (the reason to recycle it) the books never converge; finishing
// the migration switches to the replacement's shadow book and the handler
// sees one resynced snapshot. An asset the replacement never delivered is
// reported missing and invalidated.
func TestMigrationFinishForcesOrReportsMissing(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	var s migStream
	var rec migRecorder
	d := newTestDataPath(t, 1, rec.factory)
	sink := d.Sink()
	sink(1, []byte(s.snapshot(0)), mono.Now())
	sink(1, []byte(dpBookB), mono.Now())
	m := d.BeginMigration([]string{dpAssetA, dpAssetB}, 1)
	sink(2, []byte(s.snapshot(2)), mono.Now()) // old conn stalled at 0: no convergence
	r := d.FinishMigration(m)
	if r.Forced != 1 || r.Missing != 1 || m.Pending() != 0 {
		t.Fatalf("result = %+v, pending %d; want 1 forced, 1 missing", r, m.Pending())
	}
	v, _, _ := d.Book(context.Background(), dpAssetA, 0)
	if len(v.Bids) != 3 || !v.Valid {
		t.Errorf("forced book has %d bids (valid %v); want the replacement's 3", len(v.Bids), v.Valid)
	}
	vb, _, _ := d.Book(context.Background(), dpAssetB, 0)
	if vb.Valid {
		t.Error("asset without a replacement snapshot is still valid")
	}
	if got := rec.get(); !slices.Contains(got, "S2") {
		t.Errorf("handler saw %v; want the forced snapshot S2", got)
	}
}

// withTick adds a tick_size to a book frame.
func withTick(frame, tick string) string {
	return strings.TrimSuffix(frame, "}") + `,"tick_size":"` + tick + `"}`
}

// TestHeldSnapshotKeepsItsTickSize pins issue 12 defect 7: a replacement
// snapshot held back during a migration is replayed with its own tick size,
// not with the tick size of whatever snapshot the worker assembled last
// (another asset's).
func TestHeldSnapshotKeepsItsTickSize(t *testing.T) {
	var s migStream
	p := newStepPath(t, 1, 1024, routerConfig{}, nil)
	p.route(1, withTick(s.snapshot(3), "0.01"))
	m := newMigration([]string{dpAssetA}, 1)
	p.control(&control{op: ctlMigrate, assets: []string{dpAssetA}, mig: m})
	p.route(2, withTick(s.snapshot(3), "0.01")) // the replacement's subscribe snapshot
	p.route(2, s.change(4))                     // ahead of the old connection: held
	p.route(2, withTick(s.snapshot(4), "0.01")) // a post-trade snapshot: held
	p.apply()
	p.route(1, withTick(dpBookB, "0.001")) // another asset's snapshot on the same worker
	p.route(1, s.change(4))                // the old connection catches up: switch, replay
	p.apply()
	if m.Pending() != 0 {
		t.Fatalf("migration pending %d; want switched", m.Pending())
	}
	b := p.r.routes[dpAssetA].book
	if got := b.TickSize(); got != fixed.MustParse("0.01") {
		t.Errorf("tick size after the held snapshot replayed = %v; want 0.01 (asset B's is 0.001)", got)
	}
	if !b.Valid() || b.UpdatedAt() != 1004 {
		t.Errorf("book valid %v at %d; want valid at the held snapshot's 1004", b.Valid(), b.UpdatedAt())
	}
}

// TestMigrationRepeatedLevelWithinOneMillisecond pins issue 12 defect 11
// (duplicate fingerprints): a level that goes 100 → 50 → 100 within one
// millisecond gives two events the same fingerprint. A replacement that
// stands at the second one must not be aligned with the first, which
// would make the handler see the events after it twice.
func TestMigrationRepeatedLevelWithinOneMillisecond(t *testing.T) {
	change := func(size int) string {
		return fmt.Sprintf(`{"event_type":"price_change","market":"%s","price_changes":[{"asset_id":"%s","price":"0.50","side":"BUY","size":"%d"}],"timestamp":"2000"}`, dpMarket, dpAssetA, size)
	}
	snapshot := func(size int) string {
		return fmt.Sprintf(`{"event_type":"book","market":"%s","asset_id":"%s","bids":[{"price":"0.50","size":"%d"}],"asks":[{"price":"0.90","size":"5"}],"timestamp":"2000"}`, dpMarket, dpAssetA, size)
	}
	var mu sync.Mutex
	var seen []string
	p := newStepPath(t, 1, 1024, routerConfig{}, func(int) Handler {
		return HandlerFunc(func(ev *Event, _ *book.Book) {
			mu.Lock()
			defer mu.Unlock()
			if ev.Kind == EventLevel {
				seen = append(seen, ev.Size.String())
			} else {
				seen = append(seen, ev.Kind.String())
			}
		})
	})
	p.route(1, snapshot(10))
	p.apply()
	m := newMigration([]string{dpAssetA}, 1)
	p.control(&control{op: ctlMigrate, assets: []string{dpAssetA}, mig: m})
	sizes := []int{100, 50, 100, 70, 80} // e1..e5: e1 and e3 are the same event to a fingerprint
	for _, s := range sizes {
		p.route(1, change(s))
	}
	p.apply()
	p.route(2, snapshot(50)) // the replacement subscribed after e2
	for _, s := range sizes[2:] {
		p.route(2, change(s))
	}
	p.route(2, change(90)) // e6, new
	p.route(1, change(90))
	p.apply()
	want := []string{"book", "100", "50", "100", "70", "80", "90"}
	if !slices.Equal(seen, want) {
		t.Errorf("handler saw %v; want %v", seen, want)
	}
	if m.Pending() != 0 {
		t.Errorf("migration pending %d; want switched", m.Pending())
	}
	if v := p.r.routes[dpAssetA].book; v.Depth(book.Bid) != 1 {
		t.Errorf("book has %d bids; want 1", v.Depth(book.Bid))
	}
}
