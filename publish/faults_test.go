package publish

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/polyfeed/polyfeed/internal/natsd"
	"github.com/polyfeed/polyfeed/internal/poll"
	"github.com/polyfeed/polyfeed/internal/sim"
	"github.com/polyfeed/polyfeed/internal/streamcheck"
	"github.com/polyfeed/polyfeed/stream"
)

// freePort returns a loopback address free right now.
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestNATSRestart: the embedded server (file storage) stops while the
// venue keeps trading and starts again on the same address and directory.
// The engine keeps its books, the publisher drops and counts while NATS is
// away, then publishes stale and a fresh book; replayed, the stream ends
// equal to the truth.
func TestNATSRestart(t *testing.T) {
	r := newRig(t, rigConfig{
		sim:    sim.Config{Seed: 12, Markets: 10, Rate: 600},
		nats:   natsd.Config{Listen: freePort(t), DataDir: t.TempDir()},
		pub:    func(c *Config) { c.AckTimeout = time.Second },
		follow: true,
	})
	r.waitValid()
	if err := r.srv.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	poll.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		if st := r.pub.Stats(); st.Dropped == 0 || st.Ready {
			return fmt.Errorf("publisher has not noticed the outage: %+v", st)
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond) // trading goes on without NATS
	r.startNATS()
	poll.For(t, 20*time.Second, 50*time.Millisecond, func() error {
		if st := r.pub.Stats(); !st.Ready || st.Reconnects == 0 {
			return fmt.Errorf("publisher not back: %+v", st)
		}
		return nil
	})
	books := r.waitTruth()
	st := r.pub.Stats()
	if st.StaleNotices == 0 {
		t.Errorf("stats %+v: no stale notice after an outage", st)
	}
	gaps := 0
	for _, rb := range books {
		gaps += rb.gaps
	}
	cs := r.cons.Stats()
	if cs.Gaps+cs.StaleNotices == 0 {
		t.Errorf("consumer stats %+v: the outage shows neither a gap nor a stale notice", cs)
	}
	t.Logf("after restart: %d gaps seen by the reference consumer; stats %+v; consumer %+v", gaps, st, cs)
	for name, w := range r.app.Stats().Workers.WorkerStats {
		if w.Invalidations != 0 {
			t.Errorf("%s: %d books invalidated: the outage reached the engine", name, w.Invalidations)
		}
	}
}

// TestOverflow: a queue far too small for the startup burst drops; each
// asset that lost messages gets stale and a later book; the end equals
// the truth.
func TestOverflow(t *testing.T) {
	r := newRig(t, rigConfig{
		sim:  sim.Config{Seed: 13, Markets: 30, Rate: 3000},
		nats: natsd.Config{Memory: true},
		pub: func(c *Config) {
			c.QueueSize = 16
			c.MaxPendingAcks = 1
		},
		follow: true,
	})
	r.waitValid()
	time.Sleep(500 * time.Millisecond)
	r.waitTruth()
	st := r.pub.Stats()
	if st.Dropped == 0 || st.StaleNotices == 0 {
		t.Fatalf("stats %+v: want drops and stale notices from a 16-message queue", st)
	}
	if cs := r.cons.Stats(); cs.Gaps+cs.StaleNotices == 0 {
		t.Errorf("consumer stats %+v: the drops show neither a gap nor a stale notice", cs)
	}
	if d := r.app.Stats().Router.Dropped; d != 0 {
		t.Errorf("engine dropped %d events: the publisher's overflow reached the engine", d)
	}
}

