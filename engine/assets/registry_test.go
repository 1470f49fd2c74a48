package assets

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/polyfeed/polyfeed/internal/poll"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// checkConsistency recomputes every index and counter from the entry map and fails the test
// where the registry's own differ. It holds the writer mutex, so it sees a quiescent state.
func checkConsistency(t testing.TB, r *Registry) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()

	var (
		states   [stateCount][]string
		conns    = map[int64][]string{}
		active   = map[int64]int{}
		expired  = map[int64]int{}
		conds    = map[string][]entry{}
		hours    = map[int64][]string{}
		queue    = map[string]uint64{}
		counts   Counts
		bad      int
		entryIDs []string
	)
	r.entries.Range(func(id string, e entry) bool {
		entryIDs = append(entryIDs, id)
		if id != e.AssetID {
			t.Errorf("entry key %q holds AssetID %q", id, e.AssetID)
		}
		switch {
		case e.State == StatePending && e.ConnID != 0,
			e.State == StateSubscribed && (e.ConnID == 0 || e.Claimed || e.SubscribedAt.IsZero()),
			e.State == StateExpired && e.Claimed,
			e.State >= stateCount:
			if bad++; bad <= 10 {
				t.Errorf("entry %q is impossible: %+v", id, e.Entry)
			}
		}
		states[e.State] = append(states[e.State], id)
		counts.Total++
		switch e.State {
		case StatePending:
			counts.Pending++
			if e.Claimed {
				counts.Claimed++
			} else {
				queue[id] = e.seq
			}
		case StateSubscribed:
			counts.Subscribed++
		case StateExpired:
			counts.Expired++
		}
		if e.ConnID != 0 {
			conns[e.ConnID] = append(conns[e.ConnID], id)
			if e.State == StateExpired {
				expired[e.ConnID]++
			} else {
				active[e.ConnID]++
			}
		}
		if e.ConditionID != "" {
			conds[e.ConditionID] = append(conds[e.ConditionID], e)
		}
		if e.State != StateExpired && !e.Expiry.IsZero() {
			h := hourOf(e.Expiry)
			hours[h] = append(hours[h], id)
		}
		return true
	})

	if got := r.entries.Size(); got != len(entryIDs) {
		t.Errorf("entries.Size() = %d; Range saw %d", got, len(entryIDs))
	}
	for s := range states {
		sameSet(t, fmt.Sprintf("state %v", State(s)), setKeys(r.byState[s]), states[s])
	}

	r.byConn.Range(func(id int64, rec *connIndex) bool {
		if _, ok := conns[id]; !ok {
			t.Errorf("connection %d indexed but no entry is on it", id)
		}
		return true
	})
	for id, want := range conns {
		rec, ok := r.byConn.Load(id)
		if !ok {
			t.Errorf("connection %d missing from index", id)
			continue
		}
		sameSet(t, fmt.Sprintf("connection %d", id), setKeys(rec.assets), want)
		if a, e := rec.load(); a != active[id] || e != expired[id] {
			t.Errorf("connection %d counts = %d active %d expired; want %d, %d", id, a, e, active[id], expired[id])
		}
	}

	r.byCond.Range(func(id string, _ []string) bool {
		if _, ok := conds[id]; !ok {
			t.Errorf("condition %q indexed but has no entry", id)
		}
		return true
	})
	for id, es := range conds {
		slices.SortFunc(es, func(a, b entry) int { return cmp.Compare(a.seq, b.seq) })
		var want []string
		for _, e := range es {
			want = append(want, e.AssetID)
		}
		got, _ := r.byCond.Load(id)
		if !slices.Equal(got, want) {
			t.Errorf("condition %q = %v; want %v (add order)", id, got, want)
		}
	}

	r.byExpiry.Range(func(h int64, set *idSet) bool {
		if _, ok := hours[h]; !ok {
			t.Errorf("expiry hour %d indexed with %d assets but none expire then", h, set.Size())
		}
		return true
	})
	for h, want := range hours {
		set, ok := r.byExpiry.Load(h)
		if !ok {
			t.Errorf("expiry hour %d missing from index", h)
			continue
		}
		sameSet(t, fmt.Sprintf("expiry hour %d", h), setKeys(set), want)
	}

	if r.cnt != counts {
		t.Errorf("writer counts = %+v; want %+v", r.cnt, counts)
	}
	if got := *r.counts.Load(); got != counts {
		t.Errorf("published counts = %+v; want %+v", got, counts)
	}

	q := &r.queue
	if len(q.items) != len(queue) || len(q.byID) != len(queue) {
		t.Errorf("queue holds %d items / %d ids; want %d claimable", len(q.items), len(q.byID), len(queue))
	}
	for i, it := range q.items {
		if it.index != i {
			t.Errorf("queue item %q at %d records index %d", it.id, i, it.index)
		}
		if seq, ok := queue[it.id]; !ok || seq != it.seq {
			t.Errorf("queue item %q seq %d: claimable=%v with seq %d", it.id, it.seq, ok, seq)
		}
		if q.byID[it.id] != it {
			t.Errorf("queue item %q not the one indexed by id", it.id)
		}
		if i > 0 && q.items[(i-1)/2].seq > it.seq {
			t.Errorf("queue heap order broken at %d", i)
		}
	}
}

