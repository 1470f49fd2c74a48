package venue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/polyfeed/polyfeed/engine/assets"
	"github.com/polyfeed/polyfeed/engine/venue/venuetest"
	"github.com/polyfeed/polyfeed/internal/fakeclock"
	"github.com/polyfeed/polyfeed/internal/poll"
)

// testRegistry stands in for the registry (a separate component) with just
// the pool's side of it: a pending queue and asset → connection assignment.
type testRegistry struct {
	mu      sync.Mutex
	pending []string          // oldest first
	state   map[string]string // pending, claimed, subscribed, expired
	conn    map[string]int64
}

func newTestRegistry() *testRegistry {
	return &testRegistry{state: map[string]string{}, conn: map[string]int64{}}
}

// Updated returns nil: these tests pace the loop by Interval alone.
func (r *testRegistry) Updated() <-chan struct{} { return nil }

func (r *testRegistry) Add(ids []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		r.state[id] = "pending"
		r.pending = append(r.pending, id)
	}
}

func (r *testRegistry) TakePending(n int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for len(r.pending) > 0 && len(out) < n {
		id := r.pending[0]
		r.pending = r.pending[1:]
		if r.state[id] == "pending" {
			r.state[id] = "claimed"
			out = append(out, id)
		}
	}
	return out
}

func (r *testRegistry) ReturnPending(ids []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var back []string
	for _, id := range ids {
		if r.state[id] == "claimed" {
			r.state[id] = "pending"
			back = append(back, id)
		}
	}
	r.pending = append(back, r.pending...)
}

func (r *testRegistry) MarkSubscribed(ids []string, connID int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		r.state[id] = "subscribed"
		r.conn[id] = connID
	}
}

func (r *testRegistry) RemoveConnection(connID int64) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var back []string
	for id, c := range r.conn {
		if c == connID && r.state[id] == "subscribed" {
			r.state[id] = "pending"
			delete(r.conn, id)
			back = append(back, id)
		}
	}
	slices.Sort(back)
	r.pending = append(r.pending, back...)
	return back
}

func (r *testRegistry) ConnCounts(connID int64) (total, active, expired int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, c := range r.conn {
		if c != connID {
			continue
		}
		total++
		switch r.state[id] {
		case "subscribed":
			active++
		case "expired":
			expired++
		}
	}
	return total, active, expired
}

func (r *testRegistry) Expire(ids []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		r.state[id] = "expired"
	}
}

// Count returns how many assets are in the given state.
func (r *testRegistry) Count(state string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.state {
		if s == state {
			n++
		}
	}
	return n
}

func (r *testRegistry) ConnOf(id string) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conn[id]
}

func testPoolConfig(url string) PoolConfig {
	return PoolConfig{
		Conn:          testConnConfig(url),
		AssetsPerConn: 200,
		MinBatch:      50,
		MaxWait:       30 * time.Second,
		Interval:      5 * time.Millisecond,
		DialInterval:  time.Millisecond,
	}
}

func startPool(t *testing.T, p *Pool) {
	t.Helper()
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopPool(t, p) })
}

func stopPool(t *testing.T, p *Pool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.Stop(ctx); err != nil {
		t.Errorf("Pool.Stop() = %v; want nil", err)
	}
}

// waitLoops waits until the subscription loop made n more passes.
func waitLoops(t *testing.T, p *Pool, n uint64) {
	t.Helper()
	start := p.loops.Load()
	poll.For(t, 10*time.Second, time.Millisecond, func() error {
		if got := p.loops.Load() - start; got < n {
			return fmt.Errorf("%d loop passes; want %d", got, n)
		}
		return nil
	})
}

func connSizes(p *Pool) []int {
	var sizes []int
	for _, c := range p.Conns() {
		sizes = append(sizes, c.AssetCount())
	}
	return sizes
}

