package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"

	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// lastEpoch makes epochs strictly increase across every member of a test, as
// the publisher raises its epoch above any already on the stream.
var lastEpoch atomic.Uint64

func nextEpoch() uint64 {
	for {
		last := lastEpoch.Load()
		e := max(uint64(time.Now().UnixMilli()), last+1)
		if lastEpoch.CompareAndSwap(last, e) {
			return e
		}
	}
}

// member is one test instance: a Node and, around it, the part of the
// engine the cluster drives. Whenever its node starts publishing a market it
// publishes a `book` with a new epoch for each asset, as the stream publisher
// does once it has a snapshot; it reports those epochs to handovers through
// EpochSource.
type member struct {
	t    testing.TB
	id   string
	nc   *nats.Conn
	node *Node

	// Optional behaviour of the engine's stream publisher, set before
	// Start (startPublisher): the first book of a gained asset waits for
	// firstBook (the venue's subscribe and snapshot), and an asset whose
	// book is seen under a higher epoch than ours is yielded: nothing more
	// until Restart (publish.Publisher's watchBook). Releasing an asset it
	// has not yielded publishes `stale` "moved" under its epoch.
	firstBook time.Duration
	yields    bool

	mu      sync.Mutex
	epochs  map[string]uint64    // asset -> epoch we publish it under
	books   int                  // books published
	booked  map[string]time.Time // asset -> when we last started an epoch
	gained  map[string]time.Time // asset -> when its market became ours (firstBook)
	yielded map[string]bool      // asset -> a higher epoch is on the stream
	// restartDue holds the restarts not applied yet (yields only).
	restartDue map[string]restartNote

	cancel context.CancelFunc
	done   chan struct{}
}

// Restart publishes a fresh book for asset under a new epoch above `above`.
// A member with a publisher like the engine's (startPublisher) does it on
// its next round after restartLag, and only if it still publishes the
// asset then.
func (m *member) Restart(asset string, above uint64) {
	if m.yields {
		m.mu.Lock()
		m.restartDue[asset] = restartNote{above: above, at: time.Now().Add(restartLag)}
		m.mu.Unlock()
		return
	}
	m.restartNow(asset, above)
}

// restartLag stands for the engine's tick: the publisher's worker applies
// a restart when it next reads its notes.
const restartLag = 250 * time.Millisecond

type restartNote struct {
	above uint64
	at    time.Time
}

func (m *member) restartNow(asset string, above uint64) {
	for _, mk := range m.node.Markets() {
		if slices.Contains(mk.AssetIDs, asset) {
			for lastEpoch.Load() <= above {
				nextEpoch()
			}
			m.mu.Lock()
			delete(m.yielded, asset)
			m.mu.Unlock()
			m.publishBook(mk.ConditionID, asset)
			return
		}
	}
}

func (m *member) Epoch(asset string) (uint64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.epochs[asset]
	return e, ok
}

