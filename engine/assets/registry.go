// Package assets is the asset registry: every known asset (token), its state
// (PENDING → SUBSCRIBED → EXPIRED → removed) and the connection carrying it, indexed
// by connection, market, state and expiry. The pool claims pending assets from it, the
// market lifecycle adds and expires them, the recycler reassigns them.
//
// Concurrency: every Registry method may be called from any goroutine; readers never
// wait for writers (see Registry).
package assets

import (
	"cmp"
	"container/heap"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/puzpuzpuz/xsync/v3"
)

// State is where an asset is in its life: PENDING → SUBSCRIBED → EXPIRED → removed.
type State uint8

const (
	// StatePending: known, not subscribed on any connection. A pending asset handed out by
	// TakePending is additionally Claimed until it is subscribed, returned or expired.
	StatePending State = iota
	// StateSubscribed: subscribed on connection ConnID.
	StateSubscribed
	// StateExpired: the market ended. Terminal until Remove or Revive (Gamma lists the market
	// open again); ConnID is kept so the connection's pollution ratio counts it.
	StateExpired

	stateCount = 3
)

// String returns the upper-case state name used in stats.
func (s State) String() string {
	switch s {
	case StatePending:
		return "PENDING"
	case StateSubscribed:
		return "SUBSCRIBED"
	case StateExpired:
		return "EXPIRED"
	}
	return "UNKNOWN"
}

// Entry is a snapshot of one asset in the Registry. Connection id 0 means "none": the pool
// must number its connections from 1.
type Entry struct {
	AssetID     string
	ConditionID string // the market the asset belongs to
	State       State
	// Claimed is true for a PENDING asset handed out by TakePending and not yet subscribed,
	// returned or expired: no other TakePending caller can get it.
	Claimed bool
	ConnID  int64     // SUBSCRIBED: its connection; EXPIRED: the connection it expired on, or 0
	Expiry  time.Time // the market's end date; zero means it never expires by date
	// SubscribedAt is when the asset was subscribed on (or reassigned to) its current connection.
	SubscribedAt time.Time
	ExpiredAt    time.Time
}

// ConnStats is what the registry knows about one connection. Pollution is Expired/Total
// (0 when Total is 0): the share of the connection's subscriptions that carry no more data.
type ConnStats struct {
	Total     int // Active + Expired
	Active    int // SUBSCRIBED on this connection
	Expired   int // EXPIRED while on this connection
	Pollution float64
}

// Counts counts assets per state. Claimed is the part of Pending handed out by
// TakePending; Total = Pending + Subscribed + Expired.
type Counts struct {
	Total, Pending, Claimed, Subscribed, Expired int
}

// Registry holds every known asset, its state and its connection, indexed by connection,
// condition (market), state and expiry. It must be created with New and must not be
// copied.
//
// Concurrency: all methods may be called from any goroutine.
//
// Writers (Add, TakePending, ReturnPending, Mark*, Reassign, Remove*) are the control plane:
// a few hundred calls per minute, each touching at most a connection's worth of assets. They
// serialize on one mutex, which makes every transition and every index update of a call atomic
// with respect to the other writers, and makes "two TakePending callers never get the same
// asset" a plain consequence of mutual exclusion.
//
// Readers never take that mutex. Get, ConnStats, Counts, Pending and Len are lock-free loads of
// immutable values (xsync MapOf.Load, atomics). The listing methods walk xsync maps with Range,
// which holds one hash bucket's lock only while copying that bucket, so a reader waits at most
// for a single in-flight map store, never for a writer's whole call.
//
// Consistency argument. The entry map is the single source of truth: each entry value is
// immutable and replaced whole by one Store, so a reader sees an asset either before or after
// a transition, never half of it. Every transition goes through apply, which (1) adds the
// index memberships the new value gains, (2) stores the new value, (3) removes the memberships
// the old value loses. Hence at every instant each set index is a superset of the assets whose
// current entry belongs to it, and between writer calls it is exactly that set. Listing methods
// keep only members whose current entry still matches, so what they return agrees with Get at
// the moment each member was checked. Counters (Counts, ConnStats) are maintained under the
// mutex: Counts is one snapshot published at the end of each writer call; a connection's
// Active/Expired pair is packed into one atomic word, so Pollution is never computed from two
// different moments. A listing that runs during a writer call may reflect part of that call
// (e.g. half of a MarkSubscribed batch); it never reflects a state the registry was not in.
type Registry struct {
	entries  *xsync.MapOf[string, entry]
	byState  [stateCount]*idSet
	byConn   *xsync.MapOf[int64, *connIndex]
	byCond   *xsync.MapOf[string, []string] // immutable slices, replaced on change (a market has ~2 assets)
	byExpiry *xsync.MapOf[int64, *idSet]    // hour bucket → live assets expiring in it
	counts   atomic.Pointer[Counts]
	updated  chan struct{} // 1-buffered: coalesces "claimable assets appeared" signals

	mu    sync.Mutex // serializes writers; guards the fields below
	seq   uint64     // add sequence: TakePending order
	cnt   Counts
	queue queue // claimable assets, oldest first
	dirty bool  // cnt changed since it was last published
	wake  bool  // claimable assets appeared during this call

	now func() time.Time // stamps SubscribedAt
}