func setKeys(s *idSet) []string {
	var ids []string
	s.Range(func(id string, _ struct{}) bool {
		ids = append(ids, id)
		return true
	})
	return ids
}

func sameSet(t testing.TB, what string, got, want []string) {
	t.Helper()
	got, want = slices.Clone(got), slices.Clone(want)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		if len(got)+len(want) > 20 {
			t.Errorf("%s: index has %d ids; entries say %d", what, len(got), len(want))
		} else {
			t.Errorf("%s: index = %v; entries say %v", what, got, want)
		}
	}
}

func TestAssetStateString(t *testing.T) {
	for s, want := range map[State]string{
		StatePending: "PENDING", StateSubscribed: "SUBSCRIBED", StateExpired: "EXPIRED", 7: "UNKNOWN",
	} {
		if got := s.String(); got != want {
			t.Errorf("State(%d).String() = %q; want %q", s, got, want)
		}
	}
}

// want is the expected entry of one asset after a transition; absent from the map means
// the asset must be unknown.
type want struct {
	state   State
	claimed bool
	conn    int64
}

// fixture: market m1 has assets a1, a2; market m2 has b1, b2; added in that order.
func fixture(t *testing.T) *Registry {
	t.Helper()
	r := New(nil)
	for _, a := range []struct{ id, cond string }{{"a1", "m1"}, {"a2", "m1"}, {"b1", "m2"}, {"b2", "m2"}} {
		if !r.Add(a.id, a.cond, t0.Add(time.Hour)) {
			t.Fatalf("Add(%q) = false on an empty registry", a.id)
		}
	}
	return r
}

func expect[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %v; want %v", what, got, want)
	}
}

