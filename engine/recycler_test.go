package engine

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
)

// recyTestMover stands in for the data path's migration (the part of the engine that owns the
// books): an asset counts as switched once a connection other than the one it leaves has seen
// its snapshot. It records what the recycler asked, in order.
type recyTestMover struct {
	pool *Pool

	mu       sync.Mutex
	begun    []recyTestBegin
	finished []recyResult
}

type recyTestBegin struct {
	ids        []string
	from       int64
	connsAtBeg int // pool connections when BeginMigration ran: the replacement must not exist yet
}

type recyTestMigration struct {
	mv   *recyTestMover
	ids  []string
	from int64
	once sync.Once
	done chan struct{}
}

func (mv *recyTestMover) begin(ids []string, from int64) recyMigration {
	mv.mu.Lock()
	mv.begun = append(mv.begun, recyTestBegin{ids: slices.Clone(ids), from: from, connsAtBeg: len(mv.pool.Conns())})
	mv.mu.Unlock()
	return &recyTestMigration{mv: mv, ids: ids, from: from, done: make(chan struct{})}
}

func (mv *recyTestMover) finish(m recyMigration) recyResult {
	tm := m.(*recyTestMigration)
	p := tm.Pending()
	r := recyResult{Switched: len(tm.ids) - p, Missing: p}
	mv.mu.Lock()
	mv.finished = append(mv.finished, r)
	mv.mu.Unlock()
	return r
}

// abort is recorded like finish: either way the migration ended.
func (mv *recyTestMover) abort(m recyMigration) recyResult { return mv.finish(m) }

func (mv *recyTestMover) calls() (begun []recyTestBegin, finished []recyResult) {
	mv.mu.Lock()
	defer mv.mu.Unlock()
	return slices.Clone(mv.begun), slices.Clone(mv.finished)
}

func (m *recyTestMigration) Pending() int {
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

func (m *recyTestMigration) Done() <-chan struct{} { return m.done }

// recyRig is a real pool on a real registry against the loopback test venue, with a sink that
// records snapshots on their connection as the router does (except for silent assets).
type recyRig struct {
	t      *testing.T
	v      *testVenue
	reg    *Registry
	pool   *Pool
	mv     *recyTestMover
	ids    []string
	silent sync.Map // asset id → true: snapshots never recorded
}

func (g *recyRig) sink(connID int64, frame []byte, recv int64) {
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

// newRecyRig subscribes n assets on one connection and waits for their snapshots.
func newRecyRig(t *testing.T, n int, silent ...string) *recyRig {
	connLeakCheck(t)
	g := &recyRig{t: t, v: newTestVenue(t), reg: NewRegistry()}
	for _, id := range silent {
		g.silent.Store(id, true)
	}
	cfg := testPoolConfig(g.v.URL())
	cfg.Interval = time.Hour // placement is explicit here
	g.pool = NewPool(cfg, g.reg, g.sink)
	g.mv = &recyTestMover{pool: g.pool}
	startPool(t, g.pool)
	g.ids = recyIDs(1, n)
	for _, id := range g.ids {
		g.reg.Add(id, "0xc"+id[:8], time.Time{})
	}
	if err := g.pool.ForceSubscribe(g.ids); err != nil {
		t.Fatal(err)
	}
	g.waitSnapshots(g.pool.Conns()[0], len(silent))
	return g
}

func (g *recyRig) waitSnapshots(c *Conn, awaiting int) {
	g.t.Helper()
	checkFor(g.t, 10*time.Second, 2*time.Millisecond, func() error {
		if got := len(c.AwaitingSnapshot()); got != awaiting {
			return fmt.Errorf("connection %d: %d assets await a snapshot; want %d (stats %+v)", c.ID(), got, awaiting, c.Stats())
		}
		return nil
	})
}

func (g *recyRig) recycler(cfg RecyclerConfig) *Recycler {
	return g.recyclerOn(cfg, g.pool)
}

func (g *recyRig) recyclerOn(cfg RecyclerConfig, pool recyPool) *Recycler {
	r := newRecycler(cfg, g.reg, pool, g.mv)
	g.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := r.Stop(ctx); err != nil {
			g.t.Errorf("Recycler.Stop() = %v; want nil", err)
		}
	})
	return r
}

