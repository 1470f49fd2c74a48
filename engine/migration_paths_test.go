package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/engine/venue"
	"github.com/polyfeed/polyfeed/fixed"
	"github.com/polyfeed/polyfeed/internal/mono"
	"github.com/polyfeed/polyfeed/internal/poll"
)

// The migration paths TestMigrationNoLossNoDuplicate does not reach: a held
// book snapshot replayed, a replacement that stops repeating the old stream
// (misaligned), the fingerprint window's bound (migLimit) on both sides, and
// a forced switch on many assets at once. Each test plays one deterministic
// stream per asset from the old connection (1) and the replacement (2).

// pathStream is one asset's deterministic stream: change k sets the bid at
// 0.01·(1 + k mod 40) to size k at venue time 1000+k, so every change is a
// distinct event and snapshot k (the book after changes 1..k) is known.
type pathStream struct{ asset string }

func pathAsset(i int) string { return fmt.Sprintf("%077d", 1000+i) }

func (p pathStream) change(k int) string {
	return fmt.Sprintf(`{"event_type":"price_change","market":"%s","price_changes":[{"asset_id":"%s","price":"0.%02d","side":"BUY","size":"%d"}],"timestamp":"%d"}`,
		dpMarket, p.asset, 1+k%40, k, 1000+k)
}

// bids returns snapshot k's bid levels, best first.
func (pathStream) bids(k int) []book.LevelView {
	lv := map[int]int{45: 1} // a base level no change touches
	for i := 1; i <= k; i++ {
		lv[1+i%40] = i
	}
	var out []book.LevelView
	for _, c := range slices.Sorted(maps.Keys(lv)) {
		out = append(out, book.LevelView{Price: fixedCents(c), Size: fixedUnits(lv[c])})
	}
	slices.Reverse(out)
	return out
}

func (p pathStream) snapshot(k int) string {
	var ls []string
	for _, l := range p.bids(k) {
		ls = append(ls, fmt.Sprintf(`{"price":"%v","size":"%v"}`, l.Price, l.Size))
	}
	return fmt.Sprintf(`{"event_type":"book","market":"%s","asset_id":"%s","bids":[%s],"asks":[{"price":"0.90","size":"5"}],"timestamp":"%d"}`,
		dpMarket, p.asset, strings.Join(ls, ","), 1000+k)
}

// pathRecorder keeps, per asset, what the handler saw: eK for change K,
// SK/D for a book at venue time 1000+K with D bid levels, SK/Dr when it is
// marked Resynced.
type pathRecorder struct {
	mu   sync.Mutex
	seen map[string][]string
}

func (r *pathRecorder) factory(int) Handler {
	return HandlerFunc(func(ev *Event, b *book.Book) {
		var s string
		switch ev.Kind {
		case EventLevel:
			s = fmt.Sprintf("e%d", ev.Timestamp-1000)
		case EventBook:
			s = fmt.Sprintf("S%d/%d", ev.Timestamp-1000, b.Depth(book.Bid))
			if ev.Resynced {
				s += "r"
			}
		default:
			s = ev.Kind.String()
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.seen == nil {
			r.seen = map[string][]string{}
		}
		r.seen[ev.AssetID] = append(r.seen[ev.AssetID], s)
	})
}

func (r *pathRecorder) of(asset string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen[asset])
}

// changes lists eFrom..eTo.
func changes(from, to int) []string {
	var out []string
	for k := from; k <= to; k++ {
		out = append(out, fmt.Sprintf("e%d", k))
	}
	return out
}

func bookEntry(k, depth int, resynced bool) string {
	s := fmt.Sprintf("S%d/%d", k, depth)
	if resynced {
		s += "r"
	}
	return s
}

// newBlockingDataPath is newTestDataPath with room for long streams: the
// Block policy and a large ring, so a test that pushes thousands of frames
// faster than the worker applies them loses none (a drop would invalidate
// the book and hide what the test looks at).
func newBlockingDataPath(t *testing.T, workers int, h HandlerFactory) *dataPath {
	t.Helper()
	return startTestDataPath(t, routerConfig{policy: Block}, workerConfig{count: workers, ringSize: 1 << 14, factory: h})
}

