package recycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/engine/assets"
	"github.com/polyfeed/polyfeed/engine/venue"
	"github.com/polyfeed/polyfeed/engine/venue/venuetest"
	"github.com/polyfeed/polyfeed/internal/fakeclock"
	"github.com/polyfeed/polyfeed/internal/poll"
)

// testMover stands in for the data path's migration (the part of the engine that owns the
// books): an asset counts as switched once a connection other than the one it leaves has seen
// its snapshot. It records what the recycler asked, in order.
type testMover struct {
	pool *venue.Pool

	mu       sync.Mutex
	begun    []testBegin
	finished []Result
}

type testBegin struct {
	ids        []string
	from       int64
	connsAtBeg int // pool connections when BeginMigration ran: the replacement must not exist yet
}

type testMigration struct {
	mv   *testMover
	ids  []string
	from int64
	once sync.Once
	done chan struct{}
}

func (mv *testMover) Begin(ids []string, from int64) Migration {
	mv.mu.Lock()
	mv.begun = append(mv.begun, testBegin{ids: slices.Clone(ids), from: from, connsAtBeg: len(mv.pool.Conns())})
	mv.mu.Unlock()
	return &testMigration{mv: mv, ids: ids, from: from, done: make(chan struct{})}
}

func (mv *testMover) Finish(m Migration) Result {
	tm := m.(*testMigration)
	p := tm.Pending()
	r := Result{Switched: len(tm.ids) - p, Missing: p}
	mv.mu.Lock()
	mv.finished = append(mv.finished, r)
	mv.mu.Unlock()
	return r
}

// abort is recorded like finish: either way the migration ended.
func (mv *testMover) Abort(m Migration) Result    { return mv.Finish(m) }
func (mv *testMover) Rollback(m Migration) Result { return mv.Finish(m) }

func (mv *testMover) calls() (begun []testBegin, finished []Result) {
	mv.mu.Lock()
	defer mv.mu.Unlock()
	return slices.Clone(mv.begun), slices.Clone(mv.finished)
}

func (m *testMigration) Pending() int {
	n := 0
	for _, id := range m.ids {
		switched := false
		for _, c := range m.mv.pool.Conns() {
			if c.ID() != m.from && c.SnapshotSeen(id) {
				switched = true
				break
			}
		}
		if !switched {
			n++
		}
	}
	if n == 0 {
		m.once.Do(func() { close(m.done) })
	}
	return n
}

func (m *testMigration) Done() <-chan struct{} { return m.done }

// rig is a real pool on a real registry against the loopback test venue, with a sink that
// records snapshots on their connection as the router does (except for silent assets).
type rig struct {
	t      *testing.T
	v      *venuetest.Server
	reg    *assets.Registry
	pool   *venue.Pool
	mv     *testMover
	ids    []string
	silent sync.Map // asset id → true: snapshots never recorded
}

func (g *rig) sink(connID int64, frame []byte, recv int64) {
	var books []struct {
		AssetID string `json:"asset_id"`
	}
	if json.Unmarshal(frame, &books) != nil {
		return
	}
	for _, b := range books {
		if _, quiet := g.silent.Load(b.AssetID); !quiet {
			g.pool.MarkSnapshot(connID, b.AssetID, recv)
		}
	}
}

// newRig subscribes n assets on one connection and waits for their snapshots.
func newRig(t *testing.T, n int, silent ...string) *rig {
	leakCheck(t)
	g := &rig{t: t, v: venuetest.NewServer(t), reg: assets.New(nil)}
	for _, id := range silent {
		g.silent.Store(id, true)
	}
	cfg := testPoolConfig(g.v.URL())
	cfg.Interval = time.Hour // placement is explicit here
	g.pool = venue.NewPool(cfg, g.reg, g.sink)
	g.mv = &testMover{pool: g.pool}
	startPool(t, g.pool)
	g.ids = venuetest.TokenIDs(1, n)
	for _, id := range g.ids {
		g.reg.Add(id, "0xc"+id[:8], time.Time{})
	}
	if err := g.pool.ForceSubscribe(g.ids); err != nil {
		t.Fatal(err)
	}
	g.waitSnapshots(g.pool.Conns()[0], len(silent))
	return g
}