func (g *recyRig) connIDs() []int64 {
	var ids []int64
	for _, c := range g.pool.Conns() {
		ids = append(ids, c.ID())
	}
	return ids
}

// recyIDs returns n distinct canonical token ids (no leading zero).
func recyIDs(prefix, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%d%070d", 1000000+prefix, i)
	}
	return ids
}

// recyFastCfg has every trigger but the one under test out of reach.
func recyFastCfg() RecyclerConfig {
	return RecyclerConfig{
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
	cfg := RecyclerConfig{MinAge: 5 * time.Minute, MaxAge: 24 * time.Hour, StallTimeout: time.Minute,
		SnapshotTimeout: time.Minute, MaxDialFailures: 3}
	healthy := func() recyView {
		return recyView{ID: 1, Status: ConnConnected, CreatedAt: t0, ConnectedSince: t0, LastData: t0,
			Carried: 100, Active: 100}
	}
	type step struct {
		at   time.Duration // after t0
		edit func(*recyView)
		want string
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"healthy", []step{{at: 30 * time.Second, want: ""}}},
		{"pollution below threshold", []step{{at: 10 * time.Minute, edit: func(v *recyView) { v.Active, v.LastData = 71, t0.Add(10*time.Minute) }, want: ""}}},
		{"pollution at threshold", []step{{at: 10 * time.Minute, edit: func(v *recyView) { v.Active, v.LastData = 70, t0.Add(10*time.Minute) }, want: RecyclePollution}}},
		{"pollution before min age", []step{{at: 4 * time.Minute, edit: func(v *recyView) { v.Active, v.LastData = 10, t0.Add(4*time.Minute) }, want: ""}}},
		{"max age", []step{{at: 24 * time.Hour, edit: func(v *recyView) { v.LastData = t0.Add(24 * time.Hour) }, want: RecycleMaxAge}}},
		{"stall", []step{
			{at: 59 * time.Second, want: ""},
			{at: 60 * time.Second, want: RecycleStall},
		}},
		{"silence without live assets is no stall", []step{{at: 10 * time.Minute, edit: func(v *recyView) { v.Carried, v.Active = 0, 0 }, want: ""}}},
		{"reconnect counts from last connected socket", []step{
			{at: time.Second, edit: func(v *recyView) { v.DialFailures = 7 }, want: ""}, // connected: base 7
			{at: 2 * time.Second, edit: func(v *recyView) { v.Status, v.DialFailures, v.LastData = ConnConnecting, 9, t0.Add(2*time.Second) }, want: ""},
			{at: 3 * time.Second, edit: func(v *recyView) { v.Status, v.DialFailures, v.LastData = ConnConnecting, 10, t0.Add(3*time.Second) }, want: RecycleReconnects},
		}},
		{"snapshot timeout", []step{
			{at: time.Second, edit: func(v *recyView) { v.Awaiting, v.LastData = []string{"a"}, t0.Add(time.Second) }, want: ""},
			{at: 60 * time.Second, edit: func(v *recyView) { v.Awaiting, v.LastData = []string{"a"}, t0.Add(60*time.Second) }, want: ""},
			{at: 61 * time.Second, edit: func(v *recyView) { v.Awaiting, v.LastData = []string{"a"}, t0.Add(61*time.Second) }, want: RecycleSnapshotTimeout},
		}},
		{"snapshot arrived resets the wait", []step{
			{at: time.Second, edit: func(v *recyView) { v.Awaiting, v.LastData = []string{"a"}, t0.Add(time.Second) }, want: ""},
			{at: 30 * time.Second, edit: func(v *recyView) { v.LastData = t0.Add(30 * time.Second) }, want: ""},
			{at: 40 * time.Second, edit: func(v *recyView) { v.Awaiting, v.LastData = []string{"a"}, t0.Add(40*time.Second) }, want: ""},
			{at: 99 * time.Second, edit: func(v *recyView) { v.Awaiting, v.LastData = []string{"a"}, t0.Add(99*time.Second) }, want: ""},
			{at: 100 * time.Second, edit: func(v *recyView) { v.Awaiting, v.LastData = []string{"a"}, t0.Add(100*time.Second) }, want: RecycleSnapshotTimeout},
		}},
		{"asset already starved through a recycle is not counted", []step{
			{at: time.Second, edit: func(v *recyView) { v.Awaiting, v.LastData = []string{"hopeless"}, t0.Add(time.Second) }, want: ""},
			{at: 5 * time.Minute, edit: func(v *recyView) { v.Awaiting, v.LastData = []string{"hopeless"}, t0.Add(5*time.Minute) }, want: ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newTestClock()
			c := cfg
			c.Now = clk.Now
			r := newRecycler(c, NewRegistry(), (*Pool)(nil), &recyTestMover{})
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
	g := newRecyRig(t, 20)
	expired := g.ids[:3]
	g.reg.MarkExpired(expired, time.Now()) // still carried: left behind with the old socket
	r := g.recycler(recyFastCfg())
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
		if e, _ := g.reg.Get(id); e.State != StateSubscribed || e.ConnID != nc.ID() {
			t.Fatalf("registry %s = %v on %d; want SUBSCRIBED on %d", id, e.State, e.ConnID, nc.ID())
		}
	}
	for _, id := range expired {
		if e, _ := g.reg.Get(id); e.State != StateExpired || e.ConnID != 0 {
			t.Errorf("registry %s = %v on %d; want EXPIRED on no connection", id, e.State, e.ConnID)
		}
	}
	if s := old.Status(); s != ConnClosed {
		t.Errorf("old connection status = %v; want CLOSED", s)
	}
	begun, finished := g.mv.calls()
	if len(begun) != 1 || begun[0].from != old.ID() || !slices.Equal(begun[0].ids, live) || begun[0].connsAtBeg != 1 {
		t.Errorf("BeginMigration calls = %+v; want one for the live ids from %d before the replacement opened", begun, old.ID())
	}
	if len(finished) != 1 || finished[0] != (recyResult{Switched: len(live)}) {
		t.Errorf("FinishMigration results = %+v; want every asset switched", finished)
	}
	st := r.Stats()
	if st.Completed != 1 || st.Failed != 0 || st.AssetsMigrated != uint64(len(live)) || st.ByReason[RecycleManual] != 1 ||
		st.Active != 0 || st.LastReason != RecycleManual || st.Switched != uint64(len(live)) {
		t.Errorf("Stats() = %+v; want one completed manual recycle of %d assets", st, len(live))
	}
}

// recyFailPool is the real pool whose OpenConn can be made to fail, as it does when the pool
// is stopping or the venue refuses the subscription.
type recyFailPool struct {
	*Pool
	fail atomic.Bool
}

func (p *recyFailPool) OpenConn(ids []string) (*Conn, error) {
	if p.fail.Load() {
		return nil, errors.New("injected open failure")
	}
	return p.Pool.OpenConn(ids)
}

func TestRecyclerRollsBackWhenOpenFails(t *testing.T) {
	g := newRecyRig(t, 10)
	fp := &recyFailPool{Pool: g.pool}
	fp.fail.Store(true)
	r := g.recyclerOn(recyFastCfg(), fp)
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
	if old.Status() != ConnConnected || old.AssetCount() != 10 || g.reg.ConnStats(old.ID()).Active != 10 {
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
	g := newRecyRig(t, 10)
	r := g.recycler(recyFastCfg())
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	old := g.pool.Conns()[0]
	g.v.stallNew.Store(true) // the replacement's socket opens but never answers
	err := r.ForceRecycle(old.ID())
	if err == nil {
		t.Fatal("ForceRecycle onto a silent replacement = nil; want an error")
	}
	if got := g.connIDs(); !slices.Equal(got, []int64{old.ID()}) {
		t.Errorf("pool connections = %v; want the old one kept and the replacement closed", got)
	}
	for _, id := range g.ids {
		if e, _ := g.reg.Get(id); e.ConnID != old.ID() || e.State != StateSubscribed {
			t.Fatalf("registry %s on %d (%v); want SUBSCRIBED on the old connection %d", id, e.ConnID, e.State, old.ID())
		}
	}
	if st := r.Stats(); st.Failed != 1 || st.Missing != 10 {
		t.Errorf("Stats() = %+v; want 1 failed recycle with 10 missing", st)
	}
}

func TestRecyclerMaxConcurrentAndBusy(t *testing.T) {
	g := newRecyRig(t, 4)
	// A second connection.
	more := recyIDs(2, 4)
	for _, id := range more {
		g.reg.Add(id, "0xd", time.Time{})
	}
	c2, err := g.pool.OpenConn(more)
	if err != nil {
		t.Fatal(err)
	}
	g.reg.MarkSubscribed(more, c2.ID())
	g.waitSnapshots(c2, 0)

	cfg := recyFastCfg()
	cfg.MaxConcurrent = 1
	cfg.Stabilization, cfg.MaxStabilization = time.Minute, time.Minute
	r := g.recycler(cfg)
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	g.v.stallNew.Store(true) // the first recycle waits out its stabilization
	first := g.pool.Conns()[0].ID()
	res := make(chan error, 1)
	go func() { res <- r.ForceRecycle(first) }()
	checkFor(t, 10*time.Second, time.Millisecond, func() error {
		if a := r.Stats().Active; a != 1 {
			return fmt.Errorf("%d active recycles; want 1", a)
		}
		return nil
	})
	if err := r.ForceRecycle(c2.ID()); !errors.Is(err, ErrRecycleBusy) {
		t.Errorf("ForceRecycle(second) during a recycle with MaxConcurrent 1 = %v; want ErrRecycleBusy", err)
	}
	if err := r.ForceRecycle(first); !errors.Is(err, ErrRecycleBusy) {
		t.Errorf("ForceRecycle(same) = %v; want ErrRecycleBusy", err)
	}
	if err := r.ForceRecycle(999); err == nil || errors.Is(err, ErrRecycleBusy) {
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
	g := newRecyRig(t, 10)
	g.reg.MarkExpired(g.ids[:3], time.Now()) // 3 of 10 carried assets dead: 0.30
	cfg := recyFastCfg()
	cfg.MinAge = time.Nanosecond
	r := g.recycler(cfg)
	old := g.pool.Conns()[0].ID()
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 20*time.Second, 5*time.Millisecond, func() error {
		if st := r.Stats(); st.Completed != 1 || st.ByReason[RecyclePollution] != 1 {
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
	g := newRecyRig(t, 5)
	cfg := recyFastCfg()
	cfg.StallTimeout = 200 * time.Millisecond
	r := g.recycler(cfg)
	old := g.pool.Conns()[0].ID()
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 20*time.Second, 5*time.Millisecond, func() error {
		if st := r.Stats(); st.ByReason[RecycleStall] < 1 || st.Completed < 1 {
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
	g := newRecyRig(t, 5)
	quiet := recyIDs(3, 1)[0] // the venue sends its book, but it never counts as seen
	g.silent.Store(quiet, true)
	g.reg.Add(quiet, "0xq", time.Time{})
	if err := g.pool.ForceSubscribe([]string{quiet}); err != nil {
		t.Fatal(err)
	}
	cfg := recyFastCfg()
	cfg.SnapshotTimeout = 100 * time.Millisecond
	r := g.recycler(cfg)
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 20*time.Second, 5*time.Millisecond, func() error {
		if st := r.Stats(); st.Completed != 1 || st.ByReason[RecycleSnapshotTimeout] != 1 || st.Missing != 1 {
			return fmt.Errorf("stats %+v; want one snapshot-timeout recycle with the quiet asset missing", st)
		}
		return nil
	})
	// The quiet asset is now known to get nothing: ten more timeouts' worth of checks do not
	// recycle again.
	time.Sleep(10 * cfg.SnapshotTimeout)
	if st := r.Stats(); st.Completed != 1 {
		t.Errorf("recycles = %d after the quiet asset was marked; want 1", st.Completed)
	}
}
