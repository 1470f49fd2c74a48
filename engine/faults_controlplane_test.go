package engine

// Fault-matrix cases of the control plane (issue 12): Gamma listings that
// lie during churn, and placement while connections are recycled. Each ends,
// like the rest of the matrix, with every live book equal to the
// simulator's truth and no goroutine left behind.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/engine/assets"
	"github.com/polyfeed/polyfeed/engine/markets"
	"github.com/polyfeed/polyfeed/engine/recycle"
	"github.com/polyfeed/polyfeed/engine/venue"
	"github.com/polyfeed/polyfeed/internal/poll"
	"github.com/polyfeed/polyfeed/internal/sim"
	"github.com/polyfeed/polyfeed/internal/testrig"
)

// simLive returns the assets of the simulator's open, book-carrying markets.
func simLive(s *sim.Server) []string {
	var ids []string
	for _, m := range s.Markets() {
		if !m.Closed && m.EnableOrderBook {
			ids = append(ids, m.TokenIDs...)
		}
	}
	return ids
}

// falselyExpired returns the registry's EXPIRED assets whose market the
// simulator still has open. The registry is read first: a market that closes
// in between is then seen closed, never reported falsely.
func falselyExpired(a *App, s *sim.Server) []string {
	expired := a.Registry().ByState(assets.StateExpired)
	live := simLive(s)
	var bad []string
	for _, id := range expired {
		if slices.Contains(live, id) {
			bad = append(bad, id)
		}
	}
	return bad
}

// waitLiveSubscribed waits until every live asset of the simulator is
// SUBSCRIBED on a connection that carries it, and returns them.
func waitLiveSubscribed(t *testing.T, a *App, s *sim.Server) []string {
	t.Helper()
	var live []string
	poll.For(t, 60*time.Second, 50*time.Millisecond, func() error {
		live = simLive(s)
		for _, id := range live {
			e, ok := a.Registry().Get(id)
			if !ok || e.State != assets.StateSubscribed {
				return fmt.Errorf("live asset %s… is %v (known %v)", id[:10], e.State, ok)
			}
			c, ok := a.Pool().Conn(e.ConnID)
			if !ok || !c.Has(id) || c.Status() == venue.ConnClosed {
				return fmt.Errorf("live asset %s… not carried by its connection %d", id[:10], e.ConnID)
			}
		}
		return nil
	})
	return live
}

// waitLiveValid waits until the book of every asset live in the simulator at
// that moment is valid: under churn a market may close before it was ever
// subscribed, so the set is taken again at each try.
func waitLiveValid(t *testing.T, a *App, s *sim.Server) {
	t.Helper()
	ctx := context.Background()
	poll.For(t, 30*time.Second, 20*time.Millisecond, func() error {
		for _, id := range simLive(s) {
			if v, ok, err := a.Book(ctx, id, 1); err != nil || !ok || !v.Valid {
				return fmt.Errorf("live asset %s… has no valid book yet (known %v, err %v)", id[:10], ok, err)
			}
		}
		return nil
	})
}

