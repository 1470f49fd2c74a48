package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// heartbeat is the value of a member's key in polyfeed_<cluster>_members.
type heartbeat struct {
	ID string `json:"id"`
	// Nonce is random per process, so two processes configured with one ID
	// are noticed instead of silently sharing its markets.
	Nonce     string `json:"nonce"`
	StartedMs int64  `json:"started_ms"`
	Replicas  int    `json:"replicas"`
	// Leaving marks a member that drains: the others take its markets while
	// it keeps publishing them until their books are on the stream.
	Leaving bool `json:"leaving,omitempty"`
}

// parseHeartbeat decodes the value of member key id.
func parseHeartbeat(id string, data []byte) (heartbeat, error) {
	var hb heartbeat
	if err := json.Unmarshal(data, &hb); err != nil {
		return heartbeat{}, fmt.Errorf("cannot decode heartbeat: %w", err)
	}
	if hb.ID != id || hb.Nonce == "" || hb.Replicas < 1 {
		return heartbeat{}, fmt.Errorf("cannot use heartbeat of %q: id %q, nonce %q, replicas %d", id, hb.ID, hb.Nonce, hb.Replicas)
	}
	return hb, nil
}

// membership keeps this member's heartbeat in the members bucket and the
// live member set from a watch of that bucket.
//
// The bucket's max age is Config.Expiry and its limit markers are on, so a key
// that is not rewritten expires on the server and the expiry reaches every
// watcher as a purge marker: the server, not a member's clock, decides that a
// member is gone. (nats.go's per-key TTL, KeyTTL, exists only on Create; a
// heartbeat rewrites the key, so the bucket-wide max age is the per-key TTL
// that holds for every write.) A reconcile with the bucket's keys every
// Expiry covers a marker a watcher could miss across a server restart.
//
// live and the counters are safe for concurrent use; heartbeatLoop and
// watchLoop each run on one goroutine owned by the Node.
type membership struct {
	kv   jetstream.KeyValue
	cfg  *Config
	log  *slog.Logger
	wake func()

	self     heartbeat
	draining atomic.Bool
	// firstRev is the revision of our first heartbeat: an older value under
	// our key is a previous run of this member, not a conflict.
	firstRev atomic.Uint64

	mu       sync.Mutex
	live     map[string]heartbeat
	lastSeen map[string]time.Time
	ready    chan struct{} // closed after the watch's initial values
	readyOne sync.Once

	heartbeats      atomic.Uint64
	heartbeatErrors atomic.Uint64
	failing         atomic.Bool
	conflicts       atomic.Uint64
	badValues       atomic.Uint64
	watchResets     atomic.Uint64
	// changedAt is the server time (Unix ns) of the latest heartbeat that
	// changed the member set: a join or a drain. A handover uses it to tell
	// the new publisher's books from ours when no Publisher is wired.
	changedAt      atomic.Int64
	loggedConflict atomic.Bool
	loggedBad      atomic.Bool
	loggedMismatch atomic.Bool
}

func newMembership(kv jetstream.KeyValue, cfg *Config, nonce string, wake func()) *membership {
	return &membership{
		kv:       kv,
		cfg:      cfg,
		log:      cfg.Logger,
		wake:     wake,
		self:     heartbeat{ID: cfg.ID, Nonce: nonce, StartedMs: time.Now().UnixMilli(), Replicas: cfg.Replicas},
		live:     map[string]heartbeat{},
		lastSeen: map[string]time.Time{},
		ready:    make(chan struct{}),
	}
}

// beat writes this member's key once, waiting at most `wait` for the
// server.
func (m *membership) beat(ctx context.Context, wait time.Duration) error {
	hb := m.self
	hb.Leaving = m.draining.Load()
	b, err := json.Marshal(hb)
	if err != nil {
		return fmt.Errorf("cannot encode heartbeat: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	rev, err := m.kv.Put(ctx, m.cfg.ID, b)
	if err != nil {
		m.heartbeatErrors.Add(1)
		if !m.failing.Swap(true) {
			m.log.Warn("cluster heartbeat failing; keeping the current assignment", "member", m.cfg.ID, "err", err)
		}
		return fmt.Errorf("cannot write heartbeat of %s: %w", m.cfg.ID, err)
	}
	m.heartbeats.Add(1)
	m.firstRev.CompareAndSwap(0, rev)
	if m.failing.Swap(false) {
		m.log.Info("cluster heartbeat restored", "member", m.cfg.ID)
	}
	return nil
}

// heartbeatLoop rewrites this member's key every Heartbeat until ctx ends.
func (m *membership) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(m.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = m.beat(ctx, m.cfg.Heartbeat) // counted and logged by beat; the next one is due anyway
		}
	}
}

// leave deletes this member's key, so the others act at once instead of
// after Expiry.
func (m *membership) leave(ctx context.Context) error {
	if err := m.kv.Delete(ctx, m.cfg.ID); err != nil {
		return fmt.Errorf("cannot delete member key %s: %w", m.cfg.ID, err)
	}
	return nil
}

