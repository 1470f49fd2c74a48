package markets

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/engine/assets"
	"github.com/polyfeed/polyfeed/engine/venue/venuetest"
	"github.com/polyfeed/polyfeed/internal/fakeclock"
	"github.com/polyfeed/polyfeed/internal/gamma"
	"github.com/polyfeed/polyfeed/internal/poll"
)

// gammaServer is a real HTTP server speaking Gamma's keyset listing (PROTOCOL.md §2) over a
// market set the test edits. Pages hold pageSize markets; failFrom ≥ 0 makes page failFrom
// and later answer 500, so the listing is partial (failFrom 0: nothing at all).
type gammaServer struct {
	srv *httptest.Server

	mu       sync.Mutex
	markets  []gammaMarket // newest first
	failFrom int
	block    chan struct{} // non-nil: requests wait for it to close (or the client to give up)
	requests atomic.Int64
}

type gammaMarket struct {
	id, cond        string
	tokens          []string
	end             time.Time
	closed          bool
	archived        bool
	acceptingOrders bool
}

const pageSize = 3

func newGammaServer(t *testing.T) *gammaServer {
	g := &gammaServer{failFrom: -1}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *gammaServer) serve(w http.ResponseWriter, r *http.Request) {
	g.requests.Add(1)
	g.mu.Lock()
	block := g.block
	g.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-r.Context().Done():
			return
		}
	}
	if r.URL.Path != "/markets/keyset" {
		http.NotFound(w, r)
		return
	}
	page := 0
	if c := r.URL.Query().Get("after_cursor"); c != "" {
		page, _ = strconv.Atoi(c)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failFrom >= 0 && page >= g.failFrom {
		http.Error(w, "boom", http.StatusInternalServerError)
		return
	}
	var out []map[string]any
	for i := page * pageSize; i < len(g.markets) && i < (page+1)*pageSize; i++ {
		m := g.markets[i]
		toks, _ := json.Marshal(m.tokens)
		outs := make([]string, len(m.tokens))
		for j := range outs {
			outs[j] = "O" + strconv.Itoa(j)
		}
		oj, _ := json.Marshal(outs)
		obj := map[string]any{
			"id": m.id, "conditionId": m.cond, "question": "Q " + m.id, "slug": "s-" + m.id,
			"clobTokenIds": string(toks), "outcomes": string(oj), "active": true, "closed": m.closed,
			"archived": m.archived, "acceptingOrders": m.acceptingOrders, "enableOrderBook": true,
			"negRisk": false, "orderPriceMinTickSize": 0.01,
		}
		if !m.end.IsZero() {
			obj["endDate"] = m.end.UTC().Format(time.RFC3339)
		}
		out = append(out, obj)
	}
	body := map[string]any{"markets": out}
	if (page+1)*pageSize < len(g.markets) {
		body["next_cursor"] = strconv.Itoa(page + 1)
	}
	_ = json.NewEncoder(w).Encode(body)
}

func (g *gammaServer) set(ms ...gammaMarket) {
	g.mu.Lock()
	g.markets = slices.Clone(ms)
	g.mu.Unlock()
}

func (g *gammaServer) fail(from int) {
	g.mu.Lock()
	g.failFrom = from
	g.mu.Unlock()
}