func TestRegistryTransitions(t *testing.T) {
	pend, sub, exp := StatePending, StateSubscribed, StateExpired
	tests := []struct {
		name string
		run  func(t *testing.T, r *Registry)
		want map[string]want
	}{
		{
			name: "add",
			run: func(t *testing.T, r *Registry) {
				expect(t, `Add("a1") again`, r.Add("a1", "m9", time.Time{}), false)
				expect(t, `Add("")`, r.Add("", "m1", time.Time{}), false)
			},
			want: map[string]want{"a1": {pend, false, 0}, "a2": {pend, false, 0}, "b1": {pend, false, 0}, "b2": {pend, false, 0}},
		},
		{
			name: "take pending oldest first, never twice",
			run: func(t *testing.T, r *Registry) {
				expect(t, "TakePending(3)", r.TakePending(3), []string{"a1", "a2", "b1"})
				expect(t, "TakePending(3) again", r.TakePending(3), []string{"b2"})
				expect(t, "TakePending(3) when all claimed", r.TakePending(3), []string(nil))
				expect(t, "TakePending(0)", r.TakePending(0), []string(nil))
			},
			want: map[string]want{"a1": {pend, true, 0}, "a2": {pend, true, 0}, "b1": {pend, true, 0}, "b2": {pend, true, 0}},
		},
		{
			name: "return pending keeps the original order",
			run: func(t *testing.T, r *Registry) {
				expect(t, "TakePending(4)", r.TakePending(4), []string{"a1", "a2", "b1", "b2"})
				r.ReturnPending([]string{"b2", "a1", "zz"})
				expect(t, "TakePending(1)", r.TakePending(1), []string{"a1"})
				r.ReturnPending([]string{"a1", "a1"})
				expect(t, "TakePending(4)", r.TakePending(4), []string{"a1", "b2"})
				r.ReturnPending([]string{"b1"})
			},
			want: map[string]want{"a1": {pend, true, 0}, "a2": {pend, true, 0}, "b1": {pend, false, 0}, "b2": {pend, true, 0}},
		},
		{
			name: "mark subscribed from claimed and unclaimed pending",
			run: func(t *testing.T, r *Registry) {
				ids := r.TakePending(2)
				r.MarkSubscribed(ids, 7)
				r.MarkSubscribed([]string{"b1", "zz"}, 8)
				r.MarkSubscribed([]string{"a1", "b1"}, 9) // already subscribed: no move
				r.MarkSubscribed([]string{"b2"}, 0)       // 0 is no connection
				expect(t, "TakePending(4)", r.TakePending(4), []string{"b2"})
			},
			want: map[string]want{"a1": {sub, false, 7}, "a2": {sub, false, 7}, "b1": {sub, false, 8}, "b2": {pend, true, 0}},
		},
		{
			name: "mark expired from every state",
			run: func(t *testing.T, r *Registry) {
				r.MarkSubscribed([]string{"a1"}, 7)
				expect(t, "TakePending(2)", r.TakePending(2), []string{"a2", "b1"})
				r.MarkExpired([]string{"a1", "a2", "b2", "zz"}, t0)
				r.MarkSubscribed([]string{"a2"}, 7) // expired while the subscription was in flight
				r.ReturnPending([]string{"a2"})
				expect(t, "TakePending(4)", r.TakePending(4), []string(nil))
				r.MarkExpired([]string{"a1"}, t0.Add(time.Hour)) // keeps the first ExpiredAt
				e, _ := r.Get("a1")
				expect(t, "a1 ExpiredAt", e.ExpiredAt, t0)
				expect(t, `re-Add("a1")`, r.Add("a1", "m1", time.Time{}), false)
			},
			want: map[string]want{"a1": {exp, false, 7}, "a2": {exp, false, 0}, "b1": {pend, true, 0}, "b2": {exp, false, 0}},
		},
		{
			name: "expire a market by condition",
			run: func(t *testing.T, r *Registry) {
				r.MarkExpired([]string{"a2"}, t0)
				r.MarkExpired(r.ByCondition("m1"), t0)
				r.MarkExpired(r.ByCondition("m3"), t0)
			},
			want: map[string]want{"a1": {exp, false, 0}, "a2": {exp, false, 0}, "b1": {pend, false, 0}, "b2": {pend, false, 0}},
		},
		{
			name: "reassign only from the current connection",
			run: func(t *testing.T, r *Registry) {
				r.MarkSubscribed([]string{"a1", "a2"}, 7)
				r.MarkSubscribed([]string{"b1"}, 8)
				r.MarkExpired([]string{"a2"}, t0)
				expect(t, "Reassign(a1, 7, 9)", r.Reassign("a1", 7, 9), true)
				expect(t, "Reassign(a1, 7, 9) again", r.Reassign("a1", 7, 9), false)
				expect(t, "Reassign(a1, 9, 9)", r.Reassign("a1", 9, 9), true)
				expect(t, "Reassign(a2 expired)", r.Reassign("a2", 7, 9), false)
				expect(t, "Reassign(b1, 8, 0)", r.Reassign("b1", 8, 0), false)
				expect(t, "Reassign(b2 pending)", r.Reassign("b2", 0, 9), false)
				expect(t, "Reassign(unknown)", r.Reassign("zz", 7, 9), false)
			},
			want: map[string]want{"a1": {sub, false, 9}, "a2": {exp, false, 7}, "b1": {sub, false, 8}, "b2": {pend, false, 0}},
		},
		{
			name: "remove connection",
			run: func(t *testing.T, r *Registry) {
				r.MarkSubscribed([]string{"b1", "a1", "a2"}, 7)
				r.MarkSubscribed([]string{"b2"}, 8)
				r.MarkExpired([]string{"a2"}, t0)
				expect(t, "RemoveConnection(7)", r.RemoveConnection(7), []string{"a1", "b1"})
				expect(t, "RemoveConnection(7) again", r.RemoveConnection(7), []string(nil))
				expect(t, "ConnStats(7)", r.ConnStats(7), ConnStats{})
				expect(t, "TakePending(1)", r.TakePending(1), []string{"a1"})
			},
			want: map[string]want{"a1": {pend, true, 0}, "a2": {exp, false, 0}, "b1": {pend, false, 0}, "b2": {sub, false, 8}},
		},
		{
			name: "remove, then add again as a new asset",
			run: func(t *testing.T, r *Registry) {
				r.MarkSubscribed([]string{"a2"}, 7)
				r.MarkExpired([]string{"a2"}, t0)
				expect(t, `Remove("a1")`, r.Remove("a1"), true)
				expect(t, `Remove("a1") again`, r.Remove("a1"), false)
				expect(t, `Remove("a2")`, r.Remove("a2"), true)
				expect(t, "ByCondition(m1)", r.ByCondition("m1"), []string(nil))
				expect(t, `Add("a1")`, r.Add("a1", "m1", time.Time{}), true)
				expect(t, "TakePending(2)", r.TakePending(2), []string{"b1", "b2"}) // a1 is now newest
			},
			want: map[string]want{"a1": {pend, false, 0}, "b1": {pend, true, 0}, "b2": {pend, true, 0}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fixture(t)
			tt.run(t, r)
			checkConsistency(t, r)
			checkWant(t, r, tt.want)
		})
	}
}

