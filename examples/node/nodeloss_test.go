package node_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/polyfeed/polyfeed/internal/poll"
	"github.com/polyfeed/polyfeed/internal/streamcheck"
	"github.com/polyfeed/polyfeed/internal/streamtest"
	"github.com/polyfeed/polyfeed/stream"
)

// TestNodeConsumerNodeLoss: on a three-node cluster with both streams R3, the node
// that runs the Node consumer's events consumer (an ordered consumer: R1, on one
// node) is killed while the Node consumer's connection, to another node, stays up.
// Nothing tells the client: no disconnect, and the server sends neither messages
// nor heartbeats any more. The Node consumer must notice and go on reading the
// stream, exact, from where it was.
func TestNodeConsumerNodeLoss(t *testing.T) {
	if why := streamcheck.NodeSkip(); why != "" {
		t.Skip(why)
	}
	nl := streamtest.StartNodeLoss(t, prefix) // the Node consumer connects to nl.Home too
	cl, home, pub := nl.Cluster, nl.Home, nl.Pub
	r := rand.New(rand.NewPCG(21, 22))
	assets := []string{"a", "b", "c"}
	for _, a := range assets {
		pub.Add(a, "m", 1)
		pub.Book(a)
	}

	// The server places the events consumer on a random node of the stream's three.
	var node *streamcheck.Node
	host := nl.PlaceAway(t, stream.EventsStream(prefix), stream.AllSubjects(prefix), func() func() {
		node = streamcheck.StartNode(t, cl.URL(home), prefix)
		return func() {
			if err := node.Stop(); err != nil {
				t.Fatal(err)
			}
		}
	})
	for range 60 {
		pub.Random(r, assets[r.IntN(len(assets))])
	}
	poll.For(t, 20*time.Second, 50*time.Millisecond, func() error { return nodeEqualsTruth(node, pub, assets) })
	before, err := node.Dump()
	if err != nil {
		t.Fatal(err)
	}

	cl.Kill(host)
	for range 60 {
		pub.Random(r, assets[r.IntN(len(assets))])
	}
	poll.For(t, 30*time.Second, 100*time.Millisecond, func() error { return nodeEqualsTruth(node, pub, assets) })
	d, err := node.Dump()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed n%d, which ran the events consumer; node stats %+v", host, d.Stats)
	if s := d.Stats; s.Gaps != 0 || s.DecodeErrors != 0 || s.Mismatches != 0 {
		t.Errorf("node stats %+v: want no gaps, mismatches or decode errors", s)
	}
	if d.Stats.Restarts <= before.Stats.Restarts {
		t.Errorf("restarts %d before the kill, %d after: want the events consumer opened again", before.Stats.Restarts, d.Stats.Restarts)
	}
	if err := node.Stop(); err != nil {
		t.Error(err)
	}
}

// newName is the one key of seen that before lacks.
func newName(seen, before map[string]bool) string {
	for name := range seen {
		if !before[name] {
			return name
		}
	}
	return ""
}

// booksLeft is how many messages the books stream's consumer name has yet to
// deliver (0 if it is gone: a read that ended deletes it).
func booksLeft(t *testing.T, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, stream.BooksStream(prefix), name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return 0
	}
	if err != nil {
		t.Fatalf("cannot look up consumer %s: %v", name, err)
	}
	info, err := c.Info(ctx)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return 0
	}
	if err != nil {
		t.Fatalf("cannot read consumer %s: %v", name, err)
	}
	return info.NumPending
}

// nodeEqualsTruth reports the first asset whose Node book is not live at the
// publisher's epoch and seq with the publisher's levels.
func nodeEqualsTruth(node *streamcheck.Node, pub *streamtest.Publisher, assets []string) error {
	d, err := node.Dump()
	if err != nil {
		return err
	}
	for _, id := range assets {
		b, ok := d.Books[id]
		if !ok {
			return fmt.Errorf("node consumer has no book for %s", id)
		}
		bids, asks := pub.Truth(id)
		if b.State != "live" || b.Epoch != pub.Epoch(id) || b.Seq != pub.Seq(id) ||
			fmt.Sprint(b.Bids) != fmt.Sprint(bids) || fmt.Sprint(b.Asks) != fmt.Sprint(asks) {
			return fmt.Errorf("asset %s:\nnode %s %d:%d bids %v asks %v\nwant live %d:%d bids %v asks %v", id,
				b.State, b.Epoch, b.Seq, b.Bids, b.Asks, pub.Epoch(id), pub.Seq(id), bids, asks)
		}
	}
	return nil
}

// TestNodeConsumerNodeLossWhileReadingBooks: the node that runs the Node consumer's
// read of the books stream at start (an ordered consumer, on one node) is killed in
// the middle of that read while the connection, to another node, stays up. The read
// must not take the silence for the end of the stream: every asset whose only book
// is on the books stream (the look-back window, 1 ms, holds nothing) must get it.
// The Node consumer is paused (SIGSTOP) as soon as the read's consumer is listed,
// and the node is killed only if the server still has books to deliver to it
// (else the try starts over); the Node consumer is resumed after the kill.
func TestNodeConsumerNodeLossWhileReadingBooks(t *testing.T) {
	if why := streamcheck.NodeSkip(); why != "" {
		t.Skip(why)
	}
	nl := streamtest.StartNodeLoss(t, prefix) // the Node consumer connects to nl.Home too
	cl, home, js, pub := nl.Cluster, nl.Home, nl.JS, nl.Pub
	var assets []string
	for i := range 4000 {
		a := fmt.Sprintf("a%04d", i)
		assets = append(assets, a)
		pub.Add(a, "m", 1)
		pub.Book(a)
	}
	nl.WaitBooks(t, uint64(len(assets)))

	var node *streamcheck.Node
	seen := map[string]bool{}
	for try := 0; node == nil; try++ {
		if try == 30 {
			t.Fatalf("30 books stream reads in a row were placed on n%d or done before the pause", home)
		}
		n := streamcheck.StartNode(t, cl.URL(home), prefix, "--lookback-ms", "1")
		before := maps.Clone(seen)
		on := cl.NewPlacement(t, js, stream.BooksStream(prefix), "", seen)
		if err := n.Pause(); err != nil {
			t.Fatal(err)
		}
		// Kill only a read the server still has books for: one that already
		// took them all would finish without that node and test nothing.
		if host := on; host != home && booksLeft(t, js, newName(seen, before)) > 0 {
			cl.Kill(host)
			t.Logf("killed n%d, which ran the read of the books stream", host)
			node = n
		}
		if err := n.Resume(); err != nil {
			t.Fatal(err)
		}
		if node == nil {
			if err := n.Stop(); err != nil {
				t.Fatal(err)
			}
		}
	}
	poll.For(t, 30*time.Second, 100*time.Millisecond, func() error {
		d, err := node.Dump()
		if err != nil {
			return err
		}
		if !d.Live {
			return errors.New("not live yet")
		}
		return pub.AtLatest(assets, func(a string) (int64, int64, bool) {
			b, ok := d.Books[a]
			return b.Epoch, b.Seq, ok
		})
	})
	// The kill must have cut the read: had it finished before the pause, the books
	// above would prove nothing about a read that stops delivering.
	if !strings.Contains(node.Stderr(), "stopped delivering; reading it again") {
		t.Errorf("the Node consumer never read the books stream again; its read was not cut by the kill (stderr:\n%s)", node.Stderr())
	}
	if err := node.Stop(); err != nil {
		t.Error(err)
	}
}