func (g *gammaServer) client(t *testing.T) *gamma.Client {
	c, err := gamma.New(gamma.Config{BaseURL: g.srv.URL, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// testMarket returns market n with two tokens.
func testMarket(n int, end time.Time) gammaMarket {
	ids := venuetest.TokenIDs(100+n, 2)
	return gammaMarket{id: strconv.Itoa(n), cond: fmt.Sprintf("0x%064x", n), tokens: ids, end: end, acceptingOrders: true}
}

// recorder records the lifecycle's effects on the pool, the books and the callbacks.
type recorder struct {
	mu      sync.Mutex
	unsub   []string
	dropped []string
	added   []string // condition ids
	expired []string
}

func (r *recorder) Unsubscribe(ids []string) error {
	r.mu.Lock()
	r.unsub = append(r.unsub, ids...)
	r.mu.Unlock()
	return nil
}

func (r *recorder) DropBooks(ids []string) {
	r.mu.Lock()
	r.dropped = append(r.dropped, ids...)
	r.mu.Unlock()
}

func (r *recorder) snapshot() (unsub, dropped, added, expired []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.unsub), slices.Clone(r.dropped), slices.Clone(r.added), slices.Clone(r.expired)
}

type rig struct {
	g   *gammaServer
	reg *assets.Registry
	rec *recorder
	clk *fakeclock.Clock
	l   *Lifecycle
}

func newRig(t *testing.T, edit func(*Config)) *rig {
	r := &rig{g: newGammaServer(t), reg: assets.New(nil), rec: &recorder{}, clk: fakeclock.New()}
	cfg := Config{
		Now: r.clk.Now,
		OnNewMarket: func(m Market) {
			r.rec.mu.Lock()
			r.rec.added = append(r.rec.added, m.ConditionID)
			r.rec.mu.Unlock()
		},
		OnMarketExpired: func(m Market) {
			r.rec.mu.Lock()
			r.rec.expired = append(r.rec.expired, m.ConditionID)
			r.rec.mu.Unlock()
		},
	}
	if edit != nil {
		edit(&cfg)
	}
	r.l = newWithLister(cfg, r.reg, r.g.client(t), r.rec, r.rec)
	return r
}

func (r *rig) state(t *testing.T, id string) assets.State {
	t.Helper()
	e, ok := r.reg.Get(id)
	if !ok {
		t.Fatalf("asset %s not in the registry", id)
	}
	return e.State
}

func TestLifecycleDiscoveryAddsAndExpiresOnlyOnCompleteListings(t *testing.T) {
	r := newRig(t, nil)
	far := r.clk.Now().Add(24 * time.Hour)
	ms := []gammaMarket{testMarket(1, far), testMarket(2, far), testMarket(3, far), testMarket(4, far), testMarket(5, far)}
	r.g.set(ms...)
	r.l.discover(context.Background())
	if c := r.reg.Counts(); c.Pending != 10 {
		t.Fatalf("registry counts %+v; want 10 PENDING assets", c)
	}
	if e, _ := r.reg.Get(ms[0].tokens[0]); e.ConditionID != ms[0].cond || !e.Expiry.Equal(far) {
		t.Errorf("entry %+v; want condition %s expiry %v", e, ms[0].cond, far)
	}
	if _, _, added, _ := r.rec.snapshot(); len(added) != 5 {
		t.Errorf("OnNewMarket calls = %d; want 5", len(added))
	}

	// Page 2 (markets 4 and 5) fails: the listing is partial, and 4, 5 must survive it even
	// though market 1 vanished too.
	r.g.set(ms[1:]...)
	r.g.fail(1)
	r.l.discover(context.Background())
	for _, m := range ms {
		if s := r.state(t, m.tokens[0]); s != assets.StatePending {
			t.Fatalf("market %s after a partial listing: %v; want PENDING (nothing expires)", m.id, s)
		}
	}
	st := r.l.Stats()
	if st.FailedDiscoveries != 1 || st.PartialDiscoveries != 1 || st.LastDiscoveryError == "" || st.APIErrors == 0 {
		t.Errorf("stats after a partial listing %+v; want it counted with its error", st)
	}
	// A listing that fails outright expires nothing either.
	r.g.fail(0)
	r.l.discover(context.Background())
	if c := r.reg.Counts(); c.Expired != 0 {
		t.Fatalf("expired %d assets after a failed listing; want 0", c.Expired)
	}

	// Complete again: market 1 is gone (closed), market 3 listed closed, market 4 archived;
	// market 2 paused (acceptingOrders=false) stays.
	r.g.fail(-1)
	m2, m3, m4 := ms[1], ms[2], ms[3]
	m2.acceptingOrders, m3.closed, m4.archived = false, true, true
	r.g.set(m2, m3, m4, ms[4])
	r.l.discover(context.Background())
	if s := r.state(t, ms[0].tokens[0]); s != assets.StatePending {
		t.Fatalf("market 1 missed by one complete listing: %v; want PENDING until a second one misses it", s)
	}
	r.l.discover(context.Background())
	for _, tc := range []struct {
		m    gammaMarket
		want assets.State
	}{{ms[0], assets.StateExpired}, {m2, assets.StatePending}, {m3, assets.StateExpired}, {m4, assets.StateExpired}, {ms[4], assets.StatePending}} {
		for _, id := range tc.m.tokens {
			if s := r.state(t, id); s != tc.want {
				t.Errorf("market %s asset state %v; want %v", tc.m.id, s, tc.want)
			}
		}
	}
	unsub, _, _, expired := r.rec.snapshot()
	if len(unsub) != 6 || len(expired) != 3 {
		t.Errorf("unsubscribed %d assets, %d expiry callbacks; want 6 and 3", len(unsub), len(expired))
	}
	st = r.l.Stats()
	if st.ExpiredBy[ExpiryClosed] != 2 || st.ExpiredBy[ExpiryArchived] != 1 || st.Markets != 2 || st.LastDiscoveryError != "" {
		t.Errorf("stats %+v; want 2 closed, 1 archived, 2 live markets", st)
	}
}

func TestLifecycleEndDateGraceCleanupAndTombstone(t *testing.T) {
	r := newRig(t, func(c *Config) {
		c.ExpiryGrace = time.Minute
		c.CleanupGrace = time.Hour
	})
	end := r.clk.Now().Add(10 * time.Minute)
	soon, later := testMarket(1, end), testMarket(2, end.Add(time.Hour))
	r.g.set(soon, later)
	r.l.discover(context.Background())

	r.clk.Advance(10*time.Minute + 30*time.Second) // past the end, within the grace
	r.l.checkExpiry()
	if s := r.state(t, soon.tokens[0]); s != assets.StatePending {
		t.Fatalf("state within grace = %v; want PENDING", s)
	}
	r.clk.Advance(31 * time.Second)
	r.l.checkExpiry()
	if s := r.state(t, soon.tokens[0]); s != assets.StateExpired {
		t.Fatalf("state after end + grace = %v; want EXPIRED", s)
	}
	if s := r.state(t, later.tokens[0]); s != assets.StatePending {
		t.Fatalf("later market %v; want PENDING", s)
	}
	if st := r.l.Stats(); st.ExpiredBy[ExpiryEndDate] != 1 {
		t.Errorf("ExpiredBy = %v; want 1 end_date", st.ExpiredBy)
	}

	// Gamma keeps listing the ended market (not closed yet): it is not added again.
	r.l.discover(context.Background())
	r.l.cleanup()
	if _, ok := r.reg.Get(soon.tokens[0]); !ok {
		t.Fatal("asset removed before CleanupGrace")
	}
	r.clk.Advance(time.Hour + time.Second)
	r.l.cleanup()
	for _, id := range soon.tokens {
		if _, ok := r.reg.Get(id); ok {
			t.Fatalf("asset %s still in the registry after CleanupGrace", id)
		}
	}
	_, dropped, _, _ := r.rec.snapshot()
	if !slices.Equal(dropped, soon.tokens) {
		t.Errorf("dropped books %v; want %v", dropped, soon.tokens)
	}
	r.l.discover(context.Background())
	if _, ok := r.reg.Get(soon.tokens[0]); ok {
		t.Fatal("a removed market still listed by Gamma was registered again")
	}
	if _, expired, ok := r.l.Market(soon.cond); !ok || !expired {
		t.Errorf("Market(%s) = expired %v, known %v; want the tombstone", soon.cond, expired, ok)
	}
	// Once Gamma stops listing it, the tombstone goes.
	r.g.set(later)
	r.l.discover(context.Background())
	if _, _, ok := r.l.Market(soon.cond); ok {
		t.Error("tombstone kept after Gamma stopped listing the market")
	}
	if st := r.l.Stats(); st.NewMarkets != 2 || st.RemovedAssets != 2 {
		t.Errorf("stats %+v; want 2 new markets, 2 removed assets", st)
	}
}

func TestLifecycleNotices(t *testing.T) {
	r := newRig(t, func(c *Config) { c.ConfirmGrace = 5 * time.Minute })
	far := r.clk.Now().Add(24 * time.Hour)
	listed := testMarket(1, far)
	r.g.set(listed)
	r.l.discover(context.Background())

	a, b := testMarket(2, far), testMarket(3, far)
	for _, m := range []gammaMarket{a, b} {
		r.l.handleNotice(notice{id: m.id, cond: m.cond, assets: m.tokens, outcomes: []string{"Yes", "No"}})
	}
	if s := r.state(t, a.tokens[1]); s != assets.StatePending {
		t.Fatalf("new_market asset state %v; want PENDING at once", s)
	}
	if m, _, _ := r.l.Market(a.cond); !m.EndDate.IsZero() {
		t.Errorf("notice market end date %v; want zero until Gamma confirms", m.EndDate)
	}
	// Gamma confirms a (with its end date) but does not list b yet: b is kept within
	// ConfirmGrace.
	r.g.set(listed, a)
	r.l.discover(context.Background())
	if m, _, _ := r.l.Market(a.cond); !m.EndDate.Equal(far) {
		t.Errorf("confirmed market end date %v; want %v from Gamma", m.EndDate, far)
	}
	if s := r.state(t, b.tokens[0]); s != assets.StatePending {
		t.Fatalf("unconfirmed market within grace %v; want PENDING", s)
	}
	r.clk.Advance(5 * time.Minute)
	r.l.discover(context.Background())
	r.l.discover(context.Background()) // absence counts after two complete listings
	if s := r.state(t, b.tokens[0]); s != assets.StateExpired {
		t.Fatalf("unconfirmed market after grace %v; want EXPIRED", s)
	}
	// market_resolved expires at once, even while Gamma still lists it.
	r.l.handleNotice(notice{resolved: true, id: listed.id, cond: listed.cond, assets: listed.tokens})
	if s := r.state(t, listed.tokens[0]); s != assets.StateExpired {
		t.Fatalf("resolved market %v; want EXPIRED", s)
	}
	r.l.discover(context.Background())
	if s := r.state(t, listed.tokens[0]); s != assets.StateExpired {
		t.Fatalf("resolved market after a listing %v; want still EXPIRED", s)
	}
	st := r.l.Stats()
	if st.Confirmed != 1 || st.ExpiredBy[ExpiryUnconfirmed] != 1 || st.ExpiredBy[ExpiryResolved] != 1 || st.Markets != 1 {
		t.Errorf("stats %+v; want 1 confirmed, 1 unconfirmed and 1 resolved expiry, 1 live market", st)
	}
}

func TestLifecycleNoticeQueueNeverBlocks(t *testing.T) {
	r := newRig(t, func(c *Config) { c.EventQueue = 2 })
	for i := range 5 {
		r.l.onNotice(notice{cond: strconv.Itoa(i)})
	}
	if st := r.l.Stats(); st.Notices != 2 || st.NoticesDropped != 3 {
		t.Errorf("notices %d accepted, %d dropped; want 2 and 3", st.Notices, st.NoticesDropped)
	}
}

func TestLifecycleKeepsExpiredSubscribedWhenAsked(t *testing.T) {
	off := false
	r := newRig(t, func(c *Config) { c.UnsubscribeExpired = &off })
	m := testMarket(1, r.clk.Now().Add(time.Minute))
	r.g.set(m)
	r.l.discover(context.Background())
	r.clk.Advance(DefaultExpiryGrace + 2*time.Minute)
	r.l.checkExpiry()
	if s := r.state(t, m.tokens[0]); s != assets.StateExpired {
		t.Fatalf("state %v; want EXPIRED", s)
	}
	if unsub, _, _, _ := r.rec.snapshot(); len(unsub) != 0 {
		t.Errorf("unsubscribed %v; want nothing with UnsubscribeExpired off", unsub)
	}
}

func TestLifecycleRunLoopAndManualMarket(t *testing.T) {
	opt := goleak.IgnoreCurrent() // registered first: runs after the Gamma server and client are closed
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
	r := newRig(t, func(c *Config) {
		c.DiscoveryInterval = 5 * time.Millisecond
		c.ExpiryInterval = 5 * time.Millisecond
		c.CleanupInterval = 5 * time.Millisecond
	})
	m := testMarket(1, time.Time{})
	r.g.set(m)
	manual := Market{ID: "m", ConditionID: fmt.Sprintf("0x%064x", 99), AssetIDs: venuetest.TokenIDs(99, 2)}
	if err := r.l.AddMarket(manual); err != nil {
		t.Fatal(err)
	}
	if err := r.l.AddMarket(manual); err == nil {
		t.Error("AddMarket twice = nil; want an error")
	}
	if s := r.state(t, manual.AssetIDs[0]); s != assets.StatePending {
		t.Fatalf("manual asset %v; want PENDING at once", s)
	}
	if err := r.l.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	poll.For(t, 10*time.Second, time.Millisecond, func() error {
		if _, _, added, _ := r.rec.snapshot(); len(added) != 2 {
			return fmt.Errorf("OnNewMarket calls %v; want the manual and the listed market", added)
		}
		if st := r.l.Stats(); st.Discoveries < 3 {
			return fmt.Errorf("%d discoveries; want a few", st.Discoveries)
		}
		return nil
	})
	// Never listed by Gamma, but added by hand: not expired for absence.
	if s := r.state(t, manual.AssetIDs[0]); s != assets.StatePending {
		t.Errorf("manual market after complete listings %v; want PENDING", s)
	}

	// Stop while a listing hangs: the listing is cancelled and Stop returns.
	r.g.mu.Lock()
	r.g.block = make(chan struct{})
	r.g.mu.Unlock()
	defer close(r.g.block)
	n := r.g.requests.Load()
	poll.For(t, 10*time.Second, time.Millisecond, func() error {
		if r.g.requests.Load() == n {
			return fmt.Errorf("no listing in flight yet")
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.l.Stop(ctx); err != nil {
		t.Fatalf("Stop() = %v", err)
	}
	if err := r.l.Stop(ctx); err != nil {
		t.Errorf("second Stop() = %v; want nil", err)
	}
	if err := r.l.Start(context.Background()); err == nil {
		t.Error("Start after Stop = nil; want an error")
	}
}

func TestNewLifecycleRejectsBadGammaURL(t *testing.T) {
	if _, err := New(Config{Gamma: gamma.Config{BaseURL: "ftp://x"}}, assets.New(nil), nil, nil); err == nil {
		t.Error("New with an ftp Gamma URL = nil error; want one")
	}
}

// issue 12 defect 1: one listing that lost part of the market set (answered 200, looked
// complete) expired every market it missed, and expiry was terminal. Now a listing that
// would expire more than SuspectExpiryShare of the live markets is suspect and expires
// nothing, absence must be seen by two consecutive complete listings, and a market Gamma
// lists as open again is tracked and subscribed again.
func TestLifecycleSuspectListingAndRetrack(t *testing.T) {
	r := newRig(t, nil)
	far := r.clk.Now().Add(24 * time.Hour)
	var ms []gammaMarket
	for i := 1; i <= 20; i++ {
		ms = append(ms, testMarket(i, far))
	}
	r.g.set(ms...)
	r.l.discover(context.Background())

	// A quarter of the set vanishes from one listing that looks complete: suspect.
	r.g.set(ms[5:]...)
	r.l.discover(context.Background())
	r.l.discover(context.Background())
	if c := r.reg.Counts(); c.Expired != 0 {
		t.Fatalf("%d assets expired by listings missing 5 of 20 markets; want none (suspect)", c.Expired)
	}
	if st := r.l.Stats(); st.SuspectListings != 2 || st.Markets != 20 { // new stats
		t.Errorf("stats %+v; want 2 suspect listings and 20 live markets", st) // new stats
	} // new stats

	// An empty listing (the client calls it suspect) expires nothing either.
	r.g.set()
	r.l.discover(context.Background())
	if c := r.reg.Counts(); c.Expired != 0 {
		t.Fatalf("%d assets expired by an empty listing; want none", c.Expired)
	}

	// One market really closes: the first complete listing without it is not enough.
	gone := ms[19]
	r.g.set(ms[:19]...)
	r.l.discover(context.Background())
	if s := r.state(t, gone.tokens[0]); s != assets.StatePending {
		t.Fatalf("market missed by one complete listing: %v; want PENDING", s)
	}
	if st := r.l.Stats(); st.AbsentOnce != 1 { // new stats
		t.Errorf("AbsentOnce = %d; want 1", st.AbsentOnce) // new stats
	} // new stats
	// A suspect listing in between neither confirms nor forgets the absence.
	r.g.set(ms[:10]...)
	r.l.discover(context.Background())
	r.g.set(ms[:19]...)
	r.l.discover(context.Background())
	for _, id := range gone.tokens {
		if s := r.state(t, id); s != assets.StateExpired {
			t.Fatalf("market missed by two complete listings: %v; want EXPIRED", s)
		}
	}

	// It comes back open: tracked and subscribed again.
	r.g.set(ms...)
	r.l.discover(context.Background())
	for _, id := range gone.tokens {
		if e, _ := r.reg.Get(id); e.State != assets.StatePending || e.ConnID != 0 || !e.Expiry.Equal(far) {
			t.Fatalf("market listed open again: %+v; want PENDING on no connection, expiry %v", e, far)
		}
	}
	if _, expired, _ := r.l.Market(gone.cond); expired {
		t.Error("Market() still expired after Gamma listed it open again")
	}
	_, dropped, added, _ := r.rec.snapshot()
	if !slices.Equal(dropped, gone.tokens) || added[len(added)-1] != gone.cond {
		t.Errorf("dropped books %v, added %v; want the stale books of %s dropped and it announced again", dropped, added, gone.cond)
	}
	if st := r.l.Stats(); st.RetrackedMarkets != 1 || st.Markets != 20 || st.SuspectListings != 4 { // new stats
		t.Errorf("stats %+v; want 1 re-tracked market, 20 live, 4 suspect listings", st) // new stats
	} // new stats

	// A resolved market stays resolved however Gamma lists it.
	r.l.handleNotice(notice{resolved: true, id: ms[0].id, cond: ms[0].cond, assets: ms[0].tokens})
	r.l.discover(context.Background())
	if s := r.state(t, ms[0].tokens[0]); s != assets.StateExpired {
		t.Fatalf("resolved market after an open listing: %v; want EXPIRED", s)
	}
}

// issue 12 defect 6: a market past its end date was expired at the next check (no grace by
// default) and never came back, though Gamma kept listing it open with a later end date.
func TestLifecycleEndDateGraceByDefaultAndExtension(t *testing.T) {
	r := newRig(t, nil)
	end := r.clk.Now().Add(10 * time.Minute)
	m, other := testMarket(1, end), testMarket(2, end.Add(24*time.Hour))
	r.g.set(m, other)
	r.l.discover(context.Background())

	r.clk.Advance(20 * time.Minute) // ten minutes past the end: within the default grace
	r.l.checkExpiry()
	r.l.checkExpiry()
	if s := r.state(t, m.tokens[0]); s != assets.StatePending {
		t.Fatalf("market 10 min past its end date: %v; want PENDING (default grace 15 min)", s)
	}
	if st := r.l.Stats(); st.ExpiriesDeferred != 1 { // new stats
		t.Errorf("ExpiriesDeferred = %d; want 1 (counted once)", st.ExpiriesDeferred) // new stats
	} // new stats
	r.clk.Advance(6 * time.Minute)
	r.l.checkExpiry()
	if s := r.state(t, m.tokens[0]); s != assets.StateExpired {
		t.Fatalf("market past end date + grace: %v; want EXPIRED", s)
	}
	// Still listed open with the old end date: it stays expired.
	r.l.discover(context.Background())
	if s := r.state(t, m.tokens[0]); s != assets.StateExpired {
		t.Fatalf("market listed with its passed end date: %v; want EXPIRED", s)
	}
	// The end date is extended: it comes back, and expires by the new date only.
	ext := m
	ext.end = r.clk.Now().Add(time.Hour)
	r.g.set(ext, other)
	r.l.discover(context.Background())
	if e, _ := r.reg.Get(m.tokens[1]); e.State != assets.StatePending || !e.Expiry.Equal(ext.end) {
		t.Fatalf("market with an extended end date: %+v; want PENDING, expiry %v", e, ext.end)
	}
	r.l.checkExpiry()
	if s := r.state(t, m.tokens[0]); s != assets.StatePending {
		t.Fatalf("extended market after an expiry check: %v; want PENDING", s)
	}
	// Gamma says closed: no grace.
	closed := ext
	closed.closed = true
	r.g.set(closed, other)
	r.l.discover(context.Background())
	if s := r.state(t, m.tokens[0]); s != assets.StateExpired {
		t.Fatalf("market listed closed: %v; want EXPIRED at once", s)
	}
}

// countHandler counts log records by message.
type countHandler struct {
	mu sync.Mutex
	n  map[string]int
}

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.n[r.Message]++
	h.mu.Unlock()
	return nil
}
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countHandler) WithGroup(string) slog.Handler      { return h }

func (h *countHandler) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[msg]
}

// issue 12 defect 1: a run of suspect listings is one outage, logged once; the next run after
// a listing that was believed is logged again.
func TestLifecycleSuspectListingsLoggedOncePerRun(t *testing.T) {
	h := &countHandler{n: map[string]int{}}
	r := newRig(t, func(c *Config) { c.Logger = slog.New(h) })
	far := r.clk.Now().Add(24 * time.Hour)
	var ms []gammaMarket
	for i := 1; i <= 10; i++ {
		ms = append(ms, testMarket(i, far))
	}
	r.g.set(ms...)
	r.l.discover(context.Background())
	const msg = "market listing suspect: nothing expired for absence"
	r.g.set(ms[:5]...)
	for range 3 {
		r.l.discover(context.Background())
	}
	if n := h.count(msg); n != 1 {
		t.Errorf("%d suspect-listing warnings for one run of three; want 1", n)
	}
	r.g.set(ms...)
	r.l.discover(context.Background())
	r.g.set() // empty: the client calls it suspect
	r.l.discover(context.Background())
	r.l.discover(context.Background())
	if n, st := h.count(msg), r.l.Stats(); n != 2 || st.SuspectListings != 5 {
		t.Errorf("%d warnings, %d suspect listings; want 2 runs logged, 5 listings counted", n, st.SuspectListings)
	}
	if c := r.reg.Counts(); c.Expired != 0 {
		t.Errorf("%d assets expired", c.Expired)
	}
}