func (g *rig) waitSnapshots(c *venue.Conn, awaiting int) {
	g.t.Helper()
	poll.For(g.t, 10*time.Second, 2*time.Millisecond, func() error {
		if got := len(c.AwaitingSnapshot()); got != awaiting {
			return fmt.Errorf("connection %d: %d assets await a snapshot; want %d (stats %+v)", c.ID(), got, awaiting, c.Stats())
		}
		return nil
	})
}

func (g *rig) recycler(cfg Config) *Recycler {
	return g.recyclerOn(cfg, g.pool)
}

func (g *rig) recyclerOn(cfg Config, pool Pool) *Recycler {
	r := New(cfg, g.reg, pool, g.mv)
	g.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := r.Stop(ctx); err != nil {
			g.t.Errorf("Recycler.Stop() = %v; want nil", err)
		}
	})
	return r
}

func (g *rig) connIDs() []int64 {
	var ids []int64
	for _, c := range g.pool.Conns() {
		ids = append(ids, c.ID())
	}
	return ids
}

// fastConfig has every trigger but the one under test out of reach.
func fastConfig() Config {
	return Config{
		CheckInterval:    10 * time.Millisecond,
		MinAge:           time.Hour,
		MaxAge:           time.Hour,
		StallTimeout:     time.Hour,
		SnapshotTimeout:  time.Hour,
		Stabilization:    100 * time.Millisecond,
		MaxStabilization: time.Second,
	}
}

func TestRecyclerJudge(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := Config{MinAge: 5 * time.Minute, MaxAge: 24 * time.Hour, StallTimeout: time.Minute,
		SnapshotTimeout: time.Minute, MaxDialFailures: 3}
	healthy := func() connView {
		return connView{ID: 1, Status: venue.ConnConnected, CreatedAt: t0, ConnectedSince: t0, LastData: t0,
			Carried: 100, Active: 100}
	}
	type step struct {
		at   time.Duration // after t0
		edit func(*connView)
		want string
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"healthy", []step{{at: 30 * time.Second, want: ""}}},
		{"pollution below threshold", []step{{at: 10 * time.Minute, edit: func(v *connView) { v.Active, v.LastData = 71, t0.Add(10*time.Minute) }, want: ""}}},
		{"pollution at threshold", []step{{at: 10 * time.Minute, edit: func(v *connView) { v.Active, v.LastData = 70, t0.Add(10*time.Minute) }, want: ReasonPollution}}},
		{"pollution before min age", []step{{at: 4 * time.Minute, edit: func(v *connView) { v.Active, v.LastData = 10, t0.Add(4*time.Minute) }, want: ""}}},
		{"max age", []step{{at: 24 * time.Hour, edit: func(v *connView) { v.LastData = t0.Add(24 * time.Hour) }, want: ReasonMaxAge}}},
		{"stall", []step{
			{at: 59 * time.Second, want: ""},
			{at: 60 * time.Second, want: ReasonStall},
		}},
		{"silence without live assets is no stall", []step{{at: 10 * time.Minute, edit: func(v *connView) { v.Carried, v.Active = 0, 0 }, want: ""}}},
		{"reconnect counts from last connected socket", []step{
			{at: time.Second, edit: func(v *connView) { v.DialFailures = 7 }, want: ""}, // connected: base 7
			{at: 2 * time.Second, edit: func(v *connView) {
				v.Status, v.DialFailures, v.LastData = venue.ConnConnecting, 9, t0.Add(2*time.Second)
			}, want: ""},
			{at: 3 * time.Second, edit: func(v *connView) {
				v.Status, v.DialFailures, v.LastData = venue.ConnConnecting, 10, t0.Add(3*time.Second)
			}, want: ReasonReconnects},
		}},
		{"snapshot timeout", []step{
			{at: time.Second, edit: func(v *connView) { v.Awaiting, v.LastData = []string{"a"}, t0.Add(time.Second) }, want: ""},
			{at: 60 * time.Second, edit: func(v *connView) { v.Awaiting, v.LastData = []string{"a"}, t0.Add(60*time.Second) }, want: ""},
			{at: 61 * time.Second, edit: func(v *connView) { v.Awaiting, v.LastData = []string{"a"}, t0.Add(61*time.Second) }, want: ReasonSnapshotTimeout},
		}},
		{"snapshot arrived resets the wait", []step{
			{at: time.Second, edit: func(v *connView) { v.Awaiting, v.LastData = []string{"a"}, t0.Add(time.Second) }, want: ""},
			{at: 30 * time.Second, edit: func(v *connView) { v.LastData = t0.Add(30 * time.Second) }, want: ""},
			{at: 40 * time.Second, edit: func(v *connView) { v.Awaiting, v.LastData = []string{"a"}, t0.Add(40*time.Second) }, want: ""},
			{at: 99 * time.Second, edit: func(v *connView) { v.Awaiting, v.LastData = []string{"a"}, t0.Add(99*time.Second) }, want: ""},
			{at: 100 * time.Second, edit: func(v *connView) { v.Awaiting, v.LastData = []string{"a"}, t0.Add(100*time.Second) }, want: ReasonSnapshotTimeout},
		}},
		{"asset already starved through a recycle is not counted", []step{
			{at: time.Second, edit: func(v *connView) { v.Awaiting, v.LastData = []string{"hopeless"}, t0.Add(time.Second) }, want: ""},
			{at: 5 * time.Minute, edit: func(v *connView) { v.Awaiting, v.LastData = []string{"hopeless"}, t0.Add(5*time.Minute) }, want: ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := fakeclock.New()
			c := cfg
			c.Now = clk.Now
			r := New(c, assets.New(nil), (*venue.Pool)(nil), &testMover{})
			r.noSnap["hopeless"] = true
			for i, s := range tt.steps {
				v := healthy()
				if s.edit != nil {
					s.edit(&v)
				}
				if got := r.judge(t0.Add(s.at), v); got != s.want {
					t.Fatalf("step %d: judge(t0+%s) = %q; want %q", i, s.at, got, s.want)
				}
			}
		})
	}
}