// checkWant checks every reader against the expected entries.
func checkWant(t *testing.T, r *Registry, want map[string]want) {
	t.Helper()
	var (
		counts  Counts
		byState [stateCount][]string
		byConn  = map[int64][]string{}
		stats   = map[int64]ConnStats{}
		byCond  = map[string][]string{}
	)
	for _, id := range []string{"a1", "a2", "b1", "b2"} {
		w, ok := want[id]
		e, got := r.Get(id)
		if got != ok {
			t.Errorf("Get(%q) found = %v; want %v", id, got, ok)
			continue
		}
		if !ok {
			continue
		}
		if e.State != w.state || e.Claimed != w.claimed || e.ConnID != w.conn {
			t.Errorf("Get(%q) = %v claimed=%v conn=%d; want %v claimed=%v conn=%d",
				id, e.State, e.Claimed, e.ConnID, w.state, w.claimed, w.conn)
		}
		byState[w.state] = append(byState[w.state], id)
		byCond[id[:1]] = append(byCond[id[:1]], id)
		counts.Total++
		switch w.state {
		case StatePending:
			counts.Pending++
			if w.claimed {
				counts.Claimed++
			}
		case StateSubscribed:
			counts.Subscribed++
		case StateExpired:
			counts.Expired++
		}
		if w.conn != 0 {
			byConn[w.conn] = append(byConn[w.conn], id)
			s := stats[w.conn]
			s.Total++
			if w.state == StateExpired {
				s.Expired++
			} else {
				s.Active++
			}
			s.Pollution = float64(s.Expired) / float64(s.Total)
			stats[w.conn] = s
		}
	}
	expect(t, "Counts()", r.Counts(), counts)
	for s := range byState {
		expect(t, fmt.Sprintf("ByState(%v)", State(s)), r.ByState(State(s)), byState[s])
	}
	conns := []int64{}
	for c, ids := range byConn {
		conns = append(conns, c)
		expect(t, fmt.Sprintf("ByConnection(%d)", c), r.byConnection(c), ids)
		expect(t, fmt.Sprintf("ConnStats(%d)", c), r.ConnStats(c), stats[c])
		var act []string
		for _, id := range ids {
			if want[id].state == StateSubscribed {
				act = append(act, id)
			}
		}
		expect(t, fmt.Sprintf("ActiveByConnection(%d)", c), r.ActiveByConnection(c), act)
	}
	slices.Sort(conns)
	expect(t, "conns()", append([]int64{}, r.conns()...), conns)
	conds := []string{}
	for prefix, cond := range map[string]string{"a": "m1", "b": "m2"} {
		if len(byCond[prefix]) > 0 {
			conds = append(conds, cond)
		}
		expect(t, fmt.Sprintf("ByCondition(%s)", cond), r.ByCondition(cond), byCond[prefix])
	}
	slices.Sort(conds)
	expect(t, "conditions()", append([]string{}, r.conditions()...), conds)
}

func TestRegistryPollution(t *testing.T) {
	tests := []struct {
		active, expired int
		want            float64
	}{
		{0, 0, 0}, {4, 0, 0}, {3, 1, 0.25}, {7, 3, 0.3}, {1, 2, 2.0 / 3}, {0, 2, 1},
	}
	for _, tt := range tests {
		r := New(nil)
		var ids []string
		for i := range tt.active + tt.expired {
			id := fmt.Sprint("x", i)
			r.Add(id, "m", time.Time{})
			ids = append(ids, id)
		}
		r.MarkSubscribed(ids, 5)
		r.MarkExpired(ids[:tt.expired], t0)
		want := ConnStats{Total: tt.active + tt.expired, Active: tt.active, Expired: tt.expired, Pollution: tt.want}
		if got := r.ConnStats(5); got != want {
			t.Errorf("%d active, %d expired: ConnStats = %+v; want %+v", tt.active, tt.expired, got, want)
		}
		checkConsistency(t, r)
	}
}