func (d *dataPath) migStats() (m MigrationStats, misaligned, ignored uint64) {
	for _, w := range d.workers.workers {
		s := w.mig.stats()
		m.Held += s.Held
		m.CaughtUp += s.CaughtUp
		m.Replayed += s.Replayed
		m.Skipped += s.Skipped
		m.Forced += s.Forced
		m.Overflow += s.Overflow
		misaligned += w.misaligned.Load()
		ignored += w.ignored.Load()
	}
	return m, misaligned, ignored
}

// waitSeen polls until the handler saw want for asset.
func waitSeen(t *testing.T, rec *pathRecorder, asset string, want []string) {
	t.Helper()
	poll.For(t, 10*time.Second, time.Millisecond, func() error {
		if got := rec.of(asset); !slices.Equal(got, want) {
			return fmt.Errorf("asset …%s: handler saw\n%v\nwant\n%v", asset[len(asset)-6:], abbreviate(got), abbreviate(want))
		}
		return nil
	})
}

// abbreviate keeps long sequences readable in failures.
func abbreviate(s []string) string {
	if len(s) <= 24 {
		return fmt.Sprint(s)
	}
	return fmt.Sprintf("%v … (%d) … %v", s[:12], len(s)-24, s[len(s)-12:])
}

// waitBids polls until asset's book is valid with exactly want's bids.
func waitBids(t *testing.T, d *dataPath, asset string, want []book.LevelView) {
	t.Helper()
	poll.For(t, 10*time.Second, time.Millisecond, func() error {
		v, ok, err := d.Book(context.Background(), asset, 0)
		if err != nil || !ok {
			return fmt.Errorf("no book for …%s: %v", asset[len(asset)-6:], err)
		}
		if !v.Valid || !slices.Equal(v.Bids, want) {
			return fmt.Errorf("book …%s valid %v, bids %s; want %s", asset[len(asset)-6:], v.Valid, dpLevels(v.Bids), dpLevels(want))
		}
		return nil
	})
}

// TestMigrationReplaysHeldSnapshot guards the replay of a held book
// snapshot: the replacement runs ahead with a post-trade book snapshot
// among its held events; when the old connection catches up, the held
// snapshot reaches the handler with its own levels, in its place. Another
// asset's snapshot is assembled in between (the worker's snapshot buffers
// then hold other levels), so replaying with whatever the buffers hold
// instead of the levels kept with the held snapshot fails here.
func TestMigrationReplaysHeldSnapshot(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	var rec pathRecorder
	d := newBlockingDataPath(t, 1, rec.factory)
	s := pathStream{pathAsset(1)}
	sink := d.Sink()
	sink(1, []byte(s.snapshot(0)), mono.Now())
	for k := 1; k <= 3; k++ {
		sink(1, []byte(s.change(k)), mono.Now())
	}
	m := d.BeginMigration([]string{s.asset}, 1)
	// The replacement: its subscribe snapshot, then ahead of the old one.
	sink(2, []byte(s.snapshot(3)), mono.Now())
	sink(2, []byte(s.change(4)), mono.Now())
	sink(2, []byte(s.snapshot(4)), mono.Now()) // a post-trade snapshot in the stream
	sink(2, []byte(s.change(5)), mono.Now())
	sink(1, []byte(dpBookB), mono.Now()) // another asset's snapshot on the same worker
	sink(1, []byte(s.change(4)), mono.Now())
	waitSwitched(t, m, "migration did not switch")
	// The old connection's later events are ignored; the replacement's count.
	sink(1, []byte(s.snapshot(4)), mono.Now())
	sink(1, []byte(s.change(5)), mono.Now())
	sink(2, []byte(s.change(6)), mono.Now())
	want := append([]string{bookEntry(0, 1, false)}, changes(1, 4)...)
	want = append(want, bookEntry(4, 5, false), "e5", "e6")
	waitSeen(t, &rec, s.asset, want)
	waitBids(t, d, s.asset, s.bids(6))
	ms, _, _ := d.migStats()
	if ms.Held != 3 || ms.CaughtUp != 1 || ms.Replayed != 2 || ms.Forced != 0 {
		t.Errorf("migration stats %+v; want 3 held, 1 caught up, 2 replayed, none forced", ms)
	}
	if r := m.Result(); r.Switched != 1 {
		t.Errorf("result %+v; want one switched", r)
	}
}

