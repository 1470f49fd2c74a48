package stream_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/internal/poll"
	"github.com/polyfeed/polyfeed/internal/streamtest"
	"github.com/polyfeed/polyfeed/stream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, streamtest.IgnoreServerGoroutines()) }

const prefix = "polyfeed"

type env struct {
	srv *streamtest.Server
	nc  *nats.Conn
	pub *streamtest.Publisher
}

func setup(t *testing.T) *env {
	srv := streamtest.StartServer(t)
	nc := srv.Connect(t)
	streamtest.CreateStreams(t, nc, prefix)
	return &env{srv: srv, nc: nc, pub: streamtest.NewPublisher(t, srv.Connect(t), prefix)}
}

func (e *env) consumer(t *testing.T, cfg stream.Config) *stream.Consumer {
	t.Helper()
	if cfg.Conn == nil {
		cfg.Conn = e.nc
	}
	cfg.Prefix = prefix
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	c, err := stream.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// sameBook reports how asset's book in c differs from the publisher's truth.
func sameBook(c *stream.Consumer, pub *streamtest.Publisher, asset string, state stream.State) error {
	b, ok := c.Book(asset)
	if !ok {
		return fmt.Errorf("asset %s: no book", asset)
	}
	if b.State != state {
		return fmt.Errorf("asset %s: state %v (%s), want %v", asset, b.State, b.Reason, state)
	}
	bids, asks := pub.Truth(asset)
	if got := levels(b.Bids()); fmt.Sprint(got) != fmt.Sprint(bids) {
		return fmt.Errorf("asset %s bids:\n got %v\nwant %v", asset, got, bids)
	}
	if got := levels(b.Asks()); fmt.Sprint(got) != fmt.Sprint(asks) {
		return fmt.Errorf("asset %s asks:\n got %v\nwant %v", asset, got, asks)
	}
	if b.Epoch != pub.Epoch(asset) {
		return fmt.Errorf("asset %s: epoch %d, want %d", asset, b.Epoch, pub.Epoch(asset))
	}
	return nil
}

func levels(ls []stream.Level) [][2]string {
	out := [][2]string{}
	for _, l := range ls {
		out = append(out, [2]string{l.Price.String(), l.Size.String()})
	}
	return out
}

func allSame(c *stream.Consumer, pub *streamtest.Publisher, state stream.State, assets ...string) func() error {
	return func() error {
		for _, a := range assets {
			if err := sameBook(c, pub, a, state); err != nil {
				return err
			}
		}
		return nil
	}
}

// TestLateJoiner: the consumer joins after the stream has history. Assets with a book
// in the look-back window start at it (messages before it are skipped); an asset
// silent for the whole window comes from the books stream, shown stale; then it
// follows live and stays exact.
func TestLateJoiner(t *testing.T) {
	e := setup(t)
	r := rand.New(rand.NewPCG(1, 2))
	assets := []string{"a1", "a2", "a3", "a4", "a5", "silent"}
	for i, a := range assets {
		e.pub.Add(a, fmt.Sprintf("m%d", i%3), 1_764_547_200_000+int64(i))
		e.pub.Book(a)
		for range 20 {
			e.pub.Random(r, a)
		}
	}
	e.pub.Book("silent") // its last book, before the window: the joiner finds it in the books stream
	// The window starts here: only messages after cut are replayed.
	cut := time.Now()
	time.Sleep(200 * time.Millisecond) // put the window's first message clearly after cut
	for _, a := range assets[:5] {
		for range 5 {
			e.pub.Random(r, a) // before the window's first book: skipped by the joiner
		}
		e.pub.Book(a)
		e.pub.Tick(a, "0.01")
		for range 30 {
			e.pub.Random(r, assets[r.IntN(5)])
		}
	}
	c := e.consumer(t, stream.Config{Lookback: time.Since(cut)})
	poll.For(t, 20*time.Second, 20*time.Millisecond, allSame(c, e.pub, stream.Live, assets[:5]...))
	poll.For(t, 5*time.Second, 20*time.Millisecond, allSame(c, e.pub, stream.Stale, "silent"))
	if b, _ := c.Book("a1"); b.TickSize.String() != "0.01" {
		t.Errorf("a1 tick size %s, want 0.01", b.TickSize)
	}
	// Live from here on.
	for range 200 {
		e.pub.Random(r, assets[r.IntN(5)])
	}
	e.pub.Book("silent")
	poll.For(t, 20*time.Second, 20*time.Millisecond, allSame(c, e.pub, stream.Live, assets...))
	s := c.Stats()
	if s.Gaps != 0 || s.DecodeErrors != 0 || s.Mismatches != 0 || s.Resyncs != 1 {
		t.Errorf("stats %+v: want no gaps, mismatches or decode errors and one resync (the silent asset)", s)
	}
	if lag, ok := c.Lag("a1"); !ok || lag < 0 || lag > time.Minute {
		t.Errorf("Lag(a1) = %v, %v", lag, ok)
	}
}

// TestGapResyncsFromBooks: messages withheld from the consumer (deleted from the events
// stream after the books stream sourced the last book) make it fetch the asset's last
// book from the books stream and end exact; the counters show the gap.
func TestGapResyncsFromBooks(t *testing.T) {
	e := setup(t)
	r := rand.New(rand.NewPCG(3, 4))
	e.pub.Add("a", "m", 7)
	e.pub.Add("b", "m", 7)
	e.pub.Book("a")
	e.pub.Book("b")
	for range 40 {
		e.pub.Random(r, "a")
		e.pub.Random(r, "b")
	}
	e.pub.Book("a") // the books stream's last book for a: ahead of the gap below
	for range 10 {
		e.pub.Random(r, "a")
	}
	events := stream.EventsStream(prefix)
	js := jsFor(t, e.nc)
	ctx := context.Background()
	es, err := js.Stream(ctx, events)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := js.Stream(ctx, stream.BooksStream(prefix))
	if err != nil {
		t.Fatal(err)
	}
	// Wait for the books stream to source a's last book before withholding.
	poll.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		m, err := bs.GetLastMsgForSubject(ctx, stream.Subject(prefix, "book", "a"))
		if err != nil {
			return err
		}
		if m.Header.Get("Nats-Msg-Id") != fmt.Sprintf("a:7:%d", 42) {
			return fmt.Errorf("books stream has %s", m.Header.Get("Nats-Msg-Id"))
		}
		return nil
	})
	// Withhold 10..12 and the book at 42 itself, so only the books stream can repair a.
	for _, seq := range []int{10, 11, 12, 42} {
		if err := es.DeleteMsg(ctx, e.pub.Seqs[fmt.Sprintf("a:7:%d", seq)]); err != nil {
			t.Fatal(err)
		}
	}
	var resyncSeq atomic.Int64 // seq of the book the handler saw taken from the books stream
	c := e.consumer(t, stream.Config{Handler: func(u stream.Update) {
		if u.Type == "resync" && u.Book.Asset == "a" && u.Book.State == stream.Live {
			resyncSeq.Store(u.Book.Seq)
		}
	}})
	poll.For(t, 20*time.Second, 20*time.Millisecond, allSame(c, e.pub, stream.Live, "a", "b"))
	s := c.Stats()
	if s.Gaps != 1 || s.Resyncs != 1 {
		t.Errorf("stats %+v: want exactly one gap and one resync", s)
	}
	if got := resyncSeq.Load(); got != 42 {
		t.Errorf("handler saw a resync to seq %d, want the books stream's book at 42", got)
	}

	// A gap in the live stream the books stream cannot repair (the publisher lost a
	// message and its last book is older): out of sync until the next book.
	e.pub.Lose("b", streamtest.Change{Buy: true, Price: 499, Size: 777})
	e.pub.Random(r, "b")
	poll.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		if b, _ := c.Book("b"); b.State != stream.Syncing {
			return fmt.Errorf("b is %v after a gap", b.State)
		}
		return nil
	})
	e.pub.Book("b")
	e.pub.Random(r, "b")
	poll.For(t, 10*time.Second, 20*time.Millisecond, allSame(c, e.pub, stream.Live, "a", "b"))
	if s := c.Stats(); s.Gaps != 2 || s.ResyncMisses == 0 {
		t.Errorf("stats %+v: want two gaps and a resync miss", s)
	}
}