func TestRegistryExpiringBefore(t *testing.T) {
	r := New(nil)
	add := map[string]time.Time{
		"late":    t0.Add(48 * time.Hour),
		"same1":   t0.Add(-time.Minute),
		"same0":   t0.Add(-time.Minute),
		"exact":   t0,                        // not before t
		"inhour":  t0.Add(-30 * time.Second), // same hour bucket as t
		"early":   t0.Add(-5 * time.Hour),
		"never":   {},
		"expired": t0.Add(-10 * time.Hour),
		"subbed":  t0.Add(-2 * time.Hour),
		"prehist": time.Date(1960, 1, 1, 0, 0, 1, 0, time.UTC), // negative Unix time
	}
	for id, exp := range add {
		r.Add(id, "m-"+id, exp)
	}
	r.MarkExpired([]string{"expired"}, t0)
	r.MarkSubscribed([]string{"subbed"}, 3)

	expect(t, "ExpiringBefore(t0)", r.ExpiringBefore(t0),
		[]string{"prehist", "early", "subbed", "same0", "same1", "inhour"})
	expect(t, "ExpiringBefore(t0-5h)", r.ExpiringBefore(t0.Add(-5*time.Hour)), []string{"prehist"})
	expect(t, "ExpiringBefore(1900)", r.ExpiringBefore(time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)), []string(nil))
	expect(t, "len(ExpiringBefore(t0+1y))", len(r.ExpiringBefore(t0.AddDate(1, 0, 0))), len(add)-2)

	r.MarkExpired(r.ExpiringBefore(t0), t0.Add(time.Minute))
	expect(t, "ExpiringBefore(t0) after expiring them", r.ExpiringBefore(t0), []string(nil))
	expect(t, "ExpiredBefore(t0+1m)", r.ExpiredBefore(t0.Add(time.Minute)), []string{"expired"})
	expect(t, "len(ExpiredBefore(t0+2m))", len(r.ExpiredBefore(t0.Add(2*time.Minute))), 7)
	expect(t, "ConnStats(3)", r.ConnStats(3), ConnStats{Total: 1, Expired: 1, Pollution: 1})
	checkConsistency(t, r)

	for _, id := range r.ExpiredBefore(t0.Add(time.Hour)) {
		r.Remove(id)
	}
	expect(t, "Counts() after cleanup", r.Counts(), Counts{Total: 3, Pending: 3})
	checkConsistency(t, r)
}

func TestRegistryHourBuckets(t *testing.T) {
	for _, tt := range []struct {
		t    time.Time
		want int64
	}{
		{time.Unix(0, 0), 0}, {time.Unix(3599, 999), 0}, {time.Unix(3600, 0), 1},
		{time.Unix(-1, 0), -1}, {time.Unix(-3600, 0), -1}, {time.Unix(-3601, 0), -2},
	} {
		if got := hourOf(tt.t); got != tt.want {
			t.Errorf("hourOf(%d) = %d; want %d", tt.t.Unix(), got, tt.want)
		}
	}
}

func TestRegistryUpdated(t *testing.T) {
	r := New(nil)
	signalled := func() bool {
		select {
		case <-r.Updated():
			return true
		default:
			return false
		}
	}
	expect(t, "signal on a new registry", signalled(), false)
	r.Add("a", "m", time.Time{})
	r.Add("b", "m", time.Time{})
	expect(t, "signal after Add", signalled(), true)
	expect(t, "second signal (coalesced)", signalled(), false)
	ids := r.TakePending(2)
	expect(t, "signal after TakePending", signalled(), false)
	r.ReturnPending(ids[:1])
	expect(t, "signal after ReturnPending", signalled(), true)
	r.MarkSubscribed(ids, 1)
	r.MarkExpired([]string{"b"}, t0)
	expect(t, "signal after MarkSubscribed/MarkExpired", signalled(), false)
	r.RemoveConnection(1)
	expect(t, "signal after RemoveConnection", signalled(), true)
	c := r.Counts()
	expect(t, "claimable after RemoveConnection", c.Pending-c.Claimed, 1)
}