// TestMigrationMisaligned guards a replacement that skips an event (here e5,
// as a venue socket that lost a message would): no position of the old
// stream fits its held events, so the asset does not switch on its one
// matching repeat (e4). The old connection stays the source, the handler
// sees every event exactly once (switching on e4 and taking e6 as it came
// would deliver e6 twice), and finishing the migration forces the
// replacement's book with one resynced book.
func TestMigrationMisaligned(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	var rec pathRecorder
	d := newBlockingDataPath(t, 1, rec.factory)
	s := pathStream{pathAsset(2)}
	sink := d.Sink()
	sink(1, []byte(s.snapshot(0)), mono.Now())
	for k := 1; k <= 3; k++ {
		sink(1, []byte(s.change(k)), mono.Now())
	}
	m := d.BeginMigration([]string{s.asset}, 1)
	for k := 4; k <= 6; k++ {
		sink(1, []byte(s.change(k)), mono.Now())
	}
	sink(2, []byte(s.snapshot(3)), mono.Now())
	sink(2, []byte(s.change(4)), mono.Now()) // a repeat, but one event is not a position
	sink(2, []byte(s.change(6)), mono.Now()) // e5 never comes: no position fits
	sink(1, []byte(s.change(7)), mono.Now()) // old: still the source
	sink(2, []byte(s.change(7)), mono.Now())
	want := append([]string{bookEntry(0, 1, false)}, changes(1, 7)...)
	waitSeen(t, &rec, s.asset, want)
	waitQuiet(t, d)
	if r := m.Result(); r.Switched != 0 {
		t.Errorf("result %+v; want nothing switched on a single repeat", r)
	}
	ms, misaligned, _ := d.migStats()
	if misaligned != 0 || ms.Skipped != 0 || ms.Held == 0 {
		t.Errorf("misaligned %d, skipped %d, held %d; want 0, 0, > 0", misaligned, ms.Skipped, ms.Held)
	}
	waitBids(t, d, s.asset, s.bids(7))
}

// TestMigrationMisalignedAfterSwitch guards the switched migration whose
// replacement stops repeating the old stream: it aligned on e4, e5 and
// switched, owing repeats of e6 and e7, but sends e7 without e6. The
// position it switched on, or one of the streams, cannot be trusted, so
// the book is marked stale and resynced; applying e7 as it came and
// keeping the book valid fails here. The next snapshot makes it valid.
func TestMigrationMisalignedAfterSwitch(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	var rec pathRecorder
	var mu sync.Mutex
	var resynced []string
	d := startTestDataPath(t, routerConfig{policy: Block, resyncEvery: time.Millisecond, feedback: resyncRecorder(func(ids []string) {
		mu.Lock()
		resynced = append(resynced, ids...)
		mu.Unlock()
	})}, workerConfig{count: 1, ringSize: 1 << 14, factory: rec.factory})
	ctx := context.Background()
	s := pathStream{pathAsset(3)}
	sink := d.Sink()
	sink(1, []byte(s.snapshot(0)), mono.Now())
	for k := 1; k <= 3; k++ {
		sink(1, []byte(s.change(k)), mono.Now())
	}
	m := d.BeginMigration([]string{s.asset}, 1)
	for k := 4; k <= 7; k++ {
		sink(1, []byte(s.change(k)), mono.Now())
	}
	waitBids(t, d, s.asset, s.bids(7))
	sink(2, []byte(s.snapshot(3)), mono.Now())
	sink(2, []byte(s.change(4)), mono.Now())
	sink(2, []byte(s.change(5)), mono.Now()) // two repeats: switch, owing e6 and e7
	sink(2, []byte(s.change(7)), mono.Now()) // e6 never comes
	poll.For(t, 5*time.Second, time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if !slices.Contains(resynced, s.asset) {
			return fmt.Errorf("resync requests %v; want the misaligned asset", resynced)
		}
		return nil
	})
	if v, _, _ := d.Book(ctx, s.asset, 0); v.Valid {
		t.Error("book still valid after the replacement stopped repeating the old stream")
	}
	if r := m.Result(); r.Switched != 1 {
		t.Errorf("result %+v; want the asset switched", r)
	}
	if _, misaligned, _ := d.migStats(); misaligned != 1 {
		t.Errorf("misaligned %d; want 1", misaligned)
	}
	sink(2, []byte(s.snapshot(8)), mono.Now())
	waitBids(t, d, s.asset, s.bids(8))
}