func TestPoolFillsConnectionsToCapacity(t *testing.T) {
	leakCheck(t)
	v := venuetest.NewServer(t)
	reg := newTestRegistry()
	ids := venuetest.AssetIDs(20, 450)
	reg.Add(ids)
	var sink testSink
	p := NewPool(testPoolConfig(v.URL()), reg, sink.sink)
	startPool(t, p)

	poll.For(t, 20*time.Second, 2*time.Millisecond, func() error {
		if n := reg.Count("subscribed"); n != len(ids) {
			return fmt.Errorf("%d subscribed in the registry; want %d", n, len(ids))
		}
		if st := p.Stats(); st.ActiveConnections != 3 {
			return fmt.Errorf("%d active connections; want 3", st.ActiveConnections)
		}
		for i, s := range v.Sessions() {
			if len(s.Snapshot().Subscribes) == 0 {
				return fmt.Errorf("venue session %d not subscribed yet", i)
			}
		}
		return nil
	})
	if got := connSizes(p); !slices.Equal(got, []int{200, 200, 50}) {
		t.Errorf("connection sizes = %v; want [200 200 50]", got)
	}
	// Every asset on exactly one socket, and the registry agrees which.
	var all []string
	for i, s := range v.Sessions() {
		st := s.Snapshot()
		if len(st.Subscribes) != 1 {
			t.Fatalf("session %d subscribes = %d; want 1", i, len(st.Subscribes))
		}
		all = append(all, st.Subscribes[0].AssetsIDs...)
	}
	slices.Sort(all)
	want := slices.Clone(ids)
	slices.Sort(want)
	if !slices.Equal(all, want) {
		t.Errorf("venue got %d subscriptions; want each of the %d assets exactly once", len(all), len(want))
	}
	for _, c := range p.Conns() {
		for _, id := range c.Assets() {
			if got := reg.ConnOf(id); got != c.ID() {
				t.Fatalf("registry has %s on connection %d; pool has it on %d", id, got, c.ID())
			}
		}
	}
	st := p.Stats()
	if st.ConnectionCount != 3 || st.Assets != 450 || len(st.Conns) != 3 {
		t.Errorf("Stats() = %d conns, %d assets, %d entries; want 3, 450, 3", st.ConnectionCount, st.Assets, len(st.Conns))
	}
	if c := st.Conns[0]; c.RegTotal != 200 || c.RegActive != 200 || c.RegExpired != 0 || c.Pollution != 0 {
		t.Errorf("Stats().Conns[0] registry view = %+v; want 200 total and active", c)
	}
}

func TestPoolHoldsSmallBatchUntilMaxWaitThenTopsUp(t *testing.T) {
	leakCheck(t)
	v := venuetest.NewServer(t)
	reg := newTestRegistry()
	clock := fakeclock.New()
	cfg := testPoolConfig(v.URL())
	cfg.Now = clock.Now
	p := NewPool(cfg, reg, func(int64, []byte, int64) {})
	first := venuetest.AssetIDs(21, 10)
	reg.Add(first)
	startPool(t, p)

	waitLoops(t, p, 3)
	if n := len(p.Conns()); n != 0 {
		t.Fatalf("%d connections for 10 pending before MaxWait; want 0", n)
	}
	if n := reg.Count("pending"); n != 10 {
		t.Fatalf("%d pending after holding back; want 10 (returned to the registry)", n)
	}
	clock.Advance(cfg.MaxWait)
	poll.For(t, 10*time.Second, 2*time.Millisecond, func() error {
		if got := connSizes(p); !slices.Equal(got, []int{10}) {
			return fmt.Errorf("connection sizes = %v; want [10]", got)
		}
		return nil
	})
	waitSubscribed(t, v, 0)

	// More pending now go onto the open connection that has room, live.
	more := venuetest.AssetIDs(22, 30)
	reg.Add(more)
	poll.For(t, 10*time.Second, 2*time.Millisecond, func() error {
		if got := connSizes(p); !slices.Equal(got, []int{40}) {
			return fmt.Errorf("connection sizes = %v; want [40]", got)
		}
		return nil
	})
	s0, _ := v.Session(0)
	poll.For(t, 10*time.Second, 2*time.Millisecond, func() error {
		ops := s0.Snapshot().Ops
		if len(ops) != 1 || ops[0].Operation != "subscribe" || !slices.Equal(ops[0].AssetsIDs, more) {
			return fmt.Errorf("venue ops = %+v; want one subscribe of the 30 new ids", ops)
		}
		return nil
	})
	if n := len(v.Sessions()); n != 1 {
		t.Errorf("venue sessions = %d; want 1 (no new socket for a top-up)", n)
	}
}

