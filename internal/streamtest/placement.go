package streamtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/polyfeed/polyfeed/internal/poll"
)

// Placements lists the consumers of the stream named streamName, by name,
// with the server each runs on; with filter set, only those that read
// exactly that subject. JetStream's own error (503 while the cluster elects
// a leader) is returned for the caller's poll to retry.
func Placements(js jetstream.JetStream, streamName, filter string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, streamName)
	if err != nil {
		return nil, fmt.Errorf("cannot read stream %s: %w", streamName, err)
	}
	out := map[string]string{}
	l := s.ListConsumers(ctx)
	for ci := range l.Info() {
		match := filter == "" || ci.Config.FilterSubject == filter || slices.Equal(ci.Config.FilterSubjects, []string{filter})
		if match && ci.Cluster != nil {
			out[ci.Name] = ci.Cluster.Leader
		}
	}
	if err := l.Err(); err != nil {
		return nil, fmt.Errorf("cannot list the consumers of %s: %w", streamName, err)
	}
	return out, nil
}

// NewPlacement waits until a consumer of streamName (reading filter, if
// set) that is not in seen runs on a node, adds it to seen and returns that
// node's index. Node-loss tests start a consumer, find where the server put
// its consumer this way, and start another while it landed on their home
// node.
func (c *Cluster) NewPlacement(t testing.TB, js jetstream.JetStream, streamName, filter string, seen map[string]bool) int {
	t.Helper()
	var on string
	poll.For(t, 20*time.Second, time.Millisecond, func() error {
		cs, err := Placements(js, streamName, filter)
		if err != nil {
			return err
		}
		for name, server := range cs {
			if !seen[name] && server != "" {
				seen[name], on = true, server
				return nil
			}
		}
		return errors.New("the new consumer is not listed yet")
	})
	return c.Node(on)
}

// NodeLoss is what a node-loss test of a consumer starts from: a
// three-node cluster, both streams R3, a publisher, and the test's
// connections, all on node Home, which the test never kills.
type NodeLoss struct {
	Cluster *Cluster
	Home    int
	Conn    *nats.Conn // on Home only
	JS      jetstream.JetStream
	Pub     *Publisher // on Home only
	Books   jetstream.Stream
}

// StartNodeLoss starts it; the test's cleanup stops everything.
func StartNodeLoss(t testing.TB, prefix string) *NodeLoss {
	t.Helper()
	n := &NodeLoss{Cluster: StartCluster(t, 3)}
	n.Conn = n.Cluster.Connect(t, n.Home)
	_, n.Books = CreateReplicatedStreams(t, n.Conn, prefix, 3)
	n.Pub = NewPublisher(t, n.Cluster.Connect(t, n.Home), prefix)
	js, err := jetstream.New(n.Conn)
	if err != nil {
		t.Fatal(err)
	}
	n.JS = js
	return n
}

// WaitBooks waits until the books stream holds want messages.
func (n *NodeLoss) WaitBooks(t testing.TB, want uint64) {
	t.Helper()
	poll.For(t, 30*time.Second, 50*time.Millisecond, func() error {
		info, err := n.Books.Info(context.Background())
		if err != nil {
			return err
		}
		if info.State.Msgs != want {
			return fmt.Errorf("books stream holds %d messages, want %d", info.State.Msgs, want)
		}
		return nil
	})
}

// PlaceAway starts a consumer with start until the server runs its new
// consumer of streamName (reading filter, if set) on a node other than
// Home, stopping each one placed on Home, and returns that node: killing it
// then leaves the consumer's connection alone. The server places consumers
// at random, not evenly; 30 tries on Home fail the test.
func (n *NodeLoss) PlaceAway(t testing.TB, streamName, filter string, start func() (stop func())) int {
	t.Helper()
	seen := map[string]bool{}
	for range 30 {
		stop := start()
		if i := n.Cluster.NewPlacement(t, n.JS, streamName, filter, seen); i != n.Home {
			return i
		}
		stop()
	}
	t.Fatalf("30 consumers of %s in a row were placed on n%d", streamName, n.Home)
	return -1
}