// TestMigrationLimit guards the bound on what one asset's migration
// remembers (migLimit), on both sides.
//
// held: the old connection has stalled and the replacement delivers more
// than migLimit events. The migration is forced at the bound: the handler
// gets one resynced book (the replacement's state so far) and then every
// later replacement event, the one that hit the bound included. Keeping
// everything (no bound), or dropping the event at the bound, fails here.
//
// history: the old connection delivered more than migLimit events before
// the replacement's stream began. The window then keeps the newest half, so
// the replacement's repeats of recent events are still placed: it switches,
// skips its repeats, and the handler sees every event exactly once, with no
// resynced book. A window that kept the oldest events would force it.
func TestMigrationLimit(t *testing.T) {
	t.Run("held", func(t *testing.T) {
		t.Cleanup(func() { goleak.VerifyNone(t) })
		var rec pathRecorder
		d := newBlockingDataPath(t, 1, rec.factory)
		s := pathStream{pathAsset(3)}
		sink := d.Sink()
		sink(1, []byte(s.snapshot(0)), mono.Now())
		for k := 1; k <= 3; k++ {
			sink(1, []byte(s.change(k)), mono.Now())
		}
		m := d.BeginMigration([]string{s.asset}, 1)
		sink(2, []byte(s.snapshot(3)), mono.Now())
		last := 3 + migLimit + 2
		for k := 4; k <= last; k++ {
			sink(2, []byte(s.change(k)), mono.Now())
		}
		// held: e4 … e(3+migLimit); e(4+migLimit) hits the bound.
		want := append([]string{bookEntry(0, 1, false)}, changes(1, 3)...)
		want = append(want, bookEntry(3+migLimit, 41, true))
		want = append(want, changes(4+migLimit, last)...)
		waitSeen(t, &rec, s.asset, want)
		ms, _, _ := d.migStats()
		if ms.Overflow != 1 || ms.Forced != 1 || ms.Held != migLimit {
			t.Errorf("migration stats %+v; want %d held, 1 forced over the limit", ms, migLimit)
		}
		if r := m.Result(); r.Forced != 1 || m.Pending() != 0 {
			t.Errorf("result %+v, pending %d; want one forced", r, m.Pending())
		}
		waitBids(t, d, s.asset, s.bids(last))
	})
	t.Run("history", func(t *testing.T) {
		t.Cleanup(func() { goleak.VerifyNone(t) })
		var rec pathRecorder
		d := newBlockingDataPath(t, 1, rec.factory)
		s := pathStream{pathAsset(4)}
		sink := d.Sink()
		sink(1, []byte(s.snapshot(0)), mono.Now())
		m := d.BeginMigration([]string{s.asset}, 1)
		old := migLimit + 10
		for k := 1; k <= old; k++ {
			sink(1, []byte(s.change(k)), mono.Now())
		}
		// The replacement stands at migLimit+5: its repeats from there on
		// were delivered, within the newest half the window keeps.
		sink(2, []byte(s.snapshot(migLimit+5)), mono.Now())
		for k := migLimit + 6; k <= old+2; k++ {
			sink(2, []byte(s.change(k)), mono.Now())
		}
		sink(2, []byte(s.change(old+3)), mono.Now())
		waitSeen(t, &rec, s.asset, append([]string{bookEntry(0, 1, false)}, changes(1, old+3)...))
		waitQuiet(t, d)
		if r := d.FinishMigration(m); r.Switched != 1 || r.Forced != 0 {
			t.Fatalf("result %+v; want one switched, none forced", r)
		}
		if ms, _, _ := d.migStats(); ms.Skipped == 0 || ms.Overflow != 0 {
			t.Errorf("migration stats %+v; want repeats skipped, no held overflow", ms)
		}
		waitBids(t, d, s.asset, s.bids(old+3))
	})
}