func TestRecyclerForceRecycleMovesEveryLiveAsset(t *testing.T) {
	g := newRig(t, 20)
	expired := g.ids[:3]
	g.reg.MarkExpired(expired, time.Now()) // still carried: left behind with the old socket
	r := g.recycler(fastConfig())
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	old := g.pool.Conns()[0]
	if err := r.ForceRecycle(old.ID()); err != nil {
		t.Fatalf("ForceRecycle(%d) = %v; want nil", old.ID(), err)
	}

	conns := g.pool.Conns()
	if len(conns) != 1 || conns[0].ID() == old.ID() {
		t.Fatalf("pool connections = %v; want only the replacement", g.connIDs())
	}
	nc := conns[0]
	live := g.ids[3:]
	if got := nc.Assets(); !slices.Equal(got, live) {
		t.Errorf("replacement carries %d assets; want the %d live ones", len(got), len(live))
	}
	for _, id := range live {
		if e, _ := g.reg.Get(id); e.State != assets.StateSubscribed || e.ConnID != nc.ID() {
			t.Fatalf("registry %s = %v on %d; want SUBSCRIBED on %d", id, e.State, e.ConnID, nc.ID())
		}
	}
	for _, id := range expired {
		if e, _ := g.reg.Get(id); e.State != assets.StateExpired || e.ConnID != 0 {
			t.Errorf("registry %s = %v on %d; want EXPIRED on no connection", id, e.State, e.ConnID)
		}
	}
	if s := old.Status(); s != venue.ConnClosed {
		t.Errorf("old connection status = %v; want CLOSED", s)
	}
	begun, finished := g.mv.calls()
	if len(begun) != 1 || begun[0].from != old.ID() || !slices.Equal(begun[0].ids, live) || begun[0].connsAtBeg != 1 {
		t.Errorf("BeginMigration calls = %+v; want one for the live ids from %d before the replacement opened", begun, old.ID())
	}
	if len(finished) != 1 || finished[0] != (Result{Switched: len(live)}) {
		t.Errorf("FinishMigration results = %+v; want every asset switched", finished)
	}
	st := r.Stats()
	if st.Completed != 1 || st.Failed != 0 || st.AssetsMigrated != uint64(len(live)) || st.ByReason[ReasonManual] != 1 ||
		st.Active != 0 || st.LastReason != ReasonManual || st.Switched != uint64(len(live)) {
		t.Errorf("Stats() = %+v; want one completed manual recycle of %d assets", st, len(live))
	}
}

// failPool is the real pool whose OpenConn can be made to fail, as it does when the pool
// is stopping or the venue refuses the subscription.
type failPool struct {
	*venue.Pool
	fail atomic.Bool
}

func (p *failPool) OpenConn(ids []string) (*venue.Conn, error) {
	if p.fail.Load() {
		return nil, errors.New("injected open failure")
	}
	return p.Pool.OpenConn(ids)
}