// TestSlowConsumer: consumers that never read (a core subscription whose
// callback blocks, a durable JetStream consumer never read or acked, a
// stream library consumer whose handler blocks) do not slow the engine or
// the publisher: nothing dropped or stalled anywhere, and the following
// consumer still ends equal to the truth.
func TestSlowConsumer(t *testing.T) {
	r := newRig(t, rigConfig{
		sim:    sim.Config{Seed: 14, Markets: 12, Rate: 1500},
		nats:   natsd.Config{Memory: true},
		follow: true,
	})
	slow, err := r.srv.Conn()
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	release := make(chan struct{})
	var once sync.Once
	defer once.Do(func() { close(release) })
	if _, err := slow.Subscribe(DefaultPrefix+".v1.>", func(*nats.Msg) { <-release }); err != nil {
		t.Fatal(err)
	}
	// A durable JetStream consumer nobody reads or acknowledges.
	js, err := jetstream.New(slow)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateConsumer(context.Background(), EventsStream(DefaultPrefix), jetstream.ConsumerConfig{
		Durable: "dead", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 10,
	}); err != nil {
		t.Fatal(err)
	}
	// A stream library consumer whose handler blocks.
	blocked, err := stream.New(stream.Config{Conn: slow, Logger: quiet(), Handler: func(stream.Update) { <-release }})
	if err != nil {
		t.Fatal(err)
	}
	if err := blocked.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		once.Do(func() { close(release) }) // first, or Close waits for the handler forever
		_ = blocked.Close()
	}()
	r.waitValid()
	time.Sleep(time.Second)
	r.waitTruth()
	once.Do(func() { close(release) })
	st := r.pub.Stats()
	if st.Dropped != 0 {
		t.Errorf("publisher dropped %d messages with a slow consumer", st.Dropped)
	}
	es := r.app.Stats()
	if es.Router.Dropped != 0 || es.Router.Stalls != 0 {
		t.Errorf("engine dropped %d, stalled %d with a slow consumer", es.Router.Dropped, es.Router.Stalls)
	}
	// Latency is reported, not asserted (a timing bound would fail on a
	// loaded machine for reasons of its own); PERFORMANCE.md compares.
	t.Logf("routing latency with slow consumers: %+v; publisher %+v", es.Router.Latency, st)
}

// TestStreamsDeleted: an operator deletes both streams while polyfeed
// runs. The failed publishes make the publisher create them again, and
// every asset gets stale and a fresh book in the new stream.
func TestStreamsDeleted(t *testing.T) {
	r := newRig(t, rigConfig{
		sim:    sim.Config{Seed: 21, Markets: 8, Rate: 600},
		nats:   natsd.Config{Memory: true},
		pub:    func(c *Config) { c.AckTimeout = time.Second },
		follow: true,
	})
	r.waitValid()
	js, err := jetstream.New(r.nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, name := range []string{BooksStream(DefaultPrefix), EventsStream(DefaultPrefix)} {
		if err := js.DeleteStream(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	poll.For(t, 20*time.Second, 50*time.Millisecond, func() error {
		for _, name := range []string{EventsStream(DefaultPrefix), BooksStream(DefaultPrefix)} {
			if _, err := js.Stream(ctx, name); err != nil {
				return fmt.Errorf("stream %s: %w", name, err)
			}
		}
		return nil
	})
	r.waitTruth()
	if st := r.pub.Stats(); st.Dropped == 0 || st.StaleNotices == 0 {
		t.Errorf("stats %+v: want drops and stale notices after the streams were deleted", st)
	}
}

// TestClosedDuringOutage: a market expires while NATS is away, after its
// assets lost messages. When NATS is back its assets get the final book
// before `closed`, so a consumer that missed messages ends Closed with the
// final levels instead of syncing forever (the last book it could resync
// from is older than the gap, and nothing follows `closed`).
func TestClosedDuringOutage(t *testing.T) {
	r := newRig(t, rigConfig{
		sim:    sim.Config{Seed: 12, Markets: 10, Rate: 600},
		nats:   natsd.Config{Listen: freePort(t), DataDir: t.TempDir()},
		pub:    func(c *Config) { c.AckTimeout = time.Second },
		follow: true,
	})
	r.waitValid()
	m := r.markets[0]
	if err := r.srv.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	poll.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		if st := r.pub.Stats(); st.Dropped < 50 || st.Ready {
			return fmt.Errorf("publisher has not dropped enough yet: %+v", st)
		}
		return nil
	})
	r.sim.Pause() // the market's last state: the truth from now on
	time.Sleep(300 * time.Millisecond)
	r.pub.MarketExpired(m)
	r.startNATS()
	poll.For(t, 20*time.Second, 50*time.Millisecond, func() error {
		for _, id := range m.AssetIDs {
			if b, ok := r.cons.Book(id); !ok || b.State != stream.Closed {
				return fmt.Errorf("consumer: asset %s of the expired market is %v (%s)", id, b.State, b.Reason)
			}
		}
		return streamcheck.GoEqualsTruth(r.cons, m.AssetIDs, r.truth)
	})
}