func TestPoolPacesDials(t *testing.T) {
	leakCheck(t)
	v := venuetest.NewServer(t)
	reg := newTestRegistry()
	clock := fakeclock.New() // frozen unless advanced: dial spacing never elapses by itself
	cfg := testPoolConfig(v.URL())
	cfg.AssetsPerConn = 100
	cfg.DialInterval = 20 * time.Millisecond
	cfg.Now = clock.Now
	reg.Add(venuetest.AssetIDs(23, 1000))
	p := NewPool(cfg, reg, func(int64, []byte, int64) {})
	startPool(t, p)

	for want := 1; want <= 3; want++ {
		poll.For(t, 10*time.Second, 2*time.Millisecond, func() error {
			if n := len(p.Conns()); n != want {
				return fmt.Errorf("%d connections; want %d", n, want)
			}
			return nil
		})
		waitLoops(t, p, 3)
		if n := len(p.Conns()); n != want {
			t.Fatalf("%d connections before DialInterval passed; want %d", n, want)
		}
		clock.Advance(cfg.DialInterval)
	}
	if p.Stats().DialsPaced == 0 {
		t.Error("DialsPaced = 0; want > 0")
	}
}

func TestPoolForceSubscribeAndUnsubscribe(t *testing.T) {
	leakCheck(t)
	v := venuetest.NewServer(t)
	reg := newTestRegistry()
	cfg := testPoolConfig(v.URL())
	cfg.Interval = time.Hour // the loop plays no part here
	p := NewPool(cfg, reg, func(int64, []byte, int64) {})
	startPool(t, p)

	ids := venuetest.AssetIDs(24, 5)
	if err := p.ForceSubscribe(ids); err != nil {
		t.Fatal(err)
	}
	if got := connSizes(p); !slices.Equal(got, []int{5}) {
		t.Fatalf("connection sizes = %v; want [5] at once, below MinBatch", got)
	}
	cid := p.Conns()[0].ID()
	for _, id := range ids {
		if got := reg.ConnOf(id); got != cid {
			t.Fatalf("registry connection of %s = %d; want %d", id, got, cid)
		}
	}
	st := waitSubscribed(t, v, 0)
	if !slices.Equal(st.Subscribes[0].AssetsIDs, ids) {
		t.Errorf("venue subscribe = %v; want %v", st.Subscribes[0].AssetsIDs, ids)
	}

	extra := venuetest.AssetIDs(25, 2)
	if err := p.ForceSubscribe(append(slices.Clone(ids[:2]), extra...)); err != nil {
		t.Fatal(err)
	}
	if got := connSizes(p); !slices.Equal(got, []int{7}) {
		t.Fatalf("connection sizes = %v; want [7] (held ids skipped, new ones added live)", got)
	}

	gone := ids[:2]
	if err := p.Unsubscribe(gone); err != nil {
		t.Fatal(err)
	}
	reg.Expire(gone)
	s0, _ := v.Session(0)
	poll.For(t, 10*time.Second, 2*time.Millisecond, func() error {
		ops := s0.Snapshot().Ops
		if len(ops) != 2 || ops[1].Operation != "unsubscribe" || !slices.Equal(ops[1].AssetsIDs, gone) {
			return fmt.Errorf("venue ops = %+v; want subscribe then unsubscribe of %v", ops, gone)
		}
		return nil
	})
	pst := p.Stats().Conns[0]
	if pst.Assets != 5 || pst.RegTotal != 7 || pst.RegExpired != 2 || pst.RegActive != 5 {
		t.Errorf("conn stats assets=%d reg total=%d expired=%d active=%d; want 5, 7, 2, 5",
			pst.Assets, pst.RegTotal, pst.RegExpired, pst.RegActive)
	}
	if want := 2.0 / 7.0; pst.Pollution != want {
		t.Errorf("Pollution = %v; want %v", pst.Pollution, want)
	}
	if c, ok := p.Conn(cid); !ok || c.ID() != cid {
		t.Errorf("Conn(%d) = %v, %v; want the connection", cid, c, ok)
	}
	if _, ok := p.Conn(999); ok {
		t.Error("Conn(999) found; want none")
	}
}

