package stream_test

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

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
	cl := streamtest.StartCluster(t, 3)
	const home = 0 // every connection of the test; never killed
	nc := cl.Connect(t, home)
	streamtest.CreateReplicatedStreams(t, nc, prefix, 3)
	pub := streamtest.NewPublisher(t, cl.Connect(t, home), prefix)
	js := jsFor(t, nc)
	r := rand.New(rand.NewPCG(11, 12))
	assets := []string{"a", "b", "c"}
	for _, a := range assets {
		pub.Add(a, "m", 1)
		pub.Book(a)
	}

	// The server places the events consumer on a random node of the stream's three:
	// start consumers until one lands away from home, so that killing its node
	// leaves the connection alone.
	var c *stream.Consumer
	host := -1
	seen := map[string]bool{}
	for try := 0; host < 0; try++ {
		if try == 30 {
			t.Fatalf("30 events consumers in a row were placed on n%d", home)
		}
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
		var name, on string
		poll.For(t, 10*time.Second, 20*time.Millisecond, func() error {
			for n, leader := range eventsConsumers(t, js) {
				if !seen[n] && leader != "" {
					name, on = n, leader
					return nil
				}
			}
			return errors.New("the consumer's events consumer is not listed yet")
		})
		seen[name] = true
		if i := cl.Node(on); i != home {
			host = i
		} else {
			_ = c.Close()
		}
	}
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

// eventsConsumers returns the events stream's consumers that read all of it (the
// stream consumer's, not the books stream's source), by name, with the server each
// runs on.
func eventsConsumers(t *testing.T, js jetstream.JetStream) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream.EventsStream(prefix))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	l := s.ListConsumers(ctx)
	for ci := range l.Info() {
		if ci.Config.FilterSubject == stream.AllSubjects(prefix) && ci.Cluster != nil {
			out[ci.Name] = ci.Cluster.Leader
		}
	}
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