// TestFaultGammaSuspectDuringChurn (issue 12 defect 1): while markets open
// and close, Gamma answers some listings with no market at all and cuts
// keyset listings short. No open market is expired on such a listing; the
// markets that really close still expire; and once Gamma heals every live
// market is subscribed and every book equals the truth.
func TestFaultGammaSuspectDuringChurn(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	sz := faultScale()
	s := testrig.Sim(t, sim.Config{Seed: 95, Markets: sz.markets, Rate: sz.rate, ChurnPerMinute: 120})
	a := faultApp(t, s, func(c *Config) {
		c.DisableLifecycle = false
		c.Lifecycle = markets.Config{DiscoveryInterval: 100 * time.Millisecond, ExpiryInterval: 50 * time.Millisecond,
			CleanupInterval: 100 * time.Millisecond, CleanupGrace: time.Hour}
		c.Lifecycle.Gamma.PageLimit = 20 // several keyset pages, so a cut can hide markets
	})
	waitLiveValid(t, a, s)
	expiredBefore := a.Stats().Lifecycle.(markets.Stats).ExpiredMarkets

	setFaults(t, s, "gammaempty=0.3,gammacut=0.5")
	var once sync.Once
	poll.For(t, 60*time.Second, 20*time.Millisecond, func() error {
		if bad := falselyExpired(a, s); len(bad) > 0 {
			once.Do(func() {
				t.Errorf("%d assets of open markets expired during suspect listings, e.g. %s…", len(bad), bad[0][:10])
			})
		}
		ss, ls := s.Stats(), a.Stats().Lifecycle.(markets.Stats)
		want := uint64(3 * sz.rounds)
		switch {
		case ss.GammaEmpty < want || ss.GammaCuts < want:
			return fmt.Errorf("gamma faults so far: %d empty, %d cut", ss.GammaEmpty, ss.GammaCuts)
		case ls.SuspectListings < 2*want:
			return fmt.Errorf("%d suspect listings so far", ls.SuspectListings)
		case ls.ExpiredMarkets == expiredBefore:
			return fmt.Errorf("no market expired yet (%v)", ls.ExpiredBy)
		}
		return nil
	})
	setFaults(t, s, "none")
	waitLiveSubscribed(t, a, s)
	if bad := falselyExpired(a, s); len(bad) > 0 {
		t.Errorf("%d assets of open markets expired", len(bad))
	}
	s.Pause() // churn stops too: the live set holds still
	live := waitLiveSubscribed(t, a, s)
	waitAllValid(t, a, live, 30*time.Second)
	waitQuiescent(t, a)
	compareWithTruth(t, a, s, live)
}

// TestFaultPlacementDuringRecycle (issue 12 defect 8): markets arrive while
// every connection is being recycled. None is placed on a connection being
// recycled (it would be left behind when it closes); each ends on an open
// connection that carries it, and every book equals the truth.
func TestFaultPlacementDuringRecycle(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	sz := faultScale()
	s := testrig.Sim(t, sim.Config{Seed: 96, Markets: sz.markets, Rate: sz.rate})
	a := faultApp(t, s, func(c *Config) {
		// Room on every connection, so the pool would top up the old ones.
		c.AssetsPerConn = sz.perConn * 2
		c.DisableRecycling = false
		c.Recycler = recycle.Config{CheckInterval: time.Hour, MaxConcurrent: 64,
			Stabilization: 500 * time.Millisecond, MaxStabilization: 2 * time.Second}
	})
	var first, second []markets.Market
	for i, m := range s.Markets() {
		if m.Closed || !m.EnableOrderBook {
			continue
		}
		mm := markets.Market{ID: m.ID, ConditionID: m.ConditionID, AssetIDs: m.TokenIDs, Outcomes: m.Outcomes, EndDate: m.EndDate}
		if i%2 == 0 {
			first = append(first, mm)
		} else {
			second = append(second, mm)
		}
	}
	var ids []string
	for _, m := range first {
		if err := a.AddMarket(m); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.AssetIDs...)
	}
	waitAllValid(t, a, ids, 30*time.Second)
	for round := range sz.rounds {
		conns := a.Pool().Conns()
		errs := make(chan error, len(conns))
		var wg sync.WaitGroup
		for _, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- a.ForceRecycle(c.ID())
			}()
		}
		poll.For(t, 10*time.Second, time.Millisecond, func() error {
			if n := a.Pool().Stats().Recycling; n != len(conns) {
				return fmt.Errorf("%d of %d connections being recycled", n, len(conns))
			}
			return nil
		})
		// New markets arrive mid-recycle: a share of the second half each round.
		part := second[round*len(second)/sz.rounds : (round+1)*len(second)/sz.rounds]
		for _, m := range part {
			if err := a.AddMarket(m); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, m.AssetIDs...)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: recycle failed: %v", round, err)
			}
		}
	}
	if ps := a.Pool().Stats(); ps.RecyclingRefused == 0 || ps.Recycling != 0 {
		t.Errorf("pool: %d assets refused by recycling connections, %d still recycling; want some refused, none recycling", ps.RecyclingRefused, ps.Recycling)
	}
	poll.For(t, 30*time.Second, 20*time.Millisecond, func() error {
		for _, id := range ids {
			e, _ := a.Registry().Get(id)
			c, ok := a.Pool().Conn(e.ConnID)
			if e.State != assets.StateSubscribed || !ok || !c.Has(id) || c.Status() == venue.ConnClosed {
				return fmt.Errorf("asset %s… %v on %d: want SUBSCRIBED on an open connection that carries it", id[:10], e.State, e.ConnID)
			}
		}
		return nil
	})
	settleAndCompare(t, a, s, ids)
}