func TestPoolCloseConnReturnsAssetsForReplacement(t *testing.T) {
	leakCheck(t)
	v := venuetest.NewServer(t)
	reg := newTestRegistry()
	cfg := testPoolConfig(v.URL())
	cfg.MinBatch = 1
	p := NewPool(cfg, reg, func(int64, []byte, int64) {})
	ids := venuetest.AssetIDs(26, 20)
	reg.Add(ids)
	startPool(t, p)
	poll.For(t, 10*time.Second, 2*time.Millisecond, func() error {
		if n := reg.Count("subscribed"); n != 20 {
			return fmt.Errorf("%d subscribed; want 20", n)
		}
		return nil
	})
	old := p.Conns()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.CloseConn(ctx, old.ID()); err != nil {
		t.Fatal(err)
	}
	if old.Status() != ConnClosed {
		t.Errorf("closed connection status = %v; want CLOSED", old.Status())
	}
	if err := p.CloseConn(ctx, old.ID()); err == nil {
		t.Error("second CloseConn() = nil; want an error")
	}
	poll.For(t, 10*time.Second, 2*time.Millisecond, func() error {
		cs := p.Conns()
		if len(cs) != 1 || cs[0].ID() == old.ID() || cs[0].AssetCount() != 20 {
			return fmt.Errorf("connections %v sizes %v; want one new connection with all 20", cs, connSizes(p))
		}
		// The registry learns of the placement just after the socket does.
		if got := reg.ConnOf(ids[0]); got != cs[0].ID() {
			return fmt.Errorf("registry connection of %s = %d; want the replacement %d", ids[0], got, cs[0].ID())
		}
		return nil
	})
}

func TestPoolStopClosesEveryConnection(t *testing.T) {
	leakCheck(t)
	v := venuetest.NewServer(t)
	reg := newTestRegistry()
	cfg := testPoolConfig(v.URL())
	cfg.AssetsPerConn = 50
	reg.Add(venuetest.AssetIDs(27, 250))
	p := NewPool(cfg, reg, func(int64, []byte, int64) {})
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err == nil {
		t.Error("second Start() = nil; want an error")
	}
	poll.For(t, 10*time.Second, 2*time.Millisecond, func() error {
		if n := p.Stats().ActiveConnections; n != 5 {
			return fmt.Errorf("%d active; want 5", n)
		}
		return nil
	})
	conns := p.Conns()
	stopPool(t, p)
	for _, c := range conns {
		if c.Status() != ConnClosed {
			t.Errorf("connection %d status = %v; want CLOSED", c.ID(), c.Status())
		}
	}
	poll.For(t, 10*time.Second, 2*time.Millisecond, func() error {
		for i, s := range v.Sessions() {
			if !s.Snapshot().Closed {
				return fmt.Errorf("venue session %d still open", i)
			}
		}
		return nil
	})
	stopPool(t, p) // idempotent
	if _, err := p.OpenConn(venuetest.AssetIDs(28, 1)); err == nil {
		t.Error("OpenConn after Stop = nil; want an error")
	}
	if err := p.Start(context.Background()); err == nil {
		t.Error("Start after Stop = nil; want an error")
	}
}

// TestPoolColdStart: the startup burst, every pending asset placed on
// full connections. -short runs 2,000 assets (10 sockets); the full run the
// target scale of 20,000 assets (100 sockets).
func TestPoolColdStart(t *testing.T) {
	leakCheck(t)
	n := 20_000
	if testing.Short() {
		n = 2_000
	}
	v := venuetest.NewServer(t)
	reg := newTestRegistry()
	reg.Add(venuetest.AssetIDs(29, n))
	var frames atomic.Int64
	p := NewPool(testPoolConfig(v.URL()), reg, func(int64, []byte, int64) { frames.Add(1) })
	startPool(t, p)
	poll.For(t, 60*time.Second, 5*time.Millisecond, func() error {
		st := p.Stats()
		if st.ActiveConnections != n/200 || st.Assets != n {
			return fmt.Errorf("%d active connections with %d assets; want %d with %d", st.ActiveConnections, st.Assets, n/200, n)
		}
		if got := frames.Load(); got < int64(n/200) {
			return fmt.Errorf("%d initial dumps delivered; want %d", got, n/200)
		}
		return nil
	})
	for _, size := range connSizes(p) {
		if size != 200 {
			t.Fatalf("connection sizes = %v; want all 200", connSizes(p))
		}
	}
	if reg.Count("pending")+reg.Count("claimed") != 0 {
		t.Error("assets left pending or claimed after the cold start")
	}
}