func TestRegistrySubscribedAt(t *testing.T) {
	r := fixture(t)
	before := time.Now()
	r.MarkSubscribed([]string{"a1"}, 1)
	r.Reassign("a1", 1, 2)
	after := time.Now()
	e, _ := r.Get("a1")
	if e.SubscribedAt.Before(before) || e.SubscribedAt.After(after) {
		t.Errorf("SubscribedAt = %v; want within [%v, %v]", e.SubscribedAt, before, after)
	}
	r.RemoveConnection(2)
	if e, _ := r.Get("a1"); !e.SubscribedAt.IsZero() {
		t.Errorf("SubscribedAt after RemoveConnection = %v; want zero", e.SubscribedAt)
	}
}

// TestRegistryStress runs the control plane's writers (pool takes and subscribes, recycler
// moves and drops connections, lifecycle adds, expires and cleans up) against lock-free
// readers, then checks that no asset was ever held by two claimers and that every index
// agrees with the entries.
func TestRegistryStress(t *testing.T) {
	markets, pools, readers := 10_000, 3, 3
	if testing.Short() {
		markets = 2_000
	}
	r := New(nil)
	var (
		stop    atomic.Bool
		nErr    atomic.Int64
		holders sync.Map // asset → pool currently holding its claim
		claims  atomic.Int64
		subs    atomic.Int64
		moves   atomic.Int64
		reads   atomic.Int64
		wg      sync.WaitGroup
	)
	fail := func(format string, args ...any) {
		if nErr.Add(1) <= 10 {
			t.Errorf(format, args...)
		}
	}
	defer func() { stop.Store(true); wg.Wait() }() // also when a check fails early
	connsOf := func(p int) int64 { return int64(p*100 + 1) }
	asset := func(m int, side byte) string { return fmt.Sprintf("%d-%c", m, side) }

	for p := range pools {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(p), 1))
			for !stop.Load() {
				ids := r.TakePending(1 + rng.IntN(64))
				if len(ids) == 0 {
					select {
					case <-r.Updated():
					case <-time.After(time.Millisecond):
					}
					continue
				}
				for _, id := range ids {
					if prev, loaded := holders.LoadOrStore(id, p); loaded {
						fail("asset %s claimed by pool %d while pool %v holds it", id, p, prev)
					}
				}
				claims.Add(int64(len(ids)))
				cut := len(ids) * 4 / 5
				// Release before the call: once the registry processes it, another pool may claim.
				for _, id := range ids {
					holders.Delete(id)
				}
				r.MarkSubscribed(ids[:cut], connsOf(p)+int64(rng.IntN(20)))
				r.ReturnPending(ids[cut:])
				subs.Add(int64(cut))
			}
		})
	}

	wg.Go(func() { // recycler
		rng := rand.New(rand.NewPCG(7, 7))
		for !stop.Load() {
			conns := r.conns()
			if len(conns) == 0 {
				time.Sleep(time.Millisecond) // pacing, not a wait: nothing to recycle yet, so do not spin
				continue
			}
			c := conns[rng.IntN(len(conns))]
			if rng.IntN(4) == 0 {
				r.RemoveConnection(c)
				continue
			}
			to := connsOf(rng.IntN(pools)) + int64(rng.IntN(20))
			for _, id := range r.ActiveByConnection(c) {
				if r.Reassign(id, c+1000, to) {
					fail("Reassign(%s) from a connection it was never on succeeded", id)
				}
				if r.Reassign(id, c, to) {
					moves.Add(1)
				}
			}
		}
	})

	for i := range readers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 99))
			for !stop.Load() {
				reads.Add(1)
				if e, ok := r.Get(asset(rng.IntN(markets), "yn"[rng.IntN(2)])); ok {
					if e.State == StatePending && e.ConnID != 0 || e.State == StateSubscribed && e.ConnID == 0 ||
						e.Claimed && e.State != StatePending {
						fail("Get returned an impossible entry %+v", e)
					}
				}
				c := r.Counts()
				if c.Total != c.Pending+c.Subscribed+c.Expired || c.Claimed > c.Pending || c.Claimed < 0 || c.Total > 2*markets {
					fail("Counts() = %+v is not a consistent snapshot", c)
				}
				conn := connsOf(rng.IntN(pools)) + int64(rng.IntN(20))
				s := r.ConnStats(conn)
				if s.Total != s.Active+s.Expired || s.Active < 0 || s.Expired < 0 ||
					s.Total > 0 && s.Pollution != float64(s.Expired)/float64(s.Total) || s.Total == 0 && s.Pollution != 0 {
					fail("ConnStats(%d) = %+v is not consistent", conn, s)
				}
				ids := r.byConnection(conn)
				if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
					fail("byConnection(%d) not sorted and unique: %d ids", conn, len(ids))
				}
				if rng.IntN(50) == 0 {
					r.ExpiringBefore(t0.Add(time.Duration(rng.IntN(markets)) * time.Minute))
				}
			}
		})
	}

	// Lifecycle: add markets in discovery-sized batches, expire those whose end passed on a
	// virtual clock (and some by resolution), remove expired ones after a grace period.
	removed := map[string]bool{}
	added := 0
	clock := t0
	for m := 0; m < markets; m++ {
		for _, side := range []byte("yn") {
			if !r.Add(asset(m, side), fmt.Sprint("c", m), t0.Add(time.Duration(m)*time.Minute)) {
				t.Fatalf("Add(%s) = false for a new asset", asset(m, side))
			}
			added++
		}
		if m%50 != 49 {
			continue
		}
		clock = clock.Add(20 * time.Minute) // markets expire at 1/min, arrive at 50/batch: ~40% expire
		r.MarkExpired(r.ExpiringBefore(clock), clock)
		r.MarkExpired(r.ByCondition(fmt.Sprint("c", m-7)), clock) // resolved, as the lifecycle expires it
		for _, id := range r.ExpiredBefore(clock.Add(-time.Hour)) {
			if r.Remove(id) {
				removed[id] = true
			}
		}
		for range 5 { // an expired or live asset must never come back through Add
			id := asset(rand.IntN(m+1), 'y')
			if !removed[id] && r.Add(id, "other", time.Time{}) {
				t.Errorf("Add(%s) = true for a known asset", id)
			}
		}
	}
	// Let the pools catch up with the last batch before stopping everyone.
	poll.Until(t, 30*time.Second, "the pools to claim every pending asset", func() bool {
		c := r.Counts()
		return c.Pending-c.Claimed == 0
	})
	stop.Store(true)
	wg.Wait()

	checkConsistency(t, r)
	c := r.Counts()
	if want := added - len(removed); c.Total != want {
		t.Errorf("Counts().Total = %d; want %d added - %d removed", c.Total, added, len(removed))
	}
	if c.Claimed != 0 {
		t.Errorf("Counts().Claimed = %d after every pool settled its claims", c.Claimed)
	}
	for m := range markets {
		for _, side := range []byte("yn") {
			id := asset(m, side)
			if _, ok := r.Get(id); ok == removed[id] {
				t.Fatalf("Get(%s) found = %v; removed = %v", id, ok, removed[id])
			}
		}
	}
	// Whatever is pending comes out oldest first.
	ids := r.TakePending(2 * markets)
	if len(ids) != c.Pending {
		t.Errorf("final TakePending got %d; want %d pending", len(ids), c.Pending)
	}
	for i := 1; i < len(ids); i++ {
		a, _ := r.entries.Load(ids[i-1])
		b, _ := r.entries.Load(ids[i])
		if a.seq >= b.seq {
			t.Fatalf("final TakePending out of add order at %d: %s before %s", i, ids[i-1], ids[i])
		}
	}
	checkConsistency(t, r)
	if claims.Load() < int64(added) || subs.Load() == 0 || moves.Load() == 0 || reads.Load() == 0 || len(removed) == 0 || c.Expired == 0 {
		t.Errorf("stress did not exercise every path: claims %d (added %d), subscribed %d, moves %d, reads %d, removed %d, expired %d",
			claims.Load(), added, subs.Load(), moves.Load(), reads.Load(), len(removed), c.Expired)
	}
	t.Logf("%d assets: %d claims, %d subscribes, %d moves, %d reader rounds, %d removed; final %+v",
		added, claims.Load(), subs.Load(), moves.Load(), reads.Load(), len(removed), c)
}