func testConfig(cluster, id string) Config {
	return Config{
		Cluster:         cluster,
		ID:              id,
		Heartbeat:       100 * time.Millisecond,
		Expiry:          400 * time.Millisecond,
		Settle:          100 * time.Millisecond,
		HandoverTimeout: 5 * time.Second,
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// startMember starts a member on its own connection to url; edit adjusts
// the test config.
func startMember(t testing.TB, url, cluster, id string, edit func(*Config)) *member {
	t.Helper()
	return startMemberOn(t, connect(t, url), cluster, id, edit)
}

// startMemberOn starts a member on the given connection.
func startMemberOn(t testing.TB, nc *nats.Conn, cluster, id string, edit func(*Config)) *member {
	t.Helper()
	return newMember(t, nc, id).start(cluster, edit)
}

// startPublisher starts a member whose publisher behaves as the engine's:
// it yields to higher epochs, says "moved", and publishes a gained asset's
// first book only after firstBook.
func startPublisher(t testing.TB, url, cluster, id string, firstBook time.Duration) *member {
	t.Helper()
	m := newMember(t, connect(t, url), id)
	m.yields, m.firstBook = true, firstBook
	sub, err := m.nc.Subscribe(BookSubject("polyfeed", "*"), m.watchBook)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return m.start(cluster, nil)
}

func newMember(t testing.TB, nc *nats.Conn, id string) *member {
	return &member{t: t, id: id, nc: nc, epochs: map[string]uint64{}, booked: map[string]time.Time{},
		gained: map[string]time.Time{}, yielded: map[string]bool{}, restartDue: map[string]restartNote{},
		done: make(chan struct{})}
}

// watchBook yields an asset we publish whose book is on the stream under a
// higher epoch (NATS delivery goroutine).
func (m *member) watchBook(msg *nats.Msg) {
	asset, epoch, ok := parseBook(msg.Data)
	if !ok {
		return
	}
	m.mu.Lock()
	if e, has := m.epochs[asset]; has && epoch > e {
		m.yielded[asset] = true
	}
	m.mu.Unlock()
}

// start starts the member's node and publishing loop.
func (m *member) start(cluster string, edit func(*Config)) *member {
	t, id := m.t, m.id
	t.Helper()
	cfg := testConfig(cluster, id)
	cfg.Publisher = m
	if cluster == "" { // the defaults, for timing runs
		cfg = Config{Cluster: "timing", ID: id, Publisher: m, Logger: cfg.Logger}
	}
	if edit != nil {
		edit(&cfg)
	}
	n, err := New(m.nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatalf("Start(%s): %v", id, err)
	}
	m.node = n
	runCtx, stop := context.WithCancel(context.Background())
	m.cancel = stop
	go m.publishLoop(runCtx)
	t.Cleanup(m.stop)
	return m
}

func (m *member) publishLoop(ctx context.Context) {
	defer close(m.done)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		m.sync()
		select {
		case <-ctx.Done():
			return
		case <-m.node.Changes():
		case <-t.C:
		}
	}
}

// sync starts publishing the markets the node gained and forgets the ones it
// released.
func (m *member) sync() {
	now := time.Now()
	for _, mk := range m.node.Markets() {
		pub := m.node.Publishes(mk.ConditionID)
		for _, a := range mk.AssetIDs {
			m.mu.Lock()
			_, has := m.epochs[a]
			r, due := m.restartDue[a]
			if due && !now.Before(r.at) {
				delete(m.restartDue, a)
			}
			m.mu.Unlock()
			if due && !now.Before(r.at) && pub && has {
				m.restartNow(a, r.above)
			}
			m.mu.Lock()
			e, has := m.epochs[a]
			yielded := m.yielded[a]
			since, gained := m.gained[a]
			switch {
			case pub && !gained:
				m.gained[a], since = now, now
			case !pub:
				delete(m.gained, a)
			}
			m.mu.Unlock()
			switch {
			case pub && !has:
				if now.Sub(since) >= snapshotDelay(a, m.firstBook) {
					m.publishBook(mk.ConditionID, a)
				}
			case !pub && has:
				if m.yields && !yielded {
					m.publishMoved(mk.ConditionID, a, e)
				}
				m.mu.Lock()
				delete(m.epochs, a)
				delete(m.yielded, a)
				m.mu.Unlock()
			}
		}
	}
}

// snapshotDelay spreads first books between d/2 and d, per asset, as
// snapshots arrive over a while after a burst of subscriptions.
func snapshotDelay(asset string, d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(asset))
	return d/2 + time.Duration(h.Sum32())%(d/2+1)
}

// publishMoved publishes `stale` "moved" under epoch, as the publisher does
// when an asset stops being ours.
func (m *member) publishMoved(market, asset string, epoch uint64) {
	b, _ := json.Marshal(map[string]any{
		"v": 1, "type": "status", "asset_id": asset, "market": market,
		"epoch": epoch, "seq": 2, "ts_ms": time.Now().UnixMilli(), "state": "stale", "reason": "moved",
	})
	_ = m.nc.Publish("polyfeed.v1.status."+asset, b)
}

// publishBook publishes a book for asset under a new epoch, as the publisher
// does when an epoch starts. Failures (disconnected) are retried by sync.
func (m *member) publishBook(market, asset string) {
	e := nextEpoch()
	b, _ := json.Marshal(map[string]any{
		"v": 1, "type": "book", "asset_id": asset, "market": market,
		"epoch": e, "seq": 1, "ts_ms": time.Now().UnixMilli(),
		"bids": [][]string{{"0.48", "10"}}, "asks": [][]string{{"0.52", "10"}},
		"tick_size": "0.01", "valid": true,
	})
	// The epoch is ours before the book goes out, so that its echo is not
	// taken for a higher epoch's.
	m.mu.Lock()
	old, had := m.epochs[asset]
	m.epochs[asset] = e
	m.mu.Unlock()
	if err := m.nc.Publish(BookSubject("polyfeed", asset), b); err != nil {
		m.mu.Lock()
		if had {
			m.epochs[asset] = old
		} else {
			delete(m.epochs, asset)
		}
		m.mu.Unlock()
		return
	}
	m.mu.Lock()
	m.books++
	m.booked[asset] = time.Now()
	m.mu.Unlock()
}

