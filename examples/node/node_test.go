// Package node_test runs the Node example consumer (consumer.mjs) against a real
// in-process JetStream server and checks that its books equal the Go consumer's
// (package stream) and the publisher's truth.
package node_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os/exec"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/internal/poll"
	"github.com/polyfeed/polyfeed/internal/streamcheck"
	"github.com/polyfeed/polyfeed/internal/streamtest"
	"github.com/polyfeed/polyfeed/stream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, streamtest.IgnoreServerGoroutines()) }

const prefix = "polyfeed"

// TestNodeRules runs the Node example's unit tests (node --test): decimals, the golden
// messages of stream/testdata/v1, and the rules.
func TestNodeRules(t *testing.T) {
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH; the Node example is not checked (CI installs it: .ci/run)")
	}
	out, err := exec.Command(nodeBin, "--test", "rules.test.mjs").CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
}

// TestNodeConsumerMatchesGo: history with a withheld stretch (resync from the books
// stream) and an epoch change, then live traffic with a publisher loss, a stale asset
// and another epoch change. The Node consumer joins late like the Go one and must end
// with the same books, states, epochs and seqs, and count the same kinds of events.
func TestNodeConsumerMatchesGo(t *testing.T) {
	if why := streamcheck.NodeSkip(); why != "" {
		t.Skip(why)
	}
	srv := streamtest.StartServer(t)
	nc := srv.Connect(t)
	streamtest.CreateStreams(t, nc, prefix)
	pub := streamtest.NewPublisher(t, srv.Connect(t), prefix)
	r := rand.New(rand.NewPCG(11, 12))
	var ids []string
	for i := range 8 {
		id := fmt.Sprintf("asset%d", i)
		ids = append(ids, id)
		pub.Add(id, fmt.Sprintf("market%d", i%3), 1_764_547_200_000+int64(i))
		pub.Book(id)
	}
	for range 300 {
		pub.Random(r, ids[r.IntN(len(ids))])
	}
	// Withhold a stretch of asset1 after its books stream book moved past it.
	gapFrom := pub.Seq("asset1") + 1
	for range 5 {
		pub.Random(r, "asset1")
	}
	pub.Book("asset1")
	pub.Random(r, "asset1")
	pub.NewEpoch("asset2", pub.Epoch("asset2")+1000)
	pub.Book("asset2")
	pub.Random(r, "asset2")

	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bs, _ := js.Stream(ctx, stream.BooksStream(prefix))
	es, _ := js.Stream(ctx, stream.EventsStream(prefix))
	want := fmt.Sprintf("asset1:%d:%d", pub.Epoch("asset1"), pub.Seq("asset1")-1)
	poll.For(t, 10*time.Second, 50*time.Millisecond, func() error {
		m, err := bs.GetLastMsgForSubject(ctx, stream.Subject(prefix, "book", "asset1"))
		if err != nil || m.Header.Get("Nats-Msg-Id") != want {
			return fmt.Errorf("books stream not at %s yet (%v)", want, err)
		}
		return nil
	})
	// Withhold three deltas and the book after them: only the books stream can repair.
	for _, seq := range []int64{gapFrom, gapFrom + 1, gapFrom + 2, pub.Seq("asset1") - 1} {
		if err := es.DeleteMsg(ctx, pub.Seqs[fmt.Sprintf("asset1:%d:%d", pub.Epoch("asset1"), seq)]); err != nil {
			t.Fatal(err)
		}
	}

	goc, err := stream.New(stream.Config{Conn: nc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := goc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer goc.Close()
	node := streamcheck.StartNode(t, srv.URL(), prefix)

	// Both finish the replay before the live part.
	poll.For(t, 20*time.Second, 50*time.Millisecond, func() error {
		d, err := node.Dump()
		if err != nil {
			return err
		}
		if !d.Live || !goc.Live() {
			return fmt.Errorf("not live yet (node %v, go %v)", d.Live, goc.Live())
		}
		return nil
	})

	for range 300 {
		pub.Random(r, ids[r.IntN(len(ids))])
	}
	pub.Lose("asset3", streamtest.Change{Buy: true, Price: 499, Size: 777}) // lost by the publisher: a gap the books stream cannot repair...
	pub.Random(r, "asset3")
	pub.Book("asset3") // ...until the next book
	pub.Random(r, "asset3")
	pub.Status("asset4", "stale", "test")
	pub.NewEpoch("asset5", pub.Epoch("asset5")+1000)
	pub.Book("asset5")
	for range 100 {
		pub.Random(r, ids[r.IntN(len(ids))])
	}

	truth := func(id string) (bids, asks streamcheck.Side, ok bool) {
		bids, asks = pub.Truth(id)
		return bids, asks, true
	}
	poll.For(t, 20*time.Second, 50*time.Millisecond, func() error {
		if err := streamcheck.GoEqualsTruth(goc, ids, truth); err != nil {
			return err
		}
		for _, id := range ids {
			if b, _ := goc.Book(id); b.Seq != pub.Seq(id) || b.Epoch != pub.Epoch(id) {
				return fmt.Errorf("go: %s at %d:%d, want %d:%d", id, b.Epoch, b.Seq, pub.Epoch(id), pub.Seq(id))
			}
		}
		return nil
	})
	if b, _ := goc.Book("asset4"); b.State != stream.Stale {
		t.Errorf("go: asset4 is %v, want stale", b.State)
	}
	poll.For(t, 20*time.Second, 50*time.Millisecond, func() error {
		d, err := node.Dump()
		if err != nil {
			return err
		}
		if s := d.Stats; s.Gaps < 2 || s.Resyncs < 1 || s.EpochChanges < 2 {
			return fmt.Errorf("node stats %+v: want the gaps, resync and epoch changes this test sets up", s)
		}
		return streamcheck.NodeEqualsGo(d, goc, ids)
	})
	if s := goc.Stats(); s.Gaps < 2 || s.Resyncs < 1 || s.EpochChanges < 2 {
		t.Errorf("go stats %+v: want the gaps, resync and epoch changes this test sets up", s)
	}

	// The streams are recreated (a server with memory storage restarted) and the
	// publisher starts a new epoch everywhere: both consumers must read the new stream.
	for _, name := range []string{stream.BooksStream(prefix), stream.EventsStream(prefix)} {
		if err := js.DeleteStream(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	streamtest.CreateStreams(t, nc, prefix)
	for _, id := range ids {
		pub.NewEpoch(id, pub.Epoch(id)+10_000)
		pub.Book(id)
	}
	for range 50 {
		pub.Random(r, ids[r.IntN(len(ids))])
	}
	poll.For(t, 30*time.Second, 50*time.Millisecond, func() error {
		if err := streamcheck.GoEqualsTruth(goc, ids, truth); err != nil {
			return err
		}
		d, err := node.Dump()
		if err != nil {
			return err
		}
		return streamcheck.NodeEqualsGo(d, goc, ids)
	})
	if err := node.Stop(); err != nil {
		t.Error(err)
	}
}