// idSet is a concurrent set of asset ids.
type idSet = xsync.MapOf[string, struct{}]

// entry is the stored value: the public snapshot plus the add sequence that orders pending
// assets (kept across claim/return/resubscribe, so returned assets keep their place in line).
type entry struct {
	Entry
	seq uint64
}

// connIndex indexes one connection: its assets (SUBSCRIBED or EXPIRED with this ConnID) and their
// counts packed as active | expired<<32 so ConnStats reads both with one atomic load.
type connIndex struct {
	assets *idSet
	packed atomic.Uint64
}

func (c *connIndex) load() (active, expired int) {
	p := c.packed.Load()
	return int(uint32(p)), int(p >> 32)
}

// New returns an empty registry stamping SubscribedAt with now (nil: time.Now).
func New(now func() time.Time) *Registry {
	if now == nil {
		now = time.Now
	}
	r := &Registry{
		now:      now,
		entries:  xsync.NewMapOf[string, entry](),
		byConn:   xsync.NewMapOf[int64, *connIndex](),
		byCond:   xsync.NewMapOf[string, []string](),
		byExpiry: xsync.NewMapOf[int64, *idSet](),
		updated:  make(chan struct{}, 1),
		queue:    queue{byID: make(map[string]*queued)},
	}
	for i := range r.byState {
		r.byState[i] = xsync.NewMapOf[string, struct{}]()
	}
	r.counts.Store(&Counts{})
	return r
}

// Add registers a new asset as PENDING. It returns false, changing nothing, if assetID is empty
// or already known in any state: in particular Add never brings an EXPIRED asset back (Revive
// does, for a market that is live again).
func (r *Registry) Add(assetID, conditionID string, expiry time.Time) bool {
	if assetID == "" {
		return false
	}
	r.mu.Lock()
	defer r.unlock()
	if _, ok := r.entries.Load(assetID); ok {
		return false
	}
	r.seq++
	nw := entry{
		Entry: Entry{AssetID: assetID, ConditionID: conditionID, State: StatePending, Expiry: expiry},
		seq:   r.seq,
	}
	r.apply(nil, &nw)
	return true
}

// Revive makes the assets of a market that was expired and is live again PENDING (unclaimed,
// behind every asset already waiting), with a new expiry: an EXPIRED asset leaves its old
// connection, an unknown one (removed after its grace) is added again. Assets PENDING or
// SUBSCRIBED are left alone, as are those of another market. It returns the ids it changed.
func (r *Registry) Revive(ids []string, conditionID string, expiry time.Time) []string {
	r.mu.Lock()
	defer r.unlock()
	var changed []string
	for _, id := range ids {
		if id == "" {
			continue
		}
		old, ok := r.entries.Load(id)
		if ok && (old.State != StateExpired || old.ConditionID != conditionID) {
			continue
		}
		r.seq++
		nw := entry{
			Entry: Entry{AssetID: id, ConditionID: conditionID, State: StatePending, Expiry: expiry},
			seq:   r.seq,
		}
		if ok {
			r.apply(&old, &nw)
		} else {
			r.apply(nil, &nw)
		}
		changed = append(changed, id)
	}
	return changed
}