func benchRegistry(b *testing.B, n int) (*Registry, []string) {
	b.Helper()
	r := New(nil)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%077d", i) // asset ids are 77-digit decimals
		r.Add(ids[i], fmt.Sprint("c", i/2), t0.Add(time.Duration(i)*time.Minute))
	}
	return r, ids
}

func BenchmarkRegistryGet(b *testing.B) {
	r, ids := benchRegistry(b, 20_000)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(ids))
		for pb.Next() {
			if _, ok := r.Get(ids[i]); !ok {
				b.Fatal("asset missing")
			}
			if i++; i == len(ids) {
				i = 0
			}
		}
	})
}

func BenchmarkRegistryConnStats(b *testing.B) {
	r, ids := benchRegistry(b, 20_000)
	for c := range 100 {
		r.MarkSubscribed(ids[c*200:(c+1)*200], int64(c+1))
		r.MarkExpired(ids[c*200:c*200+30], t0)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := int64(rand.IntN(100))
		for pb.Next() {
			if s := r.ConnStats(c%100 + 1); s.Total != 200 {
				b.Fatalf("ConnStats = %+v", s)
			}
			c++
		}
	})
}

// BenchmarkRegistryTakeSubscribe is the pool's cycle: claim a connection's worth of pending
// assets and mark them subscribed. ns/asset divides by the batch.
func BenchmarkRegistryTakeSubscribe(b *testing.B) {
	const batch, conns = 200, 100
	r, _ := benchRegistry(b, batch*conns)
	b.ReportAllocs()
	conn := int64(0)
	for b.Loop() {
		ids := r.TakePending(batch)
		if len(ids) == 0 {
			b.StopTimer()
			for c := range conn {
				r.RemoveConnection(c + 1)
			}
			conn = 0
			b.StartTimer()
			ids = r.TakePending(batch)
		}
		conn++
		r.MarkSubscribed(ids, conn)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/asset")
}

// Revive brings an expired market's assets back as PENDING, off their old connection and
// behind the assets already waiting; removed ones are added again; live ones and another
// market's are left alone.
func TestRegistryRevive(t *testing.T) {
	r := New(nil)
	end := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, id := range []string{"a", "b", "c", "other"} {
		cond := "m"
		if id == "other" {
			cond = "n"
		}
		r.Add(id, cond, end)
	}
	r.MarkSubscribed(r.TakePending(4), 7)
	r.MarkExpired([]string{"a", "b", "other"}, end)
	r.Remove("b")
	r.Add("waiting", "w", time.Time{})
	later := end.Add(24 * time.Hour)
	got := r.Revive([]string{"a", "b", "c", "other", ""}, "m", later)
	if !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("Revive changed %v; want [a b] (c is live, other belongs to another market)", got)
	}
	for _, id := range []string{"a", "b"} {
		e, ok := r.Get(id)
		if !ok || e.State != StatePending || e.ConnID != 0 || !e.Expiry.Equal(later) || !e.ExpiredAt.IsZero() || e.ConditionID != "m" {
			t.Errorf("revived %s = %+v; want PENDING on no connection, expiry %v", id, e, later)
		}
	}
	if e, _ := r.Get("other"); e.State != StateExpired {
		t.Errorf("another market's asset %v; want EXPIRED", e.State)
	}
	if s := r.ConnStats(7); s.Total != 2 || s.Active != 1 || s.Expired != 1 {
		t.Errorf("connection 7 stats %+v; want c and the other market's expired asset (the revived ones left it)", s)
	}
	if ids := r.TakePending(3); !slices.Equal(ids, []string{"waiting", "a", "b"}) {
		t.Errorf("TakePending = %v; want the waiting asset first, then the revived ones", ids)
	}
	if c := r.Counts(); c.Total != 5 || c.Pending != 3 || c.Subscribed != 1 || c.Expired != 1 {
		t.Errorf("counts %+v", c)
	}
}

// Views of the indexes that only the tests need (the control plane asks
// ActiveByConnection, ByCondition and ConnStats).

// byConnection returns the assets on a connection (SUBSCRIBED and EXPIRED), sorted.
func (r *Registry) byConnection(connID int64) []string { return r.onConn(connID, false) }

// conns returns the connections with assets, sorted.
func (r *Registry) conns() []int64 {
	var ids []int64
	r.byConn.Range(func(id int64, _ *connIndex) bool {
		ids = append(ids, id)
		return true
	})
	slices.Sort(ids)
	return ids
}

// conditions returns the known market ids, sorted.
func (r *Registry) conditions() []string {
	var ids []string
	r.byCond.Range(func(id string, _ []string) bool {
		ids = append(ids, id)
		return true
	})
	slices.Sort(ids)
	return ids
}