// TestEpochs: a higher epoch makes the asset out of sync until a book of that epoch;
// messages of a lower epoch are ignored.
func TestEpochs(t *testing.T) {
	e := setup(t)
	r := rand.New(rand.NewPCG(5, 6))
	e.pub.Add("a", "m", 100)
	e.pub.Book("a")
	for range 10 {
		e.pub.Random(r, "a")
	}
	c := e.consumer(t, stream.Config{})
	poll.For(t, 10*time.Second, 20*time.Millisecond, allSame(c, e.pub, stream.Live, "a"))

	e.pub.NewEpoch("a", 200)
	e.pub.Delta("a", streamtest.Change{Buy: true, Price: 300, Size: 100}) // epoch 200 seq 1, no book yet
	poll.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		if b, _ := c.Book("a"); b.State != stream.Syncing {
			return fmt.Errorf("state %v after a higher epoch without a book", b.State)
		}
		return nil
	})
	// A straggler from the old epoch: ignored (it would change the book if applied).
	e.pub.Publish(stream.Subject(prefix, "delta", "a"), []byte(`{"v":1,"type":"delta","asset_id":"a","market":"m","epoch":100,"seq":11,"ts_ms":1,"changes":[["BUY","0.001","1"]],"best_bid":"0.499","best_ask":null}`))
	e.pub.Book("a")
	for range 10 {
		e.pub.Random(r, "a")
	}
	poll.For(t, 10*time.Second, 20*time.Millisecond, allSame(c, e.pub, stream.Live, "a"))
	if s := c.Stats(); s.EpochChanges != 1 || s.Ignored == 0 {
		t.Errorf("stats %+v: want one epoch change and ignored messages", s)
	}
}