// Get returns a snapshot of the asset's entry. Lock-free.
func (r *Registry) Get(assetID string) (Entry, bool) {
	e, ok := r.entries.Load(assetID)
	return e.Entry, ok
}

// TakePending claims up to max unclaimed PENDING assets, oldest (by Add) first. A claimed asset
// is not returned again until ReturnPending or RemoveConnection puts it back; the caller must
// eventually MarkSubscribed or ReturnPending each id it got.
func (r *Registry) TakePending(max int) []string {
	if max <= 0 {
		return nil
	}
	r.mu.Lock()
	defer r.unlock()
	n := min(max, r.queue.Len())
	if n == 0 {
		return nil
	}
	ids := make([]string, 0, n)
	for len(ids) < n {
		id := r.queue.items[0].id
		old, ok := r.entries.Load(id)
		if !ok { // unreachable while the queue invariant holds; never loop forever on it
			r.queue.remove(id)
			n = min(max, len(ids)+r.queue.Len())
			continue
		}
		nw := old
		nw.Claimed = true
		r.apply(&old, &nw) // leaves the queue: no longer claimable
		ids = append(ids, id)
	}
	return ids
}

// ReturnPending gives back claimed assets that were not subscribed. They keep their original
// place in line (ahead of assets added after them). Ids not claimed are ignored.
func (r *Registry) ReturnPending(ids []string) {
	r.mu.Lock()
	defer r.unlock()
	for _, id := range ids {
		old, ok := r.entries.Load(id)
		if !ok || old.State != StatePending || !old.Claimed {
			continue
		}
		nw := old
		nw.Claimed = false
		r.apply(&old, &nw)
	}
}

// MarkSubscribed moves PENDING assets (claimed or not) to SUBSCRIBED on connID. Assets in any
// other state, unknown ids, and connID 0 are ignored: an asset that expired or was removed
// while the subscription was in flight stays as it is.
func (r *Registry) MarkSubscribed(ids []string, connID int64) {
	if connID == 0 {
		return
	}
	now := r.now()
	r.mu.Lock()
	defer r.unlock()
	for _, id := range ids {
		old, ok := r.entries.Load(id)
		if !ok || old.State != StatePending {
			continue
		}
		nw := old
		nw.State, nw.Claimed, nw.ConnID, nw.SubscribedAt = StateSubscribed, false, connID, now
		r.apply(&old, &nw)
	}
}

// MarkExpired moves assets in any state to EXPIRED at time at. A SUBSCRIBED asset keeps its
// ConnID, so it counts in that connection's pollution ratio. Already expired assets keep their
// original ExpiredAt.
func (r *Registry) MarkExpired(ids []string, at time.Time) {
	r.mu.Lock()
	defer r.unlock()
	for _, id := range ids {
		r.expire(id, at)
	}
}

// expire expires one asset; r.mu held. It reports whether the state changed.
func (r *Registry) expire(id string, at time.Time) bool {
	old, ok := r.entries.Load(id)
	if !ok || old.State == StateExpired {
		return false
	}
	nw := old
	nw.State, nw.Claimed, nw.ExpiredAt = StateExpired, false, at
	r.apply(&old, &nw)
	return true
}

// Reassign moves a SUBSCRIBED asset from connection from to connection to, as a recycle does
// once the asset's snapshot arrived on the replacement. It returns false, changing nothing,
// unless the asset is SUBSCRIBED on from (and to is not 0). SubscribedAt becomes now.
func (r *Registry) Reassign(assetID string, from, to int64) bool {
	if from == 0 || to == 0 {
		return false
	}
	now := r.now()
	r.mu.Lock()
	defer r.unlock()
	old, ok := r.entries.Load(assetID)
	if !ok || old.State != StateSubscribed || old.ConnID != from {
		return false
	}
	if from == to {
		return true
	}
	nw := old
	nw.ConnID, nw.SubscribedAt = to, now
	r.apply(&old, &nw)
	return true
}