func TestRecyclerRollsBackWhenOpenFails(t *testing.T) {
	g := newRig(t, 10)
	fp := &failPool{Pool: g.pool}
	fp.fail.Store(true)
	r := g.recyclerOn(fastConfig(), fp)
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	old := g.pool.Conns()[0]
	err := r.ForceRecycle(old.ID())
	if err == nil {
		t.Fatal("ForceRecycle with a failing OpenConn = nil; want an error")
	}
	if got := g.connIDs(); !slices.Equal(got, []int64{old.ID()}) {
		t.Errorf("pool connections = %v; want the old one kept", got)
	}
	if old.Status() != venue.ConnConnected || old.AssetCount() != 10 || g.reg.ConnStats(old.ID()).Active != 10 {
		t.Errorf("old connection %v with %d assets, %d active in the registry; want CONNECTED with 10",
			old.Status(), old.AssetCount(), g.reg.ConnStats(old.ID()).Active)
	}
	if _, fin := g.mv.calls(); len(fin) != 1 {
		t.Errorf("FinishMigration calls = %d; want 1 (the announced migration is always ended)", len(fin))
	}
	if st := r.Stats(); st.Failed != 1 || st.Completed != 0 || st.Active != 0 || st.LastError == "" {
		t.Errorf("Stats() = %+v; want one failed recycle with its error", st)
	}
	// The same connection recycles fine once opening works again.
	fp.fail.Store(false)
	if err := r.ForceRecycle(old.ID()); err != nil {
		t.Fatalf("second ForceRecycle = %v; want nil", err)
	}
}

func TestRecyclerRollsBackWhenReplacementDeliversNothing(t *testing.T) {
	g := newRig(t, 10)
	r := g.recycler(fastConfig())
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	old := g.pool.Conns()[0]
	g.v.StallNew(true) // the replacement's socket opens but never answers
	err := r.ForceRecycle(old.ID())
	if err == nil {
		t.Fatal("ForceRecycle onto a silent replacement = nil; want an error")
	}
	if got := g.connIDs(); !slices.Equal(got, []int64{old.ID()}) {
		t.Errorf("pool connections = %v; want the old one kept and the replacement closed", got)
	}
	for _, id := range g.ids {
		if e, _ := g.reg.Get(id); e.ConnID != old.ID() || e.State != assets.StateSubscribed {
			t.Fatalf("registry %s on %d (%v); want SUBSCRIBED on the old connection %d", id, e.ConnID, e.State, old.ID())
		}
	}
	if st := r.Stats(); st.Failed != 1 || st.Missing != 10 {
		t.Errorf("Stats() = %+v; want 1 failed recycle with 10 missing", st)
	}
}

func TestRecyclerMaxConcurrentAndBusy(t *testing.T) {
	g := newRig(t, 4)
	// A second connection.
	more := venuetest.TokenIDs(2, 4)
	for _, id := range more {
		g.reg.Add(id, "0xd", time.Time{})
	}
	c2, err := g.pool.OpenConn(more)
	if err != nil {
		t.Fatal(err)
	}
	g.reg.MarkSubscribed(more, c2.ID())
	g.waitSnapshots(c2, 0)

	cfg := fastConfig()
	cfg.MaxConcurrent = 1
	cfg.Stabilization, cfg.MaxStabilization = time.Minute, time.Minute
	r := g.recycler(cfg)
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	g.v.StallNew(true) // the first recycle waits out its stabilization
	first := g.pool.Conns()[0].ID()
	res := make(chan error, 1)
	go func() { res <- r.ForceRecycle(first) }()
	poll.For(t, 10*time.Second, time.Millisecond, func() error {
		if a := r.Stats().Active; a != 1 {
			return fmt.Errorf("%d active recycles; want 1", a)
		}
		return nil
	})
	if err := r.ForceRecycle(c2.ID()); !errors.Is(err, ErrBusy) {
		t.Errorf("ForceRecycle(second) during a recycle with MaxConcurrent 1 = %v; want ErrBusy", err)
	}
	if err := r.ForceRecycle(first); !errors.Is(err, ErrBusy) {
		t.Errorf("ForceRecycle(same) = %v; want ErrBusy", err)
	}
	if err := r.ForceRecycle(999); err == nil || errors.Is(err, ErrBusy) {
		t.Errorf("ForceRecycle(unknown) = %v; want a not-in-pool error", err)
	}

	// Stop interrupts the waiting recycle; it rolls back and every goroutine ends.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.Stop(ctx); err != nil {
		t.Fatalf("Stop() = %v", err)
	}
	if err := <-res; err == nil {
		t.Error("recycle interrupted by Stop = nil; want an error (rolled back)")
	}
	if got := g.connIDs(); !slices.Equal(got, []int64{first, c2.ID()}) {
		t.Errorf("pool connections after Stop = %v; want the two originals", got)
	}
	if err := r.ForceRecycle(c2.ID()); err == nil {
		t.Error("ForceRecycle after Stop = nil; want an error")
	}
}