// TestStaleAndClosed: stale holds until the next valid book, live is informational,
// a book with valid false is stale, closed is final.
func TestStaleAndClosed(t *testing.T) {
	e := setup(t)
	e.pub.Add("a", "m", 1)
	e.pub.Book("a")
	c := e.consumer(t, stream.Config{})
	poll.For(t, 10*time.Second, 20*time.Millisecond, allSame(c, e.pub, stream.Live, "a"))
	e.pub.Status("a", "stale", "nats unreachable")
	e.pub.Status("a", "live", "recovered")
	e.pub.Delta("a", streamtest.Change{Buy: true, Price: 450, Size: 1000})
	poll.For(t, 10*time.Second, 20*time.Millisecond, allSame(c, e.pub, stream.Stale, "a"))
	e.pub.Book("a")
	poll.For(t, 10*time.Second, 20*time.Millisecond, allSame(c, e.pub, stream.Live, "a"))
	e.pub.InvalidBook("a")
	poll.For(t, 10*time.Second, 20*time.Millisecond, allSame(c, e.pub, stream.Stale, "a"))
	e.pub.Book("a")
	e.pub.Trade("a", 450, 500, true)
	e.pub.Status("a", "closed", "market resolved")
	poll.For(t, 10*time.Second, 20*time.Millisecond, allSame(c, e.pub, stream.Closed, "a"))
	b, _ := c.Book("a")
	if b.Reason != "market resolved" || b.Last.Price.String() != "0.45" || b.Last.Side != stream.SideBuy {
		t.Errorf("closed book %+v", b)
	}
	if s := c.Stats(); s.StaleNotices != 2 || s.Closed != 1 || s.Gaps != 0 {
		t.Errorf("stats %+v: want two stale notices, one closed, no gap", s)
	}
}