// waitQuiet waits until the data path applied everything queued.
func waitQuiet(t *testing.T, d *dataPath) {
	t.Helper()
	var last uint64
	stable := 0
	poll.For(t, 10*time.Second, 2*time.Millisecond, func() error {
		var ev uint64
		pending := int(d.router.in.Frames())
		for _, w := range d.workers.workers {
			ev += w.events.Load()
			pending += w.ring.Len()
		}
		if pending == 0 && ev == last {
			stable++
		} else {
			stable = 0
		}
		last = ev
		if stable < 3 {
			return fmt.Errorf("not quiet: %d queued", pending)
		}
		return nil
	})
}

// TestMigrationForcedManyAssets guards the forced switch on many assets
// over several workers: the old connection stalls after change 3; the
// replacement delivers its snapshot (5) and two events ahead (6, 7) for the
// active half, and only a snapshot equal to the old book for the quiet
// half. FinishMigration forces exactly the active half: each of their
// handlers gets exactly one resynced book, at the replacement's state (7),
// after the events it already had and before the replacement's next events,
// with nothing lost after it. The quiet half switch without a book. Delivering
// the held events instead of one book, a second book, or losing the event
// after the switch each fails here.
func TestMigrationForcedManyAssets(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	const n = 64
	var rec pathRecorder
	d := newBlockingDataPath(t, 4, rec.factory)
	sink := d.Sink()
	var ids []string
	for i := range n {
		ids = append(ids, pathAsset(100+i))
	}
	sort.Strings(ids)
	active := func(i int) bool { return i%2 == 0 }
	for _, id := range ids {
		s := pathStream{id}
		sink(1, []byte(s.snapshot(0)), mono.Now())
		for k := 1; k <= 3; k++ {
			sink(1, []byte(s.change(k)), mono.Now())
		}
	}
	m := d.BeginMigration(ids, 1)
	for i, id := range ids {
		s := pathStream{id}
		if !active(i) {
			sink(2, []byte(s.snapshot(3)), mono.Now())
			continue
		}
		sink(2, []byte(s.snapshot(5)), mono.Now())
		sink(2, []byte(s.change(6)), mono.Now())
		sink(2, []byte(s.change(7)), mono.Now())
	}
	waitQuiet(t, d)
	r := d.FinishMigration(m)
	if r.Forced != n/2 || r.Switched != n/2 || r.Missing != 0 {
		t.Fatalf("result %+v; want %d forced, %d switched", r, n/2, n/2)
	}
	for i, id := range ids {
		s := pathStream{id}
		sink(1, []byte(s.change(4)), mono.Now()) // the old socket wakes: ignored
		from := 4
		if active(i) {
			from = 8
		}
		sink(2, []byte(s.change(from)), mono.Now())
		sink(2, []byte(s.change(from+1)), mono.Now())
	}
	for i, id := range ids {
		want := append([]string{bookEntry(0, 1, false)}, changes(1, 3)...)
		last := 5
		if active(i) {
			want = append(want, bookEntry(7, 8, true))
			last = 9
		}
		want = append(want, changes(last-1, last)...)
		waitSeen(t, &rec, id, want)
		waitBids(t, d, id, pathStream{id}.bids(last))
	}
	if ms, _, _ := d.migStats(); ms.Forced != n/2 {
		t.Errorf("migration stats %+v; want %d forced", ms, n/2)
	}
}

func fixedCents(c int) fixed.Point { return fixed.Point(c * fixed.Scale / 100) }
func fixedUnits(n int) fixed.Point { return fixed.FromInt(int64(n)) }