func TestRecyclerPollutionTrigger(t *testing.T) {
	g := newRig(t, 10)
	g.reg.MarkExpired(g.ids[:3], time.Now()) // 3 of 10 carried assets dead: 0.30
	cfg := fastConfig()
	cfg.MinAge = time.Nanosecond
	r := g.recycler(cfg)
	old := g.pool.Conns()[0].ID()
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	poll.For(t, 20*time.Second, 5*time.Millisecond, func() error {
		if st := r.Stats(); st.Completed != 1 || st.ByReason[ReasonPollution] != 1 {
			return fmt.Errorf("stats %+v; want one pollution recycle", st)
		}
		return nil
	})
	conns := g.pool.Conns()
	if len(conns) != 1 || conns[0].ID() == old || conns[0].AssetCount() != 7 {
		t.Fatalf("connections %v; want one replacement carrying the 7 live assets", g.connIDs())
	}
}

func TestRecyclerStallTrigger(t *testing.T) {
	// The test venue sends the snapshots on subscribe and nothing after: a stall.
	g := newRig(t, 5)
	cfg := fastConfig()
	cfg.StallTimeout = 200 * time.Millisecond
	r := g.recycler(cfg)
	old := g.pool.Conns()[0].ID()
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	poll.For(t, 20*time.Second, 5*time.Millisecond, func() error {
		if st := r.Stats(); st.ByReason[ReasonStall] < 1 || st.Completed < 1 {
			return fmt.Errorf("stats %+v; want a completed stall recycle", st)
		}
		return nil
	})
	for _, id := range g.ids {
		if e, _ := g.reg.Get(id); e.ConnID == old {
			t.Fatalf("asset %s still on stalled connection %d", id, old)
		}
	}
}

func TestRecyclerSnapshotTimeoutTriggersOnce(t *testing.T) {
	g := newRig(t, 5)
	quiet := venuetest.TokenIDs(3, 1)[0] // the venue sends its book, but it never counts as seen
	g.silent.Store(quiet, true)
	g.reg.Add(quiet, "0xq", time.Time{})
	if err := g.pool.ForceSubscribe([]string{quiet}); err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig()
	cfg.SnapshotTimeout = 100 * time.Millisecond
	r := g.recycler(cfg)
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	poll.For(t, 20*time.Second, 5*time.Millisecond, func() error {
		if st := r.Stats(); st.Completed != 1 || st.ByReason[ReasonSnapshotTimeout] != 1 || st.Missing != 1 {
			return fmt.Errorf("stats %+v; want one snapshot-timeout recycle with the quiet asset missing", st)
		}
		return nil
	})
	// The quiet asset is now known to get nothing: ten more timeouts' worth of checks do not
	// recycle again. Counting the checks, not the time, keeps the test honest on a slow
	// machine: the ticker drops ticks rather than bunching them, so 100 checks at a 10 ms
	// interval take at least ten 100 ms timeouts.
	before := r.checks.Load()
	want := uint64(10 * cfg.SnapshotTimeout / cfg.CheckInterval)
	poll.For(t, 60*time.Second, cfg.CheckInterval, func() error {
		if n := r.checks.Load() - before; n < want {
			return fmt.Errorf("%d checks since the recycle; want %d", n, want)
		}
		return nil
	})
	if st := r.Stats(); st.Completed != 1 {
		t.Errorf("recycles = %d after the quiet asset was marked; want 1", st.Completed)
	}
}

// Loopback helpers, as in the venue package's own tests.

