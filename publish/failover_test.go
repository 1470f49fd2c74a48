package publish

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/engine"
	"github.com/polyfeed/polyfeed/fixed"
	"github.com/polyfeed/polyfeed/internal/poll"
	"github.com/polyfeed/polyfeed/internal/streamtest"
)

// TestReconnectReplicated: the publisher's server dies and the client
// reconnects to another node of the cluster. Streams replicated across the
// cluster outlive a node, so the publisher publishes again at once instead
// of first creating the streams again, which needs a JetStream meta leader:
// after a node's loss that waits out a raft election (4 s or more, during
// which every asset of the instance went silent), here for ever, since two
// of the three nodes are gone. What the streams cannot store meanwhile is
// lost and repaired like any loss.
func TestReconnectReplicated(t *testing.T) {
	cl := streamtest.StartCluster(t, 3)
	nc, err := nats.Connect(cl.URL(0), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx := context.Background()
	p, err := New(Config{Conn: nc, Workers: 1, Replicas: 3, AckTimeout: time.Second, StopTimeout: time.Second, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Stop(ctx); err != nil {
			t.Error(err)
		}
	}()
	var seen atomic.Int64
	watch := cl.Connect(t, 2)
	sub, err := watch.Subscribe(DefaultPrefix+".v1.>", func(*nats.Msg) { seen.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := watch.Flush(); err != nil {
		t.Fatal(err)
	}

	h := p.handlers[0]
	const id = "1234"
	b := book.New(id)
	b.ApplySnapshot([]book.Level{{Price: 400_000, Size: fixed.FromInt(10)}}, []book.Level{{Price: 600_000, Size: fixed.FromInt(10)}}, 1)
	ev := engine.Event{Kind: engine.EventBook, AssetID: id, Market: "m", Timestamp: 1}
	h.OnEvent(&ev, b)
	ev.Kind, ev.Side, ev.Price = engine.EventLevel, book.Bid, 400_000
	size := int64(10)
	trade := func() {
		size++
		ev.Size, ev.Timestamp = fixed.FromInt(size), size
		_ = b.Set(ev.Side, ev.Price, ev.Size)
		h.OnEvent(&ev, b)
		h.OnTick(func(yield func(*book.Book) bool) { yield(b) })
	}
	poll.For(t, 10*time.Second, 10*time.Millisecond, func() error {
		if st := p.Stats(); st.Published == 0 || seen.Load() == 0 {
			return fmt.Errorf("nothing published yet: %+v", st)
		}
		return nil
	})

	cl.Kill(1) // first, so that the publisher cannot reconnect to it
	cl.Kill(0)
	poll.For(t, 10*time.Second, 10*time.Millisecond, func() error {
		if u := nc.ConnectedUrl(); u != cl.URL(2) {
			return fmt.Errorf("publisher connected to %q, want %s", u, cl.URL(2))
		}
		return nil
	})
	before := seen.Load()
	poll.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		trade()
		if st := p.Stats(); !st.Ready || seen.Load() == before {
			return fmt.Errorf("publisher not publishing since it reconnected: %+v", st)
		}
		return nil
	})
}
