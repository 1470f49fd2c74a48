package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/internal/poll"
	"github.com/polyfeed/polyfeed/internal/streamtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, streamtest.IgnoreServerGoroutines()) }

// syncBuffer is a bytes.Buffer the watcher writes and the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestJSONEndToEnd runs polywatch --json against a real in-process JetStream server
// fed by the contract test publisher, and checks its last line per asset against the
// publisher's true top of book; the market selector keeps the other market out.
func TestJSONEndToEnd(t *testing.T) {
	srv := streamtest.StartServer(t)
	nc := srv.Connect(t)
	streamtest.CreateStreams(t, nc, "feed")
	pub := streamtest.NewPublisher(t, nc, "feed")
	r := rand.New(rand.NewPCG(1, 1))
	for _, a := range []string{"a1", "a2", "b1"} {
		pub.Add(a, "m"+a[:1], 42)
		pub.Book(a)
	}
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--nats-url", srv.URL(), "--prefix", "feed", "--json", "--market", "ma", "--asset", "zz"}, &stdout, &stderr)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run returned %v", err)
		}
	}()
	for range 100 {
		pub.Random(r, []string{"a1", "a2", "b1"}[r.IntN(3)])
	}
	pub.Trade("a1", 490, 300, false)
	pub.Status("a2", "stale", "test")
	poll.For(t, 20*time.Second, 20*time.Millisecond, func() error {
		last := map[string]map[string]any{}
		for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
			if l == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				return fmt.Errorf("line %q: %v", l, err)
			}
			last[m["asset_id"].(string)] = m
		}
		if _, ok := last["b1"]; ok {
			return errors.New("market mb printed although only ma was selected")
		}
		for _, a := range []string{"a1", "a2"} {
			m := last[a]
			if m == nil {
				return fmt.Errorf("no line for %s yet", a)
			}
			bids, asks := pub.Truth(a)
			if m["best_bid"] != bids[0][0] || m["bid_size"] != bids[0][1] || m["best_ask"] != asks[0][0] || m["ask_size"] != asks[0][1] {
				return fmt.Errorf("%s: line %v, truth bid %v ask %v", a, m, bids[0], asks[0])
			}
			if m["seq"] != float64(pub.Seq(a)) {
				return fmt.Errorf("%s: seq %v, want %d", a, m["seq"], pub.Seq(a))
			}
		}
		if lt, _ := last["a1"]["last_trade"].(map[string]any); lt == nil || lt["price"] != "0.49" || lt["side"] != "SELL" {
			return fmt.Errorf("a1 last_trade %v", last["a1"]["last_trade"])
		}
		if last["a2"]["state"] != "stale" || last["a1"]["state"] != "live" {
			return fmt.Errorf("states a1 %v a2 %v", last["a1"]["state"], last["a2"]["state"])
		}
		return nil
	})
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{"--prefix", "a.b"}, {"--refresh", "0s"}, {"extra"}, {"--nope"}} {
		var out syncBuffer
		if err := run(context.Background(), args, &out, &out); !errors.Is(err, errUsage) {
			t.Errorf("run(%q) = %v, want a usage error", args, err)
		}
	}
}

// TestLiveView runs the terminal view against a real in-process server started after
// polywatch (it waits for the stream) and checks that the table shows the true top
// of book, the spread and the state.
func TestLiveView(t *testing.T) {
	srv := streamtest.StartServer(t)
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--nats-url", srv.URL(), "--refresh", "20ms"}, &stdout, &stderr)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run returned %v", err)
		}
	}()
	poll.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		if !strings.Contains(stderr.String(), "waiting for the stream") {
			return errors.New("polywatch did not say it waits for the stream")
		}
		return nil
	})
	nc := srv.Connect(t)
	streamtest.CreateStreams(t, nc, "polyfeed")
	pub := streamtest.NewPublisher(t, nc, "polyfeed")
	pub.Add("asset-one", "m", 1)
	pub.Delta("asset-one", streamtest.Change{Buy: true, Price: 480, Size: 3000}, streamtest.Change{Buy: false, Price: 520, Size: 2500})
	pub.Book("asset-one")
	pub.Trade("asset-one", 500, 100, true)
	poll.For(t, 20*time.Second, 20*time.Millisecond, func() error {
		out := stdout.String()
		frame := out[strings.LastIndex(out, "\x1b[H")+1:]
		for _, want := range []string{"asset-one", "live", "0.48 x 30", "0.52 x 25", "0.04", "BUY 0.5 x 1"} {
			if !strings.Contains(frame, want) {
				return fmt.Errorf("view lacks %q:\n%s", want, frame)
			}
		}
		return nil
	})
}