// RemoveConnection forgets a connection: its SUBSCRIBED assets go back to PENDING (unclaimed,
// in their original order) and are returned, oldest first; its EXPIRED assets stay EXPIRED with
// ConnID 0 (no connection left to pollute).
func (r *Registry) RemoveConnection(connID int64) []string {
	if connID == 0 {
		return nil
	}
	r.mu.Lock()
	defer r.unlock()
	rec, ok := r.byConn.Load(connID)
	if !ok {
		return nil
	}
	var members []entry
	rec.assets.Range(func(id string, _ struct{}) bool {
		if e, ok := r.entries.Load(id); ok {
			members = append(members, e)
		}
		return true
	})
	slices.SortFunc(members, func(a, b entry) int { return cmp.Compare(a.seq, b.seq) })
	var live []string
	for _, old := range members {
		nw := old
		nw.ConnID = 0
		if old.State == StateSubscribed {
			nw.State, nw.SubscribedAt = StatePending, time.Time{}
			live = append(live, old.AssetID)
		}
		r.apply(&old, &nw)
	}
	return live
}

// Remove deletes an asset from the registry and every index; false if it was unknown.
func (r *Registry) Remove(assetID string) bool {
	r.mu.Lock()
	defer r.unlock()
	old, ok := r.entries.Load(assetID)
	if !ok {
		return false
	}
	r.apply(&old, nil)
	return true
}

// ExpiringBefore returns the assets not yet EXPIRED whose Expiry is before t, earliest first.
// Assets with a zero Expiry never appear.
func (r *Registry) ExpiringBefore(t time.Time) []string {
	limit := hourOf(t)
	var found []Entry
	r.byExpiry.Range(func(hour int64, set *idSet) bool {
		if hour > limit {
			return true
		}
		set.Range(func(id string, _ struct{}) bool {
			if e, ok := r.entries.Load(id); ok && e.State != StateExpired && !e.Expiry.IsZero() && e.Expiry.Before(t) {
				found = append(found, e.Entry)
			}
			return true
		})
		return true
	})
	return sortedIDs(found, func(e *Entry) time.Time { return e.Expiry })
}

// ExpiredBefore returns the EXPIRED assets whose ExpiredAt is before t, earliest first: the
// ones whose grace period is over and can be removed.
func (r *Registry) ExpiredBefore(t time.Time) []string {
	var found []Entry
	r.byState[StateExpired].Range(func(id string, _ struct{}) bool {
		if e, ok := r.entries.Load(id); ok && e.State == StateExpired && e.ExpiredAt.Before(t) {
			found = append(found, e.Entry)
		}
		return true
	})
	return sortedIDs(found, func(e *Entry) time.Time { return e.ExpiredAt })
}

// ActiveByConnection returns the SUBSCRIBED assets on a connection, sorted by id: the ones a
// replacement connection must subscribe.
func (r *Registry) ActiveByConnection(connID int64) []string {
	return r.onConn(connID, true)
}

func (r *Registry) onConn(connID int64, activeOnly bool) []string {
	rec, ok := r.byConn.Load(connID)
	if !ok || connID == 0 {
		return nil
	}
	var ids []string
	rec.assets.Range(func(id string, _ struct{}) bool {
		if e, ok := r.entries.Load(id); ok && e.ConnID == connID && (!activeOnly || e.State == StateSubscribed) {
			ids = append(ids, id)
		}
		return true
	})
	slices.Sort(ids)
	return ids
}

// ByCondition returns the assets of a market in the order they were added.
func (r *Registry) ByCondition(conditionID string) []string {
	ids, _ := r.byCond.Load(conditionID)
	var out []string
	for _, id := range ids {
		if e, ok := r.entries.Load(id); ok && e.ConditionID == conditionID {
			out = append(out, id)
		}
	}
	return out
}

// ByState returns the assets in a state, sorted by id.
func (r *Registry) ByState(s State) []string {
	if int(s) >= len(r.byState) {
		return nil
	}
	var ids []string
	r.byState[s].Range(func(id string, _ struct{}) bool {
		if e, ok := r.entries.Load(id); ok && e.State == s {
			ids = append(ids, id)
		}
		return true
	})
	slices.Sort(ids)
	return ids
}

// ConnStats returns a connection's asset counts and pollution ratio (zero for an unknown
// connection). Lock-free.
func (r *Registry) ConnStats(connID int64) ConnStats {
	rec, ok := r.byConn.Load(connID)
	if !ok {
		return ConnStats{}
	}
	active, expired := rec.load()
	s := ConnStats{Total: active + expired, Active: active, Expired: expired}
	if s.Total > 0 {
		s.Pollution = float64(expired) / float64(s.Total)
	}
	return s
}