// watchLoop follows the members bucket until ctx ends, starting the watch
// again if it breaks.
func (m *membership) watchLoop(ctx context.Context) {
	reconcile := time.NewTicker(m.cfg.Expiry)
	defer reconcile.Stop()
	for ctx.Err() == nil {
		w, err := m.kv.WatchAll(ctx)
		if err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(m.cfg.Heartbeat):
				continue
			}
		}
		m.follow(ctx, w, reconcile.C)
		_ = w.Stop() // the watch is gone either way
	}
}

func (m *membership) follow(ctx context.Context, w jetstream.KeyWatcher, reconcile <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-reconcile:
			if !m.reconcile(ctx) {
				return // the watch fell behind: start it again
			}
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil { // the initial values are in
				m.readyOne.Do(func() { close(m.ready) })
				continue
			}
			m.apply(e)
		}
	}
}

func (m *membership) apply(e jetstream.KeyValueEntry) {
	key := e.Key()
	changed := false
	m.mu.Lock()
	switch e.Operation() {
	case jetstream.KeyValueDelete, jetstream.KeyValuePurge:
		_, changed = m.live[key]
		delete(m.live, key)
		delete(m.lastSeen, key)
	case jetstream.KeyValuePut:
		hb, err := parseHeartbeat(key, e.Value())
		if err != nil {
			m.mu.Unlock()
			m.badValues.Add(1)
			if !m.loggedBad.Swap(true) {
				m.log.Warn("ignoring a malformed member heartbeat", "key", key, "err", err)
			}
			return
		}
		old, had := m.live[key]
		m.live[key] = hb
		m.lastSeen[key] = time.Now()
		changed = !had || old.Leaving != hb.Leaving
		if changed {
			m.changedAt.Store(e.Created().UnixNano())
		}
		if key == m.cfg.ID && hb.Nonce != m.self.Nonce && e.Revision() > m.firstRev.Load() {
			m.conflicts.Add(1)
			if !m.loggedConflict.Swap(true) {
				m.log.Error("another process heartbeats with this member id; give each instance its own id", "member", key)
			}
		}
		if hb.Replicas != m.cfg.Replicas && !m.loggedMismatch.Swap(true) {
			m.log.Error("cluster members disagree on replicas; markets may be carried the wrong number of times",
				"member", key, "theirs", hb.Replicas, "ours", m.cfg.Replicas)
		}
	}
	m.mu.Unlock()
	if changed {
		m.wake()
	}
}

// reconcile compares the live set with the bucket's keys: it drops members
// whose keys are gone and the watch has not heard from since the listing
// began, and reads members the watch has not reported. Either means the
// watch fell behind (its consumer can lag for seconds after a NATS node
// fails over), so reconcile then reports false and the watch is started
// again.
func (m *membership) reconcile(ctx context.Context) bool {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Expiry)
	defer cancel()
	keys, err := m.kv.Keys(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return true // NATS is away; the controller is frozen meanwhile
	}
	var gone, missing []string
	m.mu.Lock()
	for id, seen := range m.lastSeen {
		if seen.Before(start) && !slices.Contains(keys, id) {
			gone = append(gone, id)
			delete(m.live, id)
			delete(m.lastSeen, id)
		}
	}
	for _, id := range keys {
		if _, ok := m.live[id]; !ok {
			missing = append(missing, id)
		}
	}
	m.mu.Unlock()
	found := 0 // missing members that are real (a malformed key stays out)
	for _, id := range missing {
		if e, err := m.kv.Get(ctx, id); err == nil {
			m.apply(e)
			m.mu.Lock()
			if _, ok := m.live[id]; ok {
				found++
			}
			m.mu.Unlock()
		}
	}
	if len(gone) > 0 {
		m.wake()
	}
	if len(gone)+found > 0 {
		m.watchResets.Add(1)
		return false
	}
	return true
}

// members returns the sorted ids of the live members that carry markets:
// those not leaving, plus this member unless it drains (it is alive whether
// or not its latest heartbeat has reached the bucket yet).
func (m *membership) members() []string {
	m.mu.Lock()
	ids := make([]string, 0, len(m.live)+1)
	for id, hb := range m.live {
		if !hb.Leaving && id != m.cfg.ID {
			ids = append(ids, id)
		}
	}
	m.mu.Unlock()
	if !m.draining.Load() {
		ids = append(ids, m.cfg.ID)
	}
	slices.Sort(ids)
	return ids
}

// all returns every live heartbeat, leaving members included, by id.
func (m *membership) all() []heartbeat {
	m.mu.Lock()
	defer m.mu.Unlock()
	hbs := make([]heartbeat, 0, len(m.live))
	for _, hb := range m.live {
		hbs = append(hbs, hb)
	}
	slices.SortFunc(hbs, func(a, b heartbeat) int { return strings.Compare(a.ID, b.ID) })
	return hbs
}
