package publish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/engine"
	"github.com/polyfeed/polyfeed/engine/enginetest"
	"github.com/polyfeed/polyfeed/engine/markets"
	"github.com/polyfeed/polyfeed/fixed"
	"github.com/polyfeed/polyfeed/internal/natsd"
	"github.com/polyfeed/polyfeed/internal/poll"
	"github.com/polyfeed/polyfeed/internal/sim"
	"github.com/polyfeed/polyfeed/internal/streamcheck"
	"github.com/polyfeed/polyfeed/internal/streamtest"
	"github.com/polyfeed/polyfeed/internal/testrig"
	"github.com/polyfeed/polyfeed/stream"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, streamtest.IgnoreServerGoroutines(), goleak.Cleanup(func(int) {
		if natsServerBin != "" {
			_ = os.RemoveAll(filepath.Dir(natsServerBin))
		}
	}))
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// memoryNATS starts an embedded server with memory storage and returns a
// connection to it; both are closed when the test ends.
func memoryNATS(t *testing.T) *nats.Conn {
	t.Helper()
	srv, err := natsd.New(natsd.Config{Memory: true, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	nc, err := srv.Conn()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// rig is a simulator, an embedded NATS server, a publisher and an engine
// wired as polyfeed wires them, each stopped at the end of the test.
type rig struct {
	t         *testing.T
	sim       *sim.Server
	natsCfg   natsd.Config
	srv       *natsd.Server // nil with ext
	ext       *extServer
	nc        *nats.Conn
	pub       *Publisher
	app       *engine.App
	ids       []string
	markets   []markets.Market
	lifecycle bool
	cons      *stream.Consumer // with follow
}

type rigConfig struct {
	sim  sim.Config
	nats natsd.Config
	ext  *extServer // an external nats-server process instead of natsd
	pub  func(*Config)
	// lifecycle turns the engine's Gamma discovery and expiry on (short
	// intervals): markets come and go with the simulator's churn, and
	// r.ids holds only the markets open when the rig started.
	lifecycle bool
	// follow starts a Go consumer (package stream, on its own connection)
	// right after the publisher: waitTruth then also waits for its books to
	// equal the truth.
	follow bool
}

func newRig(t *testing.T, rc rigConfig) *rig {
	t.Helper()
	r := &rig{t: t, natsCfg: rc.nats}
	s := testrig.Sim(t, rc.sim)
	r.sim = s
	opts := []nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(50 * time.Millisecond)}
	var (
		nc  *nats.Conn
		err error
	)
	if rc.ext != nil {
		r.ext = rc.ext
		r.ext.start(t)
		t.Cleanup(func() { r.ext.kill(t) })
		nc, err = nats.Connect(r.ext.url(), opts...)
	} else {
		r.startNATS()
		t.Cleanup(func() {
			if err := r.srv.Stop(context.Background()); err != nil {
				t.Errorf("cannot stop NATS: %v", err)
			}
		})
		nc, err = r.srv.Conn(opts...)
	}
	if err != nil {
		t.Fatal(err)
	}
	r.nc = nc
	t.Cleanup(nc.Close)

	cfg := Config{Conn: nc, Workers: 2, Storage: storage(rc.nats), Logger: quiet()}
	if rc.pub != nil {
		rc.pub(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.pub = testrig.Start(t, "publisher", p)

	if rc.follow {
		r.follow(opts)
	}
	r.lifecycle = rc.lifecycle
	ecfg := enginetest.Loopback(s.WSURL(), s.GammaURL())
	ecfg.Workers, ecfg.RingSize = cfg.Workers, 1<<14
	ecfg.DisableLifecycle, ecfg.DisableRecycling = !rc.lifecycle, true
	ecfg.Handler, ecfg.OnMarketExpired = p.Handler, p.MarketExpired
	if rc.lifecycle {
		ecfg.Lifecycle = markets.Config{
			DiscoveryInterval: 300 * time.Millisecond, ExpiryInterval: 100 * time.Millisecond,
			CleanupInterval: 100 * time.Millisecond, CleanupGrace: 2 * time.Second,
			// End dates are the simulator's: its clock lags the wall clock
			// under load and stops while it is paused.
			Now: s.Now,
		}
	}
	app := enginetest.Start(t, ecfg)
	r.app = app
	for _, m := range s.Markets() {
		if m.Closed || !m.EnableOrderBook {
			continue
		}
		em := markets.Market{ID: m.ID, ConditionID: m.ConditionID, AssetIDs: m.TokenIDs, Outcomes: m.Outcomes, EndDate: m.EndDate}
		if !rc.lifecycle {
			if err := app.AddMarket(em); err != nil {
				t.Fatal(err)
			}
		}
		r.markets = append(r.markets, em)
		r.ids = append(r.ids, m.TokenIDs...)
	}
	return r
}

// follow starts r.cons on a connection of its own, closed at the end.
func (r *rig) follow(opts []nats.Option) {
	r.t.Helper()
	var nc *nats.Conn
	var err error
	if r.ext != nil {
		nc, err = nats.Connect(r.ext.url(), opts...)
	} else {
		nc, err = r.srv.Conn(opts...)
	}
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(nc.Close)
	c, err := stream.New(stream.Config{Conn: nc, Logger: quiet()})
	if err != nil {
		r.t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() {
		if err := c.Close(); err != nil {
			r.t.Errorf("cannot close consumer: %v", err)
		}
	})
	r.cons = c
}

// truth is the simulator's book of an asset, for package streamcheck.
func (r *rig) truth(id string) (bids, asks streamcheck.Side, ok bool) {
	b, ok := r.sim.Book(id)
	if !ok {
		return nil, nil, false
	}
	bids, asks = streamcheck.Side{}, streamcheck.Side{}
	for _, l := range b.Bids {
		bids = append(bids, [2]string{l.Price.String(), l.Size.String()})
	}
	for _, l := range b.Asks {
		asks = append(asks, [2]string{l.Price.String(), l.Size.String()})
	}
	return bids, asks, true
}

// consumerEqualsTruth: every asset of ids is Live in c and its levels equal
// the simulator's.
func (r *rig) consumerEqualsTruth(c *stream.Consumer, ids []string) error {
	for _, id := range ids {
		if b, ok := c.Book(id); !ok || b.State != stream.Live {
			return fmt.Errorf("consumer: asset %s is %v (%s)", id, b.State, b.Reason)
		}
	}
	return streamcheck.GoEqualsTruth(c, ids, r.truth)
}

func storage(c natsd.Config) jetstream.StorageType {
	if c.Memory {
		return jetstream.MemoryStorage
	}
	return jetstream.FileStorage
}

func (r *rig) startNATS() {
	r.t.Helper()
	if r.natsCfg.Logger == nil {
		r.natsCfg.Logger = quiet()
	}
	srv, err := natsd.New(r.natsCfg)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	r.srv = srv
}

// openIDs returns the assets of the simulator's open markets now.
func (r *rig) openIDs() []string {
	var ids []string
	for _, m := range r.sim.Markets() {
		if !m.Closed && m.EnableOrderBook {
			ids = append(ids, m.TokenIDs...)
		}
	}
	return ids
}

// waitValid waits until the engine holds a valid book of every asset (of
// every open market, with the lifecycle on).
func (r *rig) waitValid() {
	r.t.Helper()
	poll.For(r.t, 30*time.Second, 50*time.Millisecond, func() error {
		ids := r.ids
		if r.lifecycle {
			ids = r.openIDs()
		}
		for _, id := range ids {
			v, ok, err := r.app.Book(context.Background(), id, 0)
			if err != nil || !ok || !v.Valid {
				return fmt.Errorf("book of %s not valid yet", id)
			}
		}
		return nil
	})
}

// streamMsg is one decoded message of the contract.
type streamMsg struct {
	V        int         `json:"v"`
	Type     string      `json:"type"`
	Asset    string      `json:"asset_id"`
	Market   string      `json:"market"`
	Epoch    int64       `json:"epoch"`
	Seq      uint64      `json:"seq"`
	TS       int64       `json:"ts_ms"`
	Bids     [][2]string `json:"bids"`
	Asks     [][2]string `json:"asks"`
	TickSize string      `json:"tick_size"`
	Valid    bool        `json:"valid"`
	Changes  [][3]string `json:"changes"`
	BestBid  *string     `json:"best_bid"`
	BestAsk  *string     `json:"best_ask"`
	Price    string      `json:"price"`
	Size     string      `json:"size"`
	Side     string      `json:"side"`
	State    string      `json:"state"`
	Reason   string      `json:"reason"`

	subject, msgID string
}

// readStream returns every message of stream name, in stream order.
func (r *rig) readStream(name string) []streamMsg {
	r.t.Helper()
	return r.readStreamFrom(name, time.Time{})
}

// readStreamFrom returns the messages of stream name stored at or after
// from (zero: all), in stream order.
func (r *rig) readStreamFrom(name string, from time.Time) []streamMsg {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	js, err := jetstream.New(r.nc)
	if err != nil {
		r.t.Fatal(err)
	}
	s, err := js.Stream(ctx, name)
	if err != nil {
		r.t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []streamMsg
	if info.State.Msgs == 0 {
		return out
	}
	occ := jetstream.OrderedConsumerConfig{}
	if !from.IsZero() {
		occ.DeliverPolicy, occ.OptStartTime = jetstream.DeliverByStartTimePolicy, &from
	}
	cons, err := s.OrderedConsumer(ctx, occ)
	if err != nil {
		r.t.Fatal(err)
	}
	for last := false; !last && uint64(len(out)) < info.State.Msgs; {
		batch, err := cons.Fetch(2000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			r.t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var sm streamMsg
			if err := json.Unmarshal(m.Data(), &sm); err != nil {
				r.t.Fatalf("message on %s is not JSON: %v: %s", m.Subject(), err, m.Data())
			}
			sm.subject, sm.msgID = m.Subject(), m.Headers().Get(jetstream.MsgIDHeader)
			out = append(out, sm)
			if md, err := m.Metadata(); err == nil && md.NumPending == 0 {
				last = true
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			r.t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	return out
}

// refBook is the test's reference consumer: the contract's rules, written
// independently of any consumer library.
type refBook struct {
	epoch      int64
	seq        uint64
	synced     bool
	valid      bool
	closed     bool
	bids, asks map[string]string
	gaps       int
}

// rebuild replays msgs (stream order) with the consumer rules and checks
// every message's own invariants on the way.
func rebuild(t *testing.T, prefix string, msgs []streamMsg) map[string]*refBook {
	t.Helper()
	return rebuildOnto(t, prefix, map[string]*refBook{}, msgs)
}

// rebuildOnto is rebuild starting from books (seeded from BOOKS by a late
// joiner).
func rebuildOnto(t *testing.T, prefix string, books map[string]*refBook, msgs []streamMsg) map[string]*refBook {
	t.Helper()
	for _, m := range msgs {
		if m.V != 1 {
			t.Fatalf("message with v=%d", m.V)
		}
		if want := Subject(prefix, m.Type, m.Asset); m.subject != want {
			t.Fatalf("message on %s; want subject %s", m.subject, want)
		}
		// Books and the messages that asked for an acknowledgement carry
		// Nats-Msg-Id; the others none.
		if want := msgID(m.Asset, m.Epoch, m.Seq); m.msgID != want && (m.msgID != "" || m.Type == TypeBook) {
			t.Fatalf("%s: Nats-Msg-Id %q; want %q", m.Type, m.msgID, want)
		}
		if m.Epoch <= 0 || m.Epoch > MaxEpoch || m.Seq == 0 {
			t.Fatalf("bad epoch/seq %d/%d", m.Epoch, m.Seq)
		}
		rb := books[m.Asset]
		if rb == nil {
			rb = &refBook{}
			books[m.Asset] = rb
		}
		if rb.closed {
			t.Fatalf("asset %s: message after closed: %+v", m.Asset, m)
		}
		switch {
		case m.Epoch < rb.epoch:
			continue
		case m.Epoch > rb.epoch:
			rb.epoch, rb.synced = m.Epoch, false
		}
		if m.Type == TypeBook {
			rb.seq, rb.synced, rb.valid = m.Seq, true, m.Valid
			rb.bids, rb.asks = levelMap(t, m.Bids, true), levelMap(t, m.Asks, false)
			continue
		}
		if !rb.synced || m.Seq <= rb.seq {
			continue // before a book, or covered by the book applied
		}
		if m.Seq != rb.seq+1 {
			rb.gaps++
			rb.synced = false
			continue
		}
		rb.seq = m.Seq
		switch m.Type {
		case TypeDelta:
			for _, c := range m.Changes {
				side := rb.bids
				if c[0] == "SELL" {
					side = rb.asks
				}
				if fixed.MustParse(c[2]) == 0 {
					delete(side, c[1])
				} else {
					side[c[1]] = c[2]
				}
			}
			checkBest(t, m, "best_bid", m.BestBid, rb.bids, true)
			checkBest(t, m, "best_ask", m.BestAsk, rb.asks, false)
		case TypeStatus:
			switch m.State {
			case StateStale:
				rb.valid = false
			case StateClosed:
				rb.closed = true
			}
		}
	}
	return books
}

func levelMap(t *testing.T, ls [][2]string, bids bool) map[string]string {
	t.Helper()
	out := map[string]string{}
	var prev fixed.Point
	for i, l := range ls {
		p, s := fixed.MustParse(l[0]), fixed.MustParse(l[1])
		if s <= 0 {
			t.Fatalf("book level %v has no size", l)
		}
		if i > 0 && (bids && p >= prev || !bids && p <= prev) {
			t.Fatalf("book levels out of order at %v", l)
		}
		prev = p
		out[l[0]] = l[1]
	}
	return out
}

func checkBest(t *testing.T, m streamMsg, name string, got *string, side map[string]string, bids bool) {
	t.Helper()
	best := ""
	var bp fixed.Point
	for p := range side {
		v := fixed.MustParse(p)
		if best == "" || bids && v > bp || !bids && v < bp {
			best, bp = p, v
		}
	}
	switch {
	case got == nil && best != "":
		t.Fatalf("%s seq %d: %s null; book has %s", m.Asset, m.Seq, name, best)
	case got != nil && *got != best:
		t.Fatalf("%s seq %d: %s %s; book has %q", m.Asset, m.Seq, name, *got, best)
	}
}

// equalTruth compares the rebuilt books with the simulator's.
func (r *rig) equalTruth(books map[string]*refBook) error {
	for _, id := range r.ids {
		rb := books[id]
		if rb == nil || !rb.synced || !rb.valid {
			return fmt.Errorf("asset %s: rebuilt book missing, out of sync or stale (%+v)", id, rb)
		}
		truth, ok := r.sim.Book(id)
		if !ok {
			return fmt.Errorf("simulator has no book %s", id)
		}
		if err := sameLevels(rb.bids, truth.Bids); err != nil {
			return fmt.Errorf("asset %s bids: %w", id, err)
		}
		if err := sameLevels(rb.asks, truth.Asks); err != nil {
			return fmt.Errorf("asset %s asks: %w", id, err)
		}
	}
	return nil
}

func sameLevels(got map[string]string, want []sim.Level) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d levels; truth has %d", len(got), len(want))
	}
	for _, l := range want {
		s, ok := got[l.Price.String()]
		if !ok || fixed.MustParse(s) != l.Size {
			return fmt.Errorf("level %s: %q; truth %s", l.Price, s, l.Size)
		}
	}
	return nil
}

// waitTruth pauses the simulator and waits until the stream, replayed by
// the test's reference rules, equals the truth, and so do the books of the
// following consumer (package stream) when there is one.
func (r *rig) waitTruth() map[string]*refBook {
	r.t.Helper()
	r.sim.Pause()
	var books map[string]*refBook
	poll.For(r.t, 40*time.Second, 300*time.Millisecond, func() error {
		books = rebuild(r.t, r.pub.cfg.Prefix, r.readStream(EventsStream(r.pub.cfg.Prefix)))
		return r.equalTruth(books)
	})
	if r.cons != nil {
		poll.For(r.t, 40*time.Second, 100*time.Millisecond, func() error {
			return r.consumerEqualsTruth(r.cons, r.ids)
		})
	}
	return books
}

func (r *rig) epochs(msgs []streamMsg) map[string][]int64 {
	out := map[string][]int64{}
	for _, m := range msgs {
		if !slices.Contains(out[m.Asset], m.Epoch) {
			out[m.Asset] = append(out[m.Asset], m.Epoch)
		}
	}
	return out
}

func errorf(format string, a ...any) error { return fmt.Errorf(format, a...) }