// Counts returns the number of assets per state, as of the end of the last writer call.
// Lock-free.
func (r *Registry) Counts() Counts {
	return *r.counts.Load()
}

// Updated returns a channel that receives a value after a writer call made assets available to
// TakePending (Add, ReturnPending, RemoveConnection); the pool's loop waits on it. Signals coalesce (buffer 1), so it suits
// one waiting loop, which must then drain with TakePending until it gets nothing; a second
// waiter may miss a signal and should fall back to polling Pending.
func (r *Registry) Updated() <-chan struct{} {
	return r.updated
}

// unlock publishes what the writer call changed and releases r.mu.
func (r *Registry) unlock() {
	if r.dirty {
		c := r.cnt
		r.counts.Store(&c)
		r.dirty = false
	}
	if r.wake {
		r.wake = false
		select {
		case r.updated <- struct{}{}:
		default: // a signal is already pending: the waiter will see these assets too
		}
	}
	r.mu.Unlock()
}

// apply moves one asset from old to nw (nil means absent) in the entry map and in every
// index, in the order the consistency argument on Registry relies on: gain memberships, store,
// lose memberships. r.mu must be held.
func (r *Registry) apply(old, nw *entry) {
	var id string
	if nw != nil {
		id = nw.AssetID
	} else {
		id = old.AssetID
	}
	oConn, oActive, oExpired := connShare(old)
	nConn, nActive, nExpired := connShare(nw)
	oHour, oTimed := expiryKey(old)
	nHour, nTimed := expiryKey(nw)

	// 1. Gain.
	if nw != nil {
		if old == nil || old.State != nw.State {
			r.byState[nw.State].Store(id, struct{}{})
		}
		if nw.ConditionID != "" && (old == nil || old.ConditionID != nw.ConditionID) {
			ids, _ := r.byCond.Load(nw.ConditionID)
			r.byCond.Store(nw.ConditionID, append(slices.Clip(ids), id)) // clipped: always a new array
		}
		if nTimed && (!oTimed || oHour != nHour) {
			set, _ := r.byExpiry.LoadOrCompute(nHour, func() *idSet { return xsync.NewMapOf[string, struct{}]() })
			set.Store(id, struct{}{})
		}
	}
	switch {
	case nConn != 0 && nConn == oConn:
		rec, _ := r.byConn.Load(nConn)
		a, e := rec.load()
		rec.packed.Store(pack(a+nActive-oActive, e+nExpired-oExpired))
	case nConn != 0:
		rec, _ := r.byConn.LoadOrCompute(nConn, func() *connIndex {
			return &connIndex{assets: xsync.NewMapOf[string, struct{}]()}
		})
		rec.assets.Store(id, struct{}{})
		a, e := rec.load()
		rec.packed.Store(pack(a+nActive, e+nExpired))
	}

	// 2. Store.
	if nw != nil {
		r.entries.Store(id, *nw)
	} else {
		r.entries.Delete(id)
	}

	// 3. Lose.
	if old != nil {
		if nw == nil || old.State != nw.State {
			r.byState[old.State].Delete(id)
		}
		if old.ConditionID != "" && (nw == nil || old.ConditionID != nw.ConditionID) {
			ids, _ := r.byCond.Load(old.ConditionID)
			if rest := slices.DeleteFunc(slices.Clone(ids), func(s string) bool { return s == id }); len(rest) > 0 {
				r.byCond.Store(old.ConditionID, rest)
			} else {
				r.byCond.Delete(old.ConditionID)
			}
		}
		if oTimed && (!nTimed || oHour != nHour) {
			if set, ok := r.byExpiry.Load(oHour); ok {
				set.Delete(id)
				if set.Size() == 0 { // only writers add to sets, and we hold r.mu: safe to drop
					r.byExpiry.Delete(oHour)
				}
			}
		}
	}
	if oConn != 0 && oConn != nConn {
		if rec, ok := r.byConn.Load(oConn); ok {
			rec.assets.Delete(id)
			a, e := rec.load()
			a, e = a-oActive, e-oExpired
			rec.packed.Store(pack(a, e))
			if a+e == 0 {
				r.byConn.Delete(oConn)
			}
		}
	}

	// Writer-private bookkeeping, published by unlock.
	r.count(old, -1)
	r.count(nw, +1)
	oq, nq := claimable(old), claimable(nw)
	if oq && !nq {
		r.queue.remove(id)
	}
	if nq && !oq {
		r.queue.add(id, nw.seq)
		r.wake = true
	}
}