// kill stops the member as kill -9 would: its connection drops and nothing
// more is written; its node is then stopped only to release goroutines.
func (m *member) kill() {
	m.nc.Close()
	m.stop()
}

func (m *member) stop() {
	if m.cancel == nil {
		return
	}
	m.cancel()
	<-m.done
	m.cancel = nil
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = m.node.Stop(ctx) // a killed member cannot delete its key; that is the point
}

// testMarkets returns n markets with two assets each.
func testMarkets(n int, seed uint64) []Market {
	cids := conditionIDs(n, seed)
	ms := make([]Market, n)
	for i, cid := range cids {
		ms[i] = Market{ID: fmt.Sprint(i), ConditionID: cid, AssetIDs: []string{fmt.Sprintf("%d1", 1000+i), fmt.Sprintf("%d2", 1000+i)}}
	}
	return ms
}

// shareAll writes ms to the shared listing through m and waits until every
// member sees all of them.
func shareAll(t testing.TB, ms []Market, via *member, all ...*member) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := via.node.ShareMarkets(ctx, ms); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		for _, m := range all {
			if n := len(m.node.Markets()); n != len(ms) {
				return fmt.Errorf("%s sees %d markets; want %d", m.id, n, len(ms))
			}
		}
		return nil
	})
}

// settled checks that the live members agree on the member set, that every
// market is published by exactly one of them and carried by min(R, members),
// and that no handover is pending.
func settled(live []*member, ms []Market, replicas int) error {
	var ids []string
	for _, m := range live {
		ids = append(ids, m.id)
	}
	slices.Sort(ids)
	for _, m := range live {
		if got := m.node.view.Load().assign.Members(); !slices.Equal(got, ids) {
			return fmt.Errorf("%s sees members %v; want %v", m.id, got, ids)
		}
		if n := m.node.handovers.len(); n > 0 {
			return fmt.Errorf("%s has %d handovers pending", m.id, n)
		}
	}
	for _, mk := range ms {
		pubs, carriers := 0, 0
		for _, m := range live {
			pub := m.node.Publishes(mk.ConditionID)
			m.mu.Lock()
			_, has := m.epochs[mk.AssetIDs[0]]
			m.mu.Unlock()
			if pub != has {
				return fmt.Errorf("%s: publishes %s %v, its publisher %v", m.id, mk.ConditionID, pub, has)
			}
			if pub {
				pubs++
			}
			if m.node.Owns(mk.ConditionID) {
				carriers++
			}
		}
		if pubs != 1 || carriers != min(replicas, len(live)) {
			return fmt.Errorf("market %s: %d publishers, %d carriers; want 1 and %d", mk.ConditionID, pubs, carriers, min(replicas, len(live)))
		}
	}
	return nil
}

// publishers returns the publishing member of every market.
func publishers(live []*member, ms []Market) map[string]string {
	out := map[string]string{}
	for _, mk := range ms {
		for _, m := range live {
			if m.node.Publishes(mk.ConditionID) {
				out[mk.ConditionID] = m.id
			}
		}
	}
	return out
}

// createStreams lays out the stream as docs/STREAM.md (wire version 1)
// specifies for the default prefix: POLYFEED_EVENTS owns polyfeed.v1.>, and
// POLYFEED_BOOKS sources its books and keeps the latest per asset.
func createStreams(t testing.TB, url string, replicas int) {
	t.Helper()
	nc := connect(t, url)
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: "POLYFEED_EVENTS", Subjects: []string{"polyfeed.v1.>"}, MaxAge: 10 * time.Minute,
		Storage: jetstream.FileStorage, Replicas: replicas,
	}); err != nil {
		t.Fatalf("cannot create POLYFEED_EVENTS: %v", err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:              "POLYFEED_BOOKS",
		Sources:           []*jetstream.StreamSource{{Name: "POLYFEED_EVENTS", FilterSubject: "polyfeed.v1.book.>"}},
		MaxMsgsPerSubject: 1, AllowDirect: true, MaxAge: time.Hour,
		Storage: jetstream.FileStorage, Replicas: replicas,
	}); err != nil {
		t.Fatalf("cannot create POLYFEED_BOOKS: %v", err)
	}
}
