package publish

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/polyfeed/polyfeed/engine/markets"
	"github.com/polyfeed/polyfeed/internal/natsd"
	"github.com/polyfeed/polyfeed/internal/poll"
	"github.com/polyfeed/polyfeed/internal/sim"
	"github.com/polyfeed/polyfeed/internal/streamcheck"
	"github.com/polyfeed/polyfeed/stream"
)

// TestLateJoiner is issue 14's late-joiner proof: the Go consumer (package stream)
// and the Node example join a real polyfeed pipeline (simulator with churn, engine
// with Gamma discovery and expiry, publisher, nats-server) 20 s after it started
// (5 s with -short), follow it live, and once the simulator pauses:
//   - every book of every open market equals the simulator's truth in both,
//     markets discovered after the join included;
//   - every asset of a market that closed while the consumers watched is Closed;
//   - the Node books equal the Go books (levels, state, epoch, seq).
func TestLateJoiner(t *testing.T) {
	join := 20 * time.Second
	if testing.Short() {
		join = 5 * time.Second
	}
	r := newRig(t, rigConfig{
		// 400 msg/s: the consumers must replay faster than the feed grows
		// to go live, and under the race detector on a loaded 2-core
		// machine 1,000 msg/s left them behind for over a minute.
		sim:       sim.Config{Seed: 21, Markets: 30, Rate: 400, ChurnPerMinute: 40},
		nats:      natsd.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir()},
		lifecycle: true,
	})
	r.waitValid()
	time.Sleep(join) // the consumers join this late on purpose

	c, err := stream.New(stream.Config{Conn: r.nc, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	node := streamcheck.StartNode(t, r.srv.ClientURL(), DefaultPrefix)
	// Under the race detector on a loaded machine the replay takes a while.
	poll.For(t, 120*time.Second, 100*time.Millisecond, func() error {
		if !c.Live() {
			return fmt.Errorf("go consumer still replaying")
		}
		return nil
	})
	joined := r.openIDs()
	// Follow live long enough for churn to open and close markets under the
	// consumers (40 a minute: one every 1.5 s).
	poll.For(t, 30*time.Second, 100*time.Millisecond, func() error {
		st := r.app.Stats()
		ls, _ := st.Lifecycle.(markets.Stats)
		now := r.openIDs()
		newer, gone := 0, 0
		for _, id := range now {
			if !slices.Contains(joined, id) {
				newer++
			}
		}
		for _, id := range joined {
			if !slices.Contains(now, id) {
				gone++
			}
		}
		if newer == 0 || gone == 0 || ls.ExpiredAssets == 0 {
			return fmt.Errorf("since the join: %d assets new, %d closed; engine expired %d", newer, gone, ls.ExpiredAssets)
		}
		return nil
	})

	r.sim.Pause()
	var open, closed []string
	for _, m := range r.sim.Markets() {
		if !m.EnableOrderBook {
			continue
		}
		if m.Closed {
			closed = append(closed, m.TokenIDs...)
		} else {
			open = append(open, m.TokenIDs...)
		}
	}
	// Markets that closed while the consumers watched (open at the join).
	var closedSince []string
	for _, id := range closed {
		if slices.Contains(joined, id) {
			closedSince = append(closedSince, id)
		}
	}
	poll.For(t, 40*time.Second, 200*time.Millisecond, func() error {
		for _, id := range closedSince {
			if b, ok := c.Book(id); !ok || b.State != stream.Closed {
				return fmt.Errorf("go: asset %s of a closed market is %v (%s)", id, b.State, b.Reason)
			}
		}
		return r.consumerEqualsTruth(c, open)
	})
	poll.For(t, 40*time.Second, 200*time.Millisecond, func() error {
		d, err := node.Dump()
		if err != nil {
			return err
		}
		return streamcheck.NodeEqualsGo(d, c, append(slices.Clone(open), closedSince...))
	})
	newer := 0
	for _, id := range open {
		if !slices.Contains(joined, id) {
			newer++
		}
	}
	t.Logf("%d open assets (%d discovered after the join) equal truth in both consumers; %d closed since the join; go stats %+v",
		len(open), newer, len(closedSince), c.Stats())
	if err := node.Stop(); err != nil {
		t.Error(err)
	}
}