func (r *Registry) count(e *entry, d int) {
	if e == nil {
		return
	}
	r.dirty = true
	r.cnt.Total += d
	switch e.State {
	case StatePending:
		r.cnt.Pending += d
		if e.Claimed {
			r.cnt.Claimed += d
		}
	case StateSubscribed:
		r.cnt.Subscribed += d
	case StateExpired:
		r.cnt.Expired += d
	}
}

// connShare says which connection an entry counts on and how: only SUBSCRIBED and EXPIRED
// entries carry a ConnID (PENDING ones have 0).
func connShare(e *entry) (conn int64, active, expired int) {
	if e == nil || e.ConnID == 0 {
		return 0, 0, 0
	}
	if e.State == StateExpired {
		return e.ConnID, 0, 1
	}
	return e.ConnID, 1, 0
}

// expiryKey returns the expiry index bucket of an entry; only live, dated entries are
// indexed, so ExpiringBefore only walks candidates.
func expiryKey(e *entry) (int64, bool) {
	if e == nil || e.State == StateExpired || e.Expiry.IsZero() {
		return 0, false
	}
	return hourOf(e.Expiry), true
}

func claimable(e *entry) bool {
	return e != nil && e.State == StatePending && !e.Claimed
}

// hourOf is the expiry bucket of t: hours since the epoch, rounded down. Hours keep the
// bucket count small (markets share end times) while ExpiringBefore filters exactly.
func hourOf(t time.Time) int64 {
	s := t.Unix()
	h := s / 3600
	if s < 0 && s%3600 != 0 {
		h--
	}
	return h
}

func pack(active, expired int) uint64 {
	return uint64(uint32(active)) | uint64(uint32(expired))<<32
}

// sortedIDs orders entries by the given time, then id, drops duplicates (a Range may see an
// id twice if it moves during the walk) and returns the ids.
func sortedIDs(es []Entry, at func(*Entry) time.Time) []string {
	slices.SortFunc(es, func(a, b Entry) int {
		if c := at(&a).Compare(at(&b)); c != 0 {
			return c
		}
		return cmp.Compare(a.AssetID, b.AssetID)
	})
	var ids []string
	for i := range es {
		if i > 0 && es[i].AssetID == es[i-1].AssetID {
			continue
		}
		ids = append(ids, es[i].AssetID)
	}
	return ids
}

// queue is the claimable set (PENDING, not claimed) as a min-heap on add sequence, with an
// index by id so that leaving the set (subscribe, expire, remove) is O(log n) and exact: an
// asset is in the queue if and only if it is claimable. Guarded by Registry.mu.
type queue struct {
	items []*queued
	byID  map[string]*queued
}

type queued struct {
	id    string
	seq   uint64
	index int
}

func (q *queue) Len() int           { return len(q.items) }
func (q *queue) Less(i, j int) bool { return q.items[i].seq < q.items[j].seq }
func (q *queue) Swap(i, j int) {
	q.items[i], q.items[j] = q.items[j], q.items[i]
	q.items[i].index, q.items[j].index = i, j
}
func (q *queue) Push(x any) {
	it := x.(*queued)
	it.index = len(q.items)
	q.items = append(q.items, it)
}
func (q *queue) Pop() any {
	n := len(q.items) - 1
	it := q.items[n]
	q.items[n] = nil
	q.items = q.items[:n]
	return it
}

func (q *queue) add(id string, seq uint64) {
	it := &queued{id: id, seq: seq}
	q.byID[id] = it
	heap.Push(q, it)
}

func (q *queue) remove(id string) {
	if it, ok := q.byID[id]; ok {
		heap.Remove(q, it.index)
		delete(q.byID, id)
	}
}

// ConnCounts is ConnStats as plain values, for the pool.
func (r *Registry) ConnCounts(connID int64) (total, active, expired int) {
	s := r.ConnStats(connID)
	return s.Total, s.Active, s.Expired
}
