package baseline

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/internal/sim"
)

// checkFor polls f every 20 ms until it returns "" or total passes.
func checkFor(t *testing.T, total time.Duration, f func() string) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		why := f()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func startSim(t *testing.T) (*sim.Server, []string) {
	t.Helper()
	s, err := sim.New(sim.Config{Markets: 30, Rate: 2000, Seed: 7, MaxBatch: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	var ids []string
	for _, m := range s.Markets() {
		if m.EnableOrderBook && !m.Closed {
			ids = append(ids, m.TokenIDs...)
		}
	}
	return s, ids
}

func runClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return c
}

// The naive client is a real client: after the venue pauses, every book it
// keeps equals the simulator's truth.
func TestNaiveBooksEqualTruth(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t, goleak.IgnoreCurrent()) })
	s, ids := startSim(t)
	c := runClient(t, Config{WSURL: s.WSURL(), Assets: ids, AssetsPerConn: 7, Mode: Naive})
	checkFor(t, 10*time.Second, func() string {
		if st := c.Stats(); st.Books < len(ids) || st.Messages < 500 {
			return "naive client has " + strconv.Itoa(st.Books) + " books, " + strconv.FormatUint(st.Messages, 10) + " messages"
		}
		return ""
	})
	s.Pause()
	checkFor(t, 10*time.Second, func() string {
		for _, id := range ids {
			if why := diffTruth(s, c, id); why != "" {
				return why
			}
		}
		return ""
	})
	if st := c.Stats(); st.Bad != 0 {
		t.Fatalf("%d frames did not decode", st.Bad)
	}
}

func diffTruth(s *sim.Server, c *Client, id string) string {
	truth, _ := s.Book(id)
	got, ok := c.Book(id)
	if !ok {
		return id + ": no book"
	}
	for _, side := range []struct {
		name string
		got  map[string]string
		want []sim.Level
	}{{"bids", got.Bids, truth.Bids}, {"asks", got.Asks, truth.Asks}} {
		if len(side.got) != len(side.want) {
			return id + " " + side.name + ": " + strconv.Itoa(len(side.got)) + " levels, truth " + strconv.Itoa(len(side.want))
		}
		for _, l := range side.want {
			p, _ := strconv.ParseFloat(l.Price.String(), 64)
			sz, ok := side.got[strconv.FormatFloat(p, 'f', -1, 64)]
			w, _ := strconv.ParseFloat(l.Size.String(), 64)
			g, _ := strconv.ParseFloat(sz, 64)
			if !ok || g != w {
				return id + " " + side.name + " " + l.Price.String() + ": size " + sz + ", truth " + l.Size.String()
			}
		}
	}
	return ""
}

// The floor client receives the same frames and keeps nothing.
func TestFloorReadsFrames(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t, goleak.IgnoreCurrent()) })
	s, ids := startSim(t)
	c := runClient(t, Config{WSURL: s.WSURL(), Assets: ids, Mode: Floor})
	checkFor(t, 10*time.Second, func() string {
		if st := c.Stats(); st.Frames < 200 {
			return "floor client has " + strconv.FormatUint(st.Frames, 10) + " frames"
		}
		return ""
	})
	if st := c.Stats(); st.Books != 0 || st.Messages != 0 {
		t.Fatalf("floor client decoded: %+v", st)
	}
}

func TestNewRejects(t *testing.T) {
	for _, cfg := range []Config{
		{WSURL: "ws://x/ws", Mode: "fancy", Assets: []string{"1"}},
		{WSURL: "", Assets: []string{"1"}},
		{WSURL: "ws://x/ws"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) = nil error", cfg)
		}
	}
}