// holdProxy forwards TCP connections to the simulator; while holding, a new
// connection's bytes from the simulator wait (the WebSocket upgrade
// included) until release, so a socket opened then delivers nothing until
// the test says so.
type holdProxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	holding bool
	gate    chan struct{} // closed by release
	wg      sync.WaitGroup
	conns   []net.Conn
}

func newHoldProxy(t *testing.T, target string) *holdProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &holdProxy{ln: ln, target: target, gate: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *holdProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		gate := closedChan
		if p.holding {
			gate = p.gate
		}
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { // client → simulator: always flows
			defer p.wg.Done()
			_, _ = io.Copy(up, c)
			_ = up.Close()
		}()
		go func() { // simulator → client: waits for the gate
			defer p.wg.Done()
			<-gate
			_, _ = io.Copy(c, up)
			_ = c.Close()
		}()
	}
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// hold makes connections accepted from now on wait for release.
func (p *holdProxy) hold() {
	p.mu.Lock()
	p.holding, p.gate = true, make(chan struct{})
	p.mu.Unlock()
}

// release lets held connections flow and stops holding new ones.
func (p *holdProxy) release() {
	p.mu.Lock()
	if p.holding {
		p.holding = false
		close(p.gate)
	}
	p.mu.Unlock()
}

func (p *holdProxy) close() {
	_ = p.ln.Close()
	p.release()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// lateClosePool is the engine's pool as the recycler sees it, except that
// closing a replacement first lets its held frames through and waits until
// some assets switched to it: the replacement delivered nothing by the end
// of the wait, so the recycle rolls back, but its frames slip in while it
// closes.
type lateClosePool struct {
	*venue.Pool
	proxy *holdProxy
	a     *App

	mu      sync.Mutex
	opened  map[int64]bool
	slipped int // replacements whose frames switched assets before the close
}

func (p *lateClosePool) OpenConn(ids []string) (*venue.Conn, error) {
	c, err := p.Pool.OpenConn(ids)
	if err == nil {
		p.mu.Lock()
		p.opened[c.ID()] = true
		p.mu.Unlock()
	}
	return c, err
}

func (p *lateClosePool) CloseConn(ctx context.Context, id int64) error {
	p.mu.Lock()
	replacement := p.opened[id]
	p.mu.Unlock()
	if replacement {
		before := migratedTotal(p.a)
		p.proxy.release()
		deadline := time.Now().Add(10 * time.Second)
		for migratedTotal(p.a) == before && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond) // bounded: the close goes ahead either way
		}
		if migratedTotal(p.a) > before {
			p.mu.Lock()
			p.slipped++
			p.mu.Unlock()
		}
	}
	return p.Pool.CloseConn(ctx, id)
}

func migratedTotal(a *App) uint64 {
	var n uint64
	for _, w := range a.data.workerStats() {
		n += w.Migrated
	}
	return n
}