// TestMigrationFinishKeepsSkippingRepeats guards a switched asset whose
// replacement still owes repeats when FinishMigration comes. The recycler
// finishes as soon as every asset switched or the wait ends, and a quiet
// asset (a replacement snapshot, no event to align on) switches only at the
// finish, so the finish is sent while a busy asset's replacement, a little
// behind the old connection, has not yet repeated the old events after its
// switch point. Those repeats arrive after the finish and must still be
// skipped: forgetting them at the finish delivered e6 and e7 twice.
func TestMigrationFinishKeepsSkippingRepeats(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	var rec pathRecorder
	d := newBlockingDataPath(t, 1, rec.factory)
	busy, quiet := pathStream{pathAsset(20)}, pathStream{pathAsset(21)}
	sink := d.Sink()
	sink(1, []byte(busy.snapshot(0)), mono.Now())
	sink(1, []byte(quiet.snapshot(0)), mono.Now())
	for k := 1; k <= 3; k++ {
		sink(1, []byte(busy.change(k)), mono.Now())
	}
	m := d.BeginMigration([]string{busy.asset, quiet.asset}, 1)
	for k := 4; k <= 7; k++ {
		sink(1, []byte(busy.change(k)), mono.Now())
	}
	sink(2, []byte(quiet.snapshot(0)), mono.Now())
	sink(2, []byte(busy.snapshot(3)), mono.Now())
	sink(2, []byte(busy.change(4)), mono.Now())
	sink(2, []byte(busy.change(5)), mono.Now()) // two repeats: switch, owing e6 and e7
	waitSeen(t, &rec, busy.asset, append([]string{bookEntry(0, 1, false)}, changes(1, 7)...))
	poll.For(t, 5*time.Second, time.Millisecond, func() error {
		if p := m.Pending(); p != 1 {
			return fmt.Errorf("%d assets pending; want the quiet one only", p)
		}
		return nil
	})
	if r := d.FinishMigration(m); r.Switched != 2 {
		t.Fatalf("finish: %+v; want both switched", r)
	}
	sink(2, []byte(busy.change(6)), mono.Now()) // the repeats, after the finish
	sink(2, []byte(busy.change(7)), mono.Now())
	sink(2, []byte(busy.change(8)), mono.Now()) // new
	waitQuiet(t, d)
	if got, want := rec.of(busy.asset), append([]string{bookEntry(0, 1, false)}, changes(1, 8)...); !slices.Equal(got, want) {
		t.Errorf("handler saw\n%v\nwant\n%v", got, want)
	}
	if ms, misaligned, _ := d.migStats(); ms.Skipped != 2 || misaligned != 0 {
		t.Errorf("skipped %d, misaligned %d; want 2, 0", ms.Skipped, misaligned)
	}
	waitBids(t, d, busy.asset, busy.bids(8))
}

// TestMigrationOwedRepeatsYieldToAnotherConnection guards a switched asset
// whose replacement dies before repeating what it owes: the asset is placed
// on a third connection, whose snapshot is the whole truth and must take
// over. Waiting for repeats that never come ignored every event of the new
// carrier, and the book, invalidated with its dead socket, stayed invalid
// for good.
func TestMigrationOwedRepeatsYieldToAnotherConnection(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	var rec pathRecorder
	d := newBlockingDataPath(t, 1, rec.factory)
	s := pathStream{pathAsset(22)}
	sink := d.Sink()
	sink(1, []byte(s.snapshot(0)), mono.Now())
	m := d.BeginMigration([]string{s.asset}, 1)
	for k := 1; k <= 4; k++ {
		sink(1, []byte(s.change(k)), mono.Now())
	}
	sink(2, []byte(s.snapshot(0)), mono.Now())
	sink(2, []byte(s.change(1)), mono.Now())
	sink(2, []byte(s.change(2)), mono.Now()) // switch, owing e3 and e4
	waitSwitched(t, m, "migration did not switch")
	d.InvalidateConn(2) // the replacement's socket died
	sink(3, []byte(s.snapshot(6)), mono.Now())
	sink(3, []byte(s.change(7)), mono.Now())
	waitBids(t, d, s.asset, s.bids(7))
	want := append([]string{bookEntry(0, 1, false)}, changes(1, 4)...)
	want = append(want, EventInvalidated.String(), bookEntry(6, len(s.bids(6)), true), "e7")
	waitSeen(t, &rec, s.asset, want)
}