// leakCheck fails the test if goroutines started during it outlive it.
// Registered as a cleanup before the venue's, so it runs after the venue has
// shut down.
func leakCheck(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// testConnConfig is a connection config with short timings for loopback tests.
func testConnConfig(url string) venue.ConnConfig {
	return venue.ConnConfig{
		URL:          url,
		PingInterval: time.Second,
		StaleTimeout: 10 * time.Second,
		WriteTimeout: 5 * time.Second,
		DialTimeout:  5 * time.Second,
		BackoffMin:   5 * time.Millisecond,
		BackoffMax:   50 * time.Millisecond,
	}
}

func testPoolConfig(url string) venue.PoolConfig {
	return venue.PoolConfig{
		Conn:          testConnConfig(url),
		AssetsPerConn: 200,
		MinBatch:      50,
		MaxWait:       30 * time.Second,
		Interval:      5 * time.Millisecond,
		DialInterval:  time.Millisecond,
	}
}

func startPool(t *testing.T, p *venue.Pool) {
	t.Helper()
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopPool(t, p) })
}

func stopPool(t *testing.T, p *venue.Pool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.Stop(ctx); err != nil {
		t.Errorf("Pool.Stop() = %v; want nil", err)
	}
}

// issue 12 defect 8: while a connection was recycled the pool kept topping it up; the assets
// placed on it after the recycler read its list were left behind when it closed (back to
// PENDING, their books valid without a feed). A connection being recycled takes no new
// assets: they go to the replacement or another connection.
func TestRecyclerRecyclingConnTakesNoNewAssets(t *testing.T) {
	g := newRig(t, 10)
	quiet := venuetest.TokenIDs(4, 1)[0] // never seen on the replacement: the wait runs its course
	g.silent.Store(quiet, true)
	g.reg.Add(quiet, "0xq", time.Time{})
	if err := g.pool.ForceSubscribe([]string{quiet}); err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig()
	cfg.Stabilization, cfg.MaxStabilization = 2*time.Second, 2*time.Second
	r := g.recycler(cfg)
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	old := g.pool.Conns()[0]
	done := make(chan error, 1)
	go func() { done <- r.ForceRecycle(old.ID()) }()
	poll.For(t, 10*time.Second, time.Millisecond, func() error {
		if n := len(g.pool.Conns()); n != 2 {
			return fmt.Errorf("%d connections; want the old one and its replacement", n)
		}
		return nil
	})
	late := venuetest.TokenIDs(5, 4)
	for _, id := range late {
		g.reg.Add(id, "0xl"+id[:8], time.Time{})
	}
	if err := g.pool.ForceSubscribe(late); err != nil {
		t.Fatal(err)
	}
	for _, id := range late {
		if old.Has(id) {
			t.Errorf("asset %s… placed on connection %d while it was being recycled", id[:10], old.ID())
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("ForceRecycle = %v", err)
	}
	for _, id := range late {
		e, _ := g.reg.Get(id)
		c, ok := g.pool.Conn(e.ConnID)
		if e.State != assets.StateSubscribed || !ok || !c.Has(id) || c.Status() == venue.ConnClosed {
			t.Errorf("asset %s… after the recycle: %v on %d; want SUBSCRIBED on an open connection", id[:10], e.State, e.ConnID)
		}
	}
	if st := g.pool.Stats(); st.Recycling != 0 || st.RecyclingRefused != uint64(len(late)) {
		t.Errorf("pool stats: %d connections being recycled, %d assets refused; want 0 and %d", st.Recycling, st.RecyclingRefused, len(late))
	}
}

// issue 12 defect 11: the set of assets known to get no snapshot kept every asset ever put
// in it, removed ones included.
func TestRecyclerForgetsRemovedAssetsWithoutSnapshot(t *testing.T) {
	g := newRig(t, 5)
	quiet := venuetest.TokenIDs(3, 1)[0]
	g.silent.Store(quiet, true)
	g.reg.Add(quiet, "0xq", time.Time{})
	if err := g.pool.ForceSubscribe([]string{quiet}); err != nil {
		t.Fatal(err)
	}
	r := g.recycler(fastConfig())
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := r.ForceRecycle(g.pool.Conns()[0].ID()); err != nil {
		t.Fatal(err)
	}
	noted := func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.noSnap[quiet]
	}
	if !noted() {
		t.Fatal("the asset without a snapshot was not noted")
	}
	g.reg.MarkExpired([]string{quiet}, time.Now())
	g.reg.Remove(quiet)
	before := r.checks.Load()
	poll.For(t, 10*time.Second, 5*time.Millisecond, func() error {
		if r.checks.Load() < before+2 {
			return fmt.Errorf("no check since the removal yet")
		}
		return nil
	})
	if noted() {
		t.Error("a removed asset is still in the no-snapshot set")
	}
}