// TestClosedBooksForgotten: a closed book stays readable for ForgetClosed, then the
// consumer drops it; open books stay, and a consumer that keeps closed books
// (negative ForgetClosed) still has it.
func TestClosedBooksForgotten(t *testing.T) {
	e := setup(t)
	for _, a := range []string{"a", "b"} {
		e.pub.Add(a, "m", 1)
		e.pub.Book(a)
	}
	c := e.consumer(t, stream.Config{ForgetClosed: 300 * time.Millisecond})
	keep := e.consumer(t, stream.Config{ForgetClosed: -1})
	for _, x := range []*stream.Consumer{c, keep} {
		poll.For(t, 10*time.Second, 20*time.Millisecond, allSame(x, e.pub, stream.Live, "a", "b"))
	}
	e.pub.Status("a", "closed", "market resolved")
	poll.For(t, 10*time.Second, 20*time.Millisecond, allSame(keep, e.pub, stream.Closed, "a"))
	poll.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		if _, ok := c.Book("a"); ok {
			return fmt.Errorf("closed book a still kept")
		}
		return nil
	})
	if s := c.Stats(); s.Closed != 1 || s.Forgotten != 1 {
		t.Errorf("stats %+v: want one closed, one forgotten", s)
	}
	if _, ok := c.Book("b"); !ok {
		t.Error("open book b was dropped")
	}
	if b, ok := keep.Book("a"); !ok || b.State != stream.Closed || keep.Stats().Forgotten != 0 {
		t.Errorf("with ForgetClosed < 0: book a %v %v, stats %+v; want it kept, Closed", ok, b.State, keep.Stats())
	}
}

// TestServerRestart: the server stops and starts again mid-stream (same port and
// store); the consumer reconnects and ends exact.
func TestServerRestart(t *testing.T) {
	e := setup(t)
	r := rand.New(rand.NewPCG(7, 8))
	e.pub.Add("a", "m", 1)
	e.pub.Add("b", "m", 1)
	e.pub.Book("a")
	e.pub.Book("b")
	c := e.consumer(t, stream.Config{})
	for range 50 {
		e.pub.Random(r, "a")
		e.pub.Random(r, "b")
	}
	poll.For(t, 10*time.Second, 20*time.Millisecond, allSame(c, e.pub, stream.Live, "a", "b"))
	e.srv.Restart()
	for range 50 {
		e.pub.Random(r, "a")
		e.pub.Random(r, "b")
	}
	poll.For(t, 60*time.Second, 20*time.Millisecond, allSame(c, e.pub, stream.Live, "a", "b"))
	if s := c.Stats(); s.Gaps != 0 || s.DecodeErrors != 0 {
		t.Errorf("stats %+v: want no gaps", s)
	} else {
		t.Logf("stats after the restart: %+v", s)
	}
}

// TestSelection: a list of assets is filtered by the server, a market by the consumer.
func TestSelection(t *testing.T) {
	e := setup(t)
	r := rand.New(rand.NewPCG(9, 10))
	for i, a := range []string{"x1", "x2", "y1", "y2"} {
		e.pub.Add(a, "m"+a[:1], int64(i+1))
		e.pub.Book(a)
	}
	byAsset := e.consumer(t, stream.Config{Assets: []string{"x1", "y2"}})
	byMarket := e.consumer(t, stream.Config{Markets: []string{"my"}})
	for range 40 {
		e.pub.Random(r, []string{"x1", "x2", "y1", "y2"}[r.IntN(4)])
	}
	poll.For(t, 10*time.Second, 20*time.Millisecond, allSame(byAsset, e.pub, stream.Live, "x1", "y2"))
	poll.For(t, 10*time.Second, 20*time.Millisecond, allSame(byMarket, e.pub, stream.Live, "y1", "y2"))
	if n := len(byAsset.Books()); n != 2 {
		t.Errorf("asset selection keeps %d books, want 2", n)
	}
	if n := len(byMarket.Books()); n != 2 {
		t.Errorf("market selection keeps %d books, want 2", n)
	}
}

// TestBrokenMessagesCounted: a message that breaks the contract is counted and
// skipped; the book stays exact.
func TestBrokenMessagesCounted(t *testing.T) {
	e := setup(t)
	e.pub.Add("a", "m", 1)
	e.pub.Book("a")
	var updates int
	c := e.consumer(t, stream.Config{Handler: func(u stream.Update) {
		if u.Book.Asset != "a" {
			panic("update for " + u.Book.Asset)
		}
		updates++
	}})
	e.pub.Publish(stream.Subject(prefix, "delta", "a"), []byte(`{"v":1,"type":"delta"`))
	e.pub.Publish(stream.Subject(prefix, "trade", "a"), []byte(`{"v":1,"type":"delta","asset_id":"a","market":"m","epoch":1,"seq":2,"ts_ms":1,"changes":[],"best_bid":null,"best_ask":null}`))
	e.pub.Delta("a", streamtest.Change{Buy: false, Price: 600, Size: 100})
	poll.For(t, 10*time.Second, 20*time.Millisecond, allSame(c, e.pub, stream.Live, "a"))
	poll.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		if s := c.Stats(); s.DecodeErrors != 2 || s.Gaps != 0 {
			return fmt.Errorf("stats %+v: want 2 decode errors, no gap", s)
		}
		return nil
	})
	_ = c.Close()
	_ = c.Close()
	if updates < 2 {
		t.Errorf("handler saw %d updates, want at least 2", updates)
	}
}