// TestPoolWakesOnRegistryUpdate: with the real registry, assets added after a pass are
// subscribed at once (the loop waits on Registry.Updated), not at the next Interval.
func TestPoolWakesOnRegistryUpdate(t *testing.T) {
	leakCheck(t)
	v := venuetest.NewServer(t)
	reg := assets.New(nil)
	cfg := testPoolConfig(v.URL())
	cfg.Interval = time.Hour // the timer alone would not come back during the test
	cfg.MinBatch = 1
	var sink testSink
	p := NewPool(cfg, reg, sink.sink)
	startPool(t, p)
	poll.For(t, 10*time.Second, time.Millisecond, func() error {
		if p.loops.Load() == 0 {
			return errors.New("no loop pass yet")
		}
		return nil // the first pass found nothing; the next is an hour away
	})

	ids := venuetest.AssetIDs(31, 10)
	for _, id := range ids {
		reg.Add(id, "m", time.Time{})
	}
	poll.For(t, 10*time.Second, 2*time.Millisecond, func() error {
		if n := reg.Counts().Subscribed; n != len(ids) {
			return fmt.Errorf("%d of %d assets subscribed", n, len(ids))
		}
		return nil
	})
}

// issue 12 defect 8: a connection closed by the pool (a recycle's old socket, or its
// replacement on rollback) stopped without OnDisconnect, so the books it still fed stayed
// valid with no feed until their assets were placed again. CloseConn reports the close as a
// disconnect, once the socket is down.
func TestPoolCloseConnInvalidatesAtOnce(t *testing.T) {
	leakCheck(t)
	v := venuetest.NewServer(t)
	reg := newTestRegistry()
	cfg := testPoolConfig(v.URL())
	cfg.MinBatch = 1
	var mu sync.Mutex
	var dropped []int64
	var closedFirst bool
	var p *Pool
	cfg.Conn.OnDisconnect = func(id int64) {
		mu.Lock()
		defer mu.Unlock()
		dropped = append(dropped, id)
		if c, ok := p.Conn(id); !ok || c.Status() == ConnClosed {
			closedFirst = true // CloseConn removes it from the pool before stopping it
		}
	}
	p = NewPool(cfg, reg, func(int64, []byte, int64) {})
	reg.Add(venuetest.AssetIDs(29, 5))
	startPool(t, p)
	poll.For(t, 10*time.Second, 2*time.Millisecond, func() error {
		if n := reg.Count("subscribed"); n != 5 {
			return fmt.Errorf("%d subscribed; want 5", n)
		}
		return nil
	})
	id := p.Conns()[0].ID()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.CloseConn(ctx, id); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(dropped, []int64{id}) || !closedFirst {
		t.Errorf("OnDisconnect calls %v (after the close: %v); want [%d] once CloseConn returns", dropped, closedFirst, id)
	}
	if st := p.Stats(); st.ClosedInvalidated != 1 {
		t.Errorf("ClosedInvalidated = %d; want 1", st.ClosedInvalidated)
	}
}

// issue 12 defect 11: a Stop whose context ended before the subscription loop did returned
// at once and left every connection running after the engine had stopped.
func TestPoolStopPastItsDeadlineStillClosesConnections(t *testing.T) {
	leakCheck(t)
	v := venuetest.NewServer(t)
	reg := newTestRegistry()
	cfg := testPoolConfig(v.URL())
	cfg.MinBatch = 1
	reg.Add(venuetest.AssetIDs(30, 5))
	p := NewPool(cfg, reg, func(int64, []byte, int64) {})
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	poll.For(t, 10*time.Second, 2*time.Millisecond, func() error {
		if n := p.Stats().ActiveConnections; n != 1 {
			return fmt.Errorf("%d active connections; want 1", n)
		}
		return nil
	})
	conns := p.Conns()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the engine's stop budget is spent
	_ = p.Stop(ctx)
	for _, c := range conns {
		if s := c.Status(); s != ConnClosed {
			t.Errorf("connection %d %v after Stop; want CLOSED", c.ID(), s)
		}
	}
	stopPool(t, p) // idempotent, and nothing left to wait for
}