// TestMigrationAgainKeepsOwedRepeats guards an asset recycled again while
// its first replacement still owes repeats of the old stream: the second
// migration starts from that replacement, whose owed repeats must still be
// skipped rather than delivered as its new events (e6 and e7 twice).
func TestMigrationAgainKeepsOwedRepeats(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	var rec pathRecorder
	d := newBlockingDataPath(t, 1, rec.factory)
	s := pathStream{pathAsset(23)}
	sink := switchedOwing(t, d, s)
	m2 := d.BeginMigration([]string{s.asset}, 2) // recycled again, from 2
	sink(2, []byte(s.change(6)), mono.Now())     // the owed repeats
	sink(2, []byte(s.change(7)), mono.Now())
	sink(2, []byte(s.change(8)), mono.Now()) // new
	sink(3, []byte(s.snapshot(6)), mono.Now())
	sink(3, []byte(s.change(7)), mono.Now())
	sink(3, []byte(s.change(8)), mono.Now()) // two repeats of 2's stream: switch
	sink(3, []byte(s.change(9)), mono.Now())
	waitSwitched(t, m2, "second migration did not switch")
	waitQuiet(t, d)
	if got, want := rec.of(s.asset), append([]string{bookEntry(0, 1, false)}, changes(1, 9)...); !slices.Equal(got, want) {
		t.Errorf("handler saw\n%v\nwant\n%v", got, want)
	}
	if _, misaligned, _ := d.migStats(); misaligned != 0 {
		t.Errorf("misaligned %d; want 0", misaligned)
	}
	waitBids(t, d, s.asset, s.bids(9))
}

// TestMigrationAgainOwedRepeatsMisaligned: the first replacement, recycled
// again, stops repeating what it owes (e6 never comes). Its stream cannot be
// placed, so the book is marked stale (and resynced) instead of applying e7
// as if nothing were missing.
func TestMigrationAgainOwedRepeatsMisaligned(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	var rec pathRecorder
	d := newBlockingDataPath(t, 1, rec.factory)
	s := pathStream{pathAsset(24)}
	sink := switchedOwing(t, d, s)
	d.BeginMigration([]string{s.asset}, 2)
	sink(2, []byte(s.change(7)), mono.Now()) // e6 never comes
	waitQuiet(t, d)
	if _, misaligned, _ := d.migStats(); misaligned != 1 {
		t.Errorf("misaligned %d; want 1", misaligned)
	}
	if v, _, _ := d.Book(context.Background(), s.asset, 0); v.Valid {
		t.Error("book still valid after the replacement stopped repeating what it owed")
	}
}

// waitSwitched fails the test unless m switches every asset within 5 s.
func waitSwitched(t *testing.T, m *Migration, what string) {
	t.Helper()
	select {
	case <-m.Done():
	case <-time.After(5 * time.Second):
		t.Fatalf("%s; pending %d", what, m.Pending())
	}
}

// switchedOwing plays s's asset on connection 1 (snapshot, e1 to e7), migrates
// it to connection 2, whose stream starts at e3 and repeats e4 and e5, and
// waits for the switch: connection 2 then owes the repeats e6 and e7. It
// returns the data path's sink.
func switchedOwing(t *testing.T, d *dataPath, s pathStream) venue.FrameSink {
	t.Helper()
	sink := d.Sink()
	sink(1, []byte(s.snapshot(0)), mono.Now())
	m := d.BeginMigration([]string{s.asset}, 1)
	for k := 1; k <= 7; k++ {
		sink(1, []byte(s.change(k)), mono.Now())
	}
	sink(2, []byte(s.snapshot(3)), mono.Now())
	sink(2, []byte(s.change(4)), mono.Now())
	sink(2, []byte(s.change(5)), mono.Now())
	waitSwitched(t, m, "first migration did not switch")
	return sink
}