// TestStreamsRecreated: the streams are deleted and created again (a server with
// memory storage restarted; the publisher recreates them and starts a new epoch). The
// new events stream numbers from 1, below what the consumer had read: it must notice
// and read the new stream, and end exact.
func TestStreamsRecreated(t *testing.T) {
	e := setup(t)
	r := rand.New(rand.NewPCG(13, 14))
	e.pub.Add("a", "m", 1)
	e.pub.Book("a")
	c := e.consumer(t, stream.Config{})
	for range 60 {
		e.pub.Random(r, "a")
	}
	poll.For(t, 10*time.Second, 20*time.Millisecond, allSame(c, e.pub, stream.Live, "a"))
	js := jsFor(t, e.nc)
	ctx := context.Background()
	for _, name := range []string{stream.BooksStream(prefix), stream.EventsStream(prefix)} {
		if err := js.DeleteStream(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	streamtest.CreateStreams(t, e.nc, prefix)
	e.pub.NewEpoch("a", 2)
	e.pub.Book("a")
	for range 20 {
		e.pub.Random(r, "a")
	}
	poll.For(t, 20*time.Second, 20*time.Millisecond, allSame(c, e.pub, stream.Live, "a"))
	if b, _ := c.Book("a"); b.Seq != e.pub.Seq("a") {
		t.Errorf("seq %d, want %d", b.Seq, e.pub.Seq("a"))
	}
	if s := c.Stats(); s.Restarts == 0 || s.EpochChanges != 1 {
		t.Errorf("stats %+v: want a restart and one epoch change", s)
	}
}

// TestEventsStreamPurged: a consumer that joins after the events stream was purged
// (an operator's `nats stream purge`, or every message aged out) has nothing to
// replay. It must go live at once, with its books from the books stream, not wait
// for a next message to reach a last sequence that is no longer stored.
func TestEventsStreamPurged(t *testing.T) {
	e := setup(t)
	r := rand.New(rand.NewPCG(21, 22))
	e.pub.Add("a", "m", 1)
	e.pub.Book("a")
	for range 30 {
		e.pub.Random(r, "a")
	}
	e.pub.Book("a") // the book the books stream keeps
	ctx := context.Background()
	js := jsFor(t, e.nc)
	events, err := js.Stream(ctx, stream.EventsStream(prefix))
	if err != nil {
		t.Fatal(err)
	}
	books, err := js.Stream(ctx, stream.BooksStream(prefix))
	if err != nil {
		t.Fatal(err)
	}
	// The books stream sources the events stream: purge once it holds a's book.
	want := fmt.Sprintf("a:1:%d", e.pub.Seq("a"))
	poll.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		m, err := books.GetLastMsgForSubject(ctx, stream.Subject(prefix, "book", "a"))
		if err != nil {
			return err
		}
		if got := m.Header.Get("Nats-Msg-Id"); got != want {
			return fmt.Errorf("books stream has %s, want %s", got, want)
		}
		return nil
	})
	if err := events.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	c := e.consumer(t, stream.Config{})
	poll.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		if !c.Live() {
			return fmt.Errorf("consumer not live; stats %+v", c.Stats())
		}
		return nil
	})
	poll.For(t, 5*time.Second, 20*time.Millisecond, allSame(c, e.pub, stream.Stale, "a"))
	// And it follows what comes next.
	for range 20 {
		e.pub.Random(r, "a")
	}
	e.pub.Book("a")
	poll.For(t, 10*time.Second, 20*time.Millisecond, allSame(c, e.pub, stream.Live, "a"))
}