// TestFaultRollbackAfterLateFrame (issue 12 defect 2): a recycle whose
// replacement delivered nothing by the end of the wait is rolled back, but
// the replacement's frames slip in while it closes and switch assets to it.
// After the rollback every asset is fed by the old connection again (or was
// invalidated and resynced from it): no book stays valid and frozen, and
// every book equals the truth.
func TestFaultRollbackAfterLateFrame(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	sz := faultScale()
	s := faultSim(t, 97, "none")
	u, err := url.Parse(s.WSURL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := newHoldProxy(t, u.Host)
	a := faultApp(t, s, func(c *Config) {
		c.WSURL = "ws://" + proxy.ln.Addr().String() + u.Path
		c.AssetStaleAfter = -1 // a frozen book must not be healed by the staleness sweep
	})
	ids := addSimMarkets(a, s)
	waitAllValid(t, a, ids, 30*time.Second)

	pool := &lateClosePool{Pool: a.Pool(), proxy: proxy, a: a, opened: map[int64]bool{}}
	rec := recycle.New(recycle.Config{CheckInterval: time.Hour, Stabilization: 300 * time.Millisecond,
		MaxStabilization: time.Second, Logger: testrig.Logger()}, a.Registry(), pool, mover{a.data})
	if err := rec.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rec.Stop(context.Background()) }) // before the App's stop: registered later
	for round := range sz.rounds {
		for _, c := range a.Pool().Conns() {
			proxy.hold()
			if err := rec.ForceRecycle(c.ID()); err == nil {
				t.Fatalf("round %d: recycle of connection %d went forward; want it rolled back", round, c.ID())
			}
			if st := c.Status(); st == venue.ConnClosed {
				t.Fatalf("round %d: the old connection %d was closed by a rollback", round, c.ID())
			}
		}
	}
	pool.mu.Lock()
	slipped := pool.slipped
	pool.mu.Unlock()
	if slipped == 0 {
		t.Fatal("no replacement switched assets before its close: the case did not happen")
	}
	t.Logf("%d rolled-back replacements had switched assets", slipped)
	settleAndCompare(t, a, s, ids)
}

// hidingGamma fronts the simulator's Gamma and leaves one market out of
// every listing while hide names its condition id (the listing stays
// complete and consistent, as when Gamma briefly drops a market), or lists
// one market with another end date while end names it.
type hidingGamma struct {
	srv  *httptest.Server
	hide atomic.Pointer[string]
	end  atomic.Pointer[endEdit]
}

type endEdit struct {
	cond string
	at   time.Time
}

func newHidingGamma(t *testing.T, target string) *hidingGamma {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	g := &hidingGamma{}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = g.filter
	g.srv = httptest.NewServer(rp)
	t.Cleanup(g.srv.Close)
	return g
}

func (g *hidingGamma) set(cond string) { g.hide.Store(&cond) }

// setEnd lists market cond with end date at (zero: as the simulator says).
func (g *hidingGamma) setEnd(cond string, at time.Time) { g.end.Store(&endEdit{cond: cond, at: at}) }

func (g *hidingGamma) filter(resp *http.Response) error {
	hide, end := g.hide.Load(), g.end.Load()
	if (hide == nil || *hide == "") && (end == nil || end.at.IsZero()) || resp.StatusCode != http.StatusOK {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return err
	}
	keep := func(list []json.RawMessage) []json.RawMessage {
		out := list[:0]
		for _, m := range list {
			var obj map[string]json.RawMessage
			var cond string
			if json.Unmarshal(m, &obj) != nil || json.Unmarshal(obj["conditionId"], &cond) != nil {
				out = append(out, m)
				continue
			}
			if hide != nil && cond == *hide {
				continue
			}
			if end != nil && !end.at.IsZero() && cond == end.cond {
				obj["endDate"], _ = json.Marshal(end.at.UTC().Format(time.RFC3339))
				if b, err := json.Marshal(obj); err == nil {
					m = b
				}
			}
			out = append(out, m)
		}
		return out
	}
	var page map[string]json.RawMessage
	var list []json.RawMessage
	switch {
	case json.Unmarshal(body, &list) == nil:
		body, err = json.Marshal(keep(list))
	case json.Unmarshal(body, &page) == nil && page["markets"] != nil:
		if err = json.Unmarshal(page["markets"], &list); err == nil {
			page["markets"], err = json.Marshal(keep(list))
		}
		if err == nil {
			body, err = json.Marshal(page)
		}
	}
	if err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}

