package stream_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/polyfeed/polyfeed/internal/poll"
	"github.com/polyfeed/polyfeed/internal/streamtest"
	"github.com/polyfeed/polyfeed/stream"
)

// TestNodeLoss: on a three-node cluster with both streams R3, the node that runs the
// consumer's events consumer (an ephemeral R1 consumer, on one node) is killed while
// the consumer's own connection stays up on another node. Nothing tells the client:
// no disconnect, no error from the iterator, and the server sends neither messages
// nor heartbeats any more. The consumer must notice and go on reading the stream,
// exact, from where it was.
func TestNodeLoss(t *testing.T) {
	nl := streamtest.StartNodeLoss(t, prefix)
	cl, nc, pub := nl.Cluster, nl.Conn, nl.Pub
	r := rand.New(rand.NewPCG(11, 12))
	assets := []string{"a", "b", "c"}
	for _, a := range assets {
		pub.Add(a, "m", 1)
		pub.Book(a)
	}

	// The server places the events consumer on a random node of the stream's three.
	var c *stream.Consumer
	host := nl.PlaceAway(t, stream.EventsStream(prefix), stream.AllSubjects(prefix), func() func() {
		var err error
		c, err = stream.New(stream.Config{Conn: nc, Prefix: prefix, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = c.Start(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return func() { _ = c.Close() }
	})
	for range 60 {
		pub.Random(r, assets[r.IntN(len(assets))])
	}
	poll.For(t, 20*time.Second, 20*time.Millisecond, allSame(c, pub, stream.Live, assets...))
	before := c.Stats()

	cl.Kill(host)
	for range 60 {
		pub.Random(r, assets[r.IntN(len(assets))])
	}
	poll.For(t, 30*time.Second, 20*time.Millisecond, allSame(c, pub, stream.Live, assets...))
	s := c.Stats()
	t.Logf("killed n%d, which ran the events consumer; stats %+v", host, s)
	if s.Gaps != 0 || s.DecodeErrors != 0 || s.Mismatches != 0 {
		t.Errorf("stats %+v: want no gaps, mismatches or decode errors", s)
	}
	if s.Restarts <= before.Restarts {
		t.Errorf("restarts %d before the kill, %d after: want the events consumer opened again", before.Restarts, s.Restarts)
	}
}

// TestNodeLossWhileReadingBooks: the node that runs the consumer's read of the books
// stream at Start (an ordered consumer: R1, on one node) is killed in the middle of
// that read while the connection, to another node, stays up. The read must not take
// the silence for the end of the stream: every asset whose only book is on the books
// stream (the look-back window, 1 ms, holds nothing) must get it.
//
// The read is held in the middle deterministically: a broken book sits between the
// good ones, and the logger, which the consumer calls on the read's goroutine for the
// first broken message, blocks until the node is killed. More books follow than the
// client holds in its buffer, so the rest must come from a server.
func TestNodeLossWhileReadingBooks(t *testing.T) {
	nl := streamtest.StartNodeLoss(t, prefix)
	cl, home, nc, js, pub := nl.Cluster, nl.Home, nl.Conn, nl.JS, nl.Pub
	var assets []string
	for i := range 1600 {
		a := fmt.Sprintf("a%04d", i)
		assets = append(assets, a)
		pub.Add(a, "m", 1)
		if i == 20 {
			pub.Publish(stream.Subject(prefix, stream.TypeBook, "broken"), []byte(`{"v":1}`))
		}
		pub.Book(a)
	}
	ctx := context.Background()
	nl.WaitBooks(t, uint64(len(assets)+1))

	// The server places the read's consumer on a random node of the stream's three:
	// start consumers until one lands away from home.
	var c *stream.Consumer
	seen := map[string]bool{}
	for try := 0; c == nil; try++ {
		if try == 30 {
			t.Fatalf("30 books stream reads in a row were placed on n%d", home)
		}
		h := &holdingHandler{next: slog.NewTextHandler(t.Output(), nil), held: make(chan struct{}), release: make(chan struct{})}
		cc, err := stream.New(stream.Config{Conn: nc, Prefix: prefix, Logger: slog.New(h), Lookback: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cc.Close() })
		t.Cleanup(h.unblock) // runs first: Start may still be held if the test fails
		started := make(chan error, 1)
		go func() {
			sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			started <- cc.Start(sctx)
		}()
		select {
		case <-h.held:
		case err := <-started:
			t.Fatalf("Start returned %v before reading the broken book", err)
		case <-time.After(30 * time.Second):
			t.Fatal("the read of the books stream did not reach the broken book in 30 s")
		}
		host := cl.NewPlacement(t, js, stream.BooksStream(prefix), "", seen)
		if host != home {
			cl.Kill(host)
			t.Logf("killed n%d, which ran the read of the books stream", host)
			c = cc
		}
		h.unblock()
		if err := <-started; err != nil {
			t.Fatal(err)
		}
		if c == nil {
			_ = cc.Close()
		}
	}
	poll.For(t, 20*time.Second, 50*time.Millisecond, func() error {
		if !c.Live() {
			return errors.New("not live yet")
		}
		return pub.AtLatest(assets, func(a string) (int64, int64, bool) {
			b, ok := c.Book(a)
			return b.Epoch, b.Seq, ok
		})
	})
	// The read that started over was delivered the broken book again: it is one
	// broken message, counted once.
	if n := c.Stats().DecodeErrors; n != 1 {
		t.Errorf("DecodeErrors = %d; want 1 (the one broken book)", n)
	}
}

// holdingHandler passes records on, holding the first that reports a broken message
// until release is closed.
type holdingHandler struct {
	next     slog.Handler
	once     sync.Once
	held     chan struct{}
	release  chan struct{}
	released sync.Once
}

func (h *holdingHandler) unblock() { h.released.Do(func() { close(h.release) }) }

func (h *holdingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *holdingHandler) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "breaks the stream contract") {
		h.once.Do(func() {
			close(h.held)
			<-h.release
		})
	}
	return h.next.Handle(ctx, r)
}

func (h *holdingHandler) WithAttrs(as []slog.Attr) slog.Handler { return h.next.WithAttrs(as) }

func (h *holdingHandler) WithGroup(name string) slog.Handler { return h.next.WithGroup(name) }