// TestFaultMarketBackAfterAbsence (issue 12 defect 1): Gamma leaves an open
// market out of its complete listings long enough for it to expire, then
// lists it again. Expiry by absence used to be terminal; now the market is
// tracked and subscribed again, and its book equals the truth.
func TestFaultMarketBackAfterAbsence(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	s := faultSim(t, 98, "none")
	g := newHidingGamma(t, s.GammaURL())
	a := faultApp(t, s, func(c *Config) {
		c.GammaURL = g.srv.URL
		c.DisableLifecycle = false
		c.Lifecycle = markets.Config{DiscoveryInterval: 100 * time.Millisecond, ExpiryInterval: 50 * time.Millisecond,
			CleanupInterval: 100 * time.Millisecond, CleanupGrace: time.Hour}
	})
	ids := simLive(s)
	waitAllValid(t, a, ids, 30*time.Second)
	for round := range faultScale().rounds {
		var m sim.Market
		for _, x := range s.Markets() {
			if !x.Closed && x.EnableOrderBook {
				m = x
				break
			}
		}
		g.set(m.ConditionID)
		poll.For(t, 30*time.Second, 10*time.Millisecond, func() error {
			for _, id := range m.TokenIDs {
				if e, _ := a.Registry().Get(id); e.State != assets.StateExpired {
					return fmt.Errorf("round %d: hidden market's asset %s… is %v", round, id[:10], e.State)
				}
			}
			return nil
		})
		g.set("")
		waitLiveSubscribed(t, a, s)
	}
	if ls := a.Stats().Lifecycle.(markets.Stats); ls.RetrackedMarkets < uint64(faultScale().rounds) {
		t.Errorf("%d markets re-tracked; want %d", ls.RetrackedMarkets, faultScale().rounds)
	}
	settleAndCompare(t, a, s, ids)
}

// TestFaultEndDateGraceAndExtension (issue 12 defect 6): Gamma lists an
// open market with an end date just passed: it stays subscribed through the
// grace; once the end date is further back than the grace it expires; when
// Gamma extends the end date it comes back, subscribed, with its book equal
// to the truth. End-date expiry used to be immediate and terminal.
func TestFaultEndDateGraceAndExtension(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	s := faultSim(t, 99, "none")
	g := newHidingGamma(t, s.GammaURL())
	const grace = time.Hour
	a := faultApp(t, s, func(c *Config) {
		c.GammaURL = g.srv.URL
		c.DisableLifecycle = false
		c.Lifecycle = markets.Config{DiscoveryInterval: 100 * time.Millisecond, ExpiryInterval: 20 * time.Millisecond,
			CleanupInterval: 100 * time.Millisecond, CleanupGrace: time.Hour, ExpiryGrace: grace}
	})
	ids := simLive(s)
	waitAllValid(t, a, ids, 30*time.Second)
	var m sim.Market
	for _, x := range s.Markets() {
		if !x.Closed && x.EnableOrderBook {
			m = x
			break
		}
	}
	state := func() assets.State {
		e, _ := a.Registry().Get(m.TokenIDs[0])
		return e.State
	}
	lifeStats := func() markets.Stats { return a.Stats().Lifecycle.(markets.Stats) }

	// Ended a minute ago, by Gamma's listing: kept for the grace.
	g.setEnd(m.ConditionID, time.Now().Add(-time.Minute))
	poll.For(t, 30*time.Second, 10*time.Millisecond, func() error {
		if ls := lifeStats(); ls.ExpiriesDeferred == 0 {
			return fmt.Errorf("no expiry deferred yet")
		}
		return nil
	})
	// The check that deferred it left it subscribed.
	if st := state(); st != assets.StateSubscribed {
		t.Fatalf("market a minute past its end date, within a %v grace: %v; want SUBSCRIBED", grace, st)
	}
	// Ended longer ago than the grace: it expires.
	g.setEnd(m.ConditionID, time.Now().Add(-grace-time.Minute))
	poll.For(t, 30*time.Second, 10*time.Millisecond, func() error {
		if st := state(); st != assets.StateExpired {
			return fmt.Errorf("market past end date + grace: %v", st)
		}
		return nil
	})
	// Gamma extends the end date: the market comes back.
	g.setEnd(m.ConditionID, time.Now().Add(24*time.Hour))
	waitLiveSubscribed(t, a, s)
	if ls := lifeStats(); ls.RetrackedMarkets == 0 || ls.ExpiredBy[markets.ExpiryEndDate] == 0 {
		t.Errorf("lifecycle stats %+v; want an end-date expiry and a re-tracked market", ls)
	}
	settleAndCompare(t, a, s, ids)
}
