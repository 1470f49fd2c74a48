package venue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/engine/venue/venuetest"
	"github.com/polyfeed/polyfeed/internal/mono"
	"github.com/polyfeed/polyfeed/internal/poll"
)

// leakCheck fails the test if goroutines started during it outlive it.
// Registered as a cleanup before the venue's, so it runs after the venue has
// shut down.
func leakCheck(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// testConnConfig is a connection config with short timings for loopback tests.
func testConnConfig(url string) ConnConfig {
	return ConnConfig{
		URL:          url,
		PingInterval: time.Second,
		StaleTimeout: 10 * time.Second,
		WriteTimeout: 5 * time.Second,
		DialTimeout:  5 * time.Second,
		BackoffMin:   5 * time.Millisecond,
		BackoffMax:   50 * time.Millisecond,
	}
}

type testFrame struct {
	conn int64
	data string
	recv int64
}

// testSink records every frame (copied: the bytes are only valid in the call).
type testSink struct {
	mu     sync.Mutex
	frames []testFrame
}

func (s *testSink) sink(connID int64, frame []byte, recvNanos int64) {
	s.mu.Lock()
	s.frames = append(s.frames, testFrame{conn: connID, data: string(frame), recv: recvNanos})
	s.mu.Unlock()
}

func (s *testSink) Frames() []testFrame {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.frames)
}

// bookAssets decodes a book array frame into the asset ids it carries.
func bookAssets(frame string) []string {
	var books []struct {
		AssetID string `json:"asset_id"`
	}
	if json.Unmarshal([]byte(frame), &books) != nil {
		return nil
	}
	ids := make([]string, 0, len(books))
	for _, b := range books {
		ids = append(ids, b.AssetID)
	}
	return ids
}

func startConn(t *testing.T, c *Conn) {
	t.Helper()
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopConn(t, c) })
}

func stopConn(t *testing.T, c *Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		t.Errorf("Stop() = %v; want nil", err)
	}
}

// waitSubscribed waits until venue session i has received its initial subscribe.
func waitSubscribed(t *testing.T, v *venuetest.Server, i int) venuetest.SessionState {
	t.Helper()
	var st venuetest.SessionState
	poll.For(t, 10*time.Second, 2*time.Millisecond, func() error {
		s, err := v.Session(i)
		if err != nil {
			return err
		}
		st = s.Snapshot()
		if len(st.Subscribes) == 0 {
			return fmt.Errorf("session %d not subscribed yet", i)
		}
		return nil
	})
	return st
}

func TestConnSubscribePayload(t *testing.T) {
	leakCheck(t)
	v := venuetest.NewServer(t)
	var sink testSink
	c := NewConn(7, testConnConfig(v.URL()), sink.sink)
	ids := venuetest.AssetIDs(1, 3)
	if err := c.Subscribe(ids); err != nil {
		t.Fatal(err)
	}
	startConn(t, c)

	st := waitSubscribed(t, v, 0)
	want := `{"assets_ids":["` + strings.Join(ids, `","`) + `"],"type":"market","custom_feature_enabled":true,"initial_dump":true}`
	if st.Received[0] != want {
		t.Errorf("first frame = %s; want %s", st.Received[0], want)
	}
	if len(st.ProtocolErr) > 0 {
		t.Errorf("venue saw protocol errors: %v", st.ProtocolErr)
	}
	poll.For(t, 10*time.Second, 2*time.Millisecond, func() error {
		fs := sink.Frames()
		if len(fs) == 0 {
			return errors.New("no frame delivered")
		}
		if got := bookAssets(fs[0].data); !slices.Equal(got, ids) {
			return fmt.Errorf("book frame assets = %v; want %v", got, ids)
		}
		if fs[0].conn != 7 || fs[0].recv <= 0 {
			return fmt.Errorf("frame conn=%d recv=%d; want conn 7 and a receive time", fs[0].conn, fs[0].recv)
		}
		return nil
	})
	if got := c.Status(); got != ConnConnected {
		t.Errorf("Status() = %v; want CONNECTED", got)
	}
	if s := c.Stats(); s.Messages != 1 || s.Bytes != uint64(len(sink.Frames()[0].data)) || s.Sessions != 1 {
		t.Errorf("Stats() messages=%d bytes=%d sessions=%d; want 1, frame length, 1", s.Messages, s.Bytes, s.Sessions)
	}
}

// TestVenueClosesOnEarlyPing proves the test venue enforces the rule the
// connection is tested against: PING before subscribe → close 1008.
func TestVenueClosesOnEarlyPing(t *testing.T) {
	leakCheck(t)
	v := venuetest.NewServer(t)
	h := &venueProbe{closed: make(chan error, 1)}
	sock, _, err := gws.NewClient(h, &gws.ClientOption{Addr: v.URL()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); sock.ReadLoop() }()
	if err := sock.WriteString("PING"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-h.closed:
		var ce *gws.CloseError
		if !errors.As(err, &ce) || ce.Code != 1008 {
			t.Errorf("close error = %v; want close code 1008", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("venue did not close the socket")
	}
	<-done
}

type venueProbe struct {
	gws.BuiltinEventHandler
	closed chan error
}

func (p *venueProbe) OnClose(_ *gws.Conn, err error) { p.closed <- err }

func TestConnPingAfterSubscribeAndPongFiltered(t *testing.T) {
	leakCheck(t)
	v := venuetest.NewServer(t)
	var sink testSink
	cfg := testConnConfig(v.URL())
	cfg.PingInterval = 10 * time.Millisecond
	c := NewConn(1, cfg, sink.sink)
	if err := c.Subscribe(venuetest.AssetIDs(2, 2)); err != nil {
		t.Fatal(err)
	}
	startConn(t, c)

	poll.For(t, 10*time.Second, 2*time.Millisecond, func() error {
		if p := c.Stats().Pongs; p < 3 {
			return fmt.Errorf("pongs = %d; want >= 3", p)
		}
		return nil
	})
	s, err := v.Session(0)
	if err != nil {
		t.Fatal(err)
	}
	st := s.Snapshot()
	if strings.HasPrefix(st.Received[0], "PING") || !strings.HasPrefix(st.Received[0], `{"assets_ids"`) {
		t.Errorf("first frame = %q; want the subscribe", st.Received[0])
	}
	if st.Pings < 3 || st.SentClose != 0 || len(v.Sessions()) != 1 {
		t.Errorf("venue pings=%d sentClose=%d sessions=%d; want >=3, 0, 1", st.Pings, st.SentClose, len(v.Sessions()))
	}
	for _, f := range sink.Frames() {
		if f.data == "PONG" {
			t.Fatal("PONG reached the sink")
		}
	}
	stats := c.Stats()
	if stats.Messages != uint64(len(sink.Frames())) {
		t.Errorf("Messages = %d; want %d (frames the sink saw)", stats.Messages, len(sink.Frames()))
	}
	if stats.LastPong.IsZero() || stats.LastFrame.Before(stats.LastPong) {
		t.Errorf("LastPong = %v, LastFrame = %v; want set, LastFrame >= LastPong", stats.LastPong, stats.LastFrame)
	}
}

func TestConnLiveOpsAndResubscribeExactSet(t *testing.T) {
	leakCheck(t)
	v := venuetest.NewServer(t)
	var sink testSink
	c := NewConn(3, testConnConfig(v.URL()), sink.sink)
	a := venuetest.AssetIDs(3, 3)
	b := venuetest.AssetIDs(4, 2)
	if err := c.Subscribe(a); err != nil {
		t.Fatal(err)
	}
	startConn(t, c)
	waitSubscribed(t, v, 0)

	if err := c.Subscribe(append(slices.Clone(b), a[1])); err != nil { // a[1] already held
		t.Fatal(err)
	}
	if err := c.Unsubscribe([]string{a[0], "unknown"}); err != nil {
		t.Fatal(err)
	}
	want := []string{a[1], a[2], b[0], b[1]}
	slices.Sort(want)
	s0, _ := v.Session(0)
	poll.For(t, 10*time.Second, 2*time.Millisecond, func() error {
		st := s0.Snapshot()
		if !slices.Equal(st.Assets, want) {
			return fmt.Errorf("venue assets = %v; want %v", st.Assets, want)
		}
		return nil
	})
	ops := s0.Snapshot().Ops
	if len(ops) != 2 {
		t.Fatalf("venue ops = %+v; want one subscribe and one unsubscribe", ops)
	}
	if ops[0].Operation != "subscribe" || !slices.Equal(ops[0].AssetsIDs, b) ||
		!slices.Equal(ops[0].Keys, []string{"assets_ids", "custom_feature_enabled", "operation"}) {
		t.Errorf("subscribe op = %+v; want only the new ids with custom_feature_enabled", ops[0])
	}
	if ops[1].Operation != "unsubscribe" || !slices.Equal(ops[1].AssetsIDs, a[:1]) ||
		!slices.Equal(ops[1].Keys, []string{"assets_ids", "operation"}) {
		t.Errorf("unsubscribe op = %+v; want [%s]", ops[1], a[0])
	}
	if got := c.Assets(); !slices.Equal(got, want) {
		t.Errorf("Assets() = %v; want %v", got, want)
	}

	s0.Kill()
	st := waitSubscribed(t, v, 1)
	if got := st.Subscribes[0].AssetsIDs; !slices.Equal(got, want) {
		t.Errorf("resubscribe = %v; want exactly %v", got, want)
	}
	poll.For(t, 10*time.Second, 2*time.Millisecond, func() error {
		s := c.Stats()
		if s.Reconnects != 1 || s.Disconnects != 1 || s.Status != ConnConnected {
			return fmt.Errorf("reconnects=%d disconnects=%d status=%v; want 1, 1, CONNECTED", s.Reconnects, s.Disconnects, s.Status)
		}
		if s.LastCloseCode != 0 || s.LastError == "" {
			return fmt.Errorf("last close code=%d error=%q; want 0 and a reason", s.LastCloseCode, s.LastError)
		}
		return nil
	})
}

func TestConnSnapshotTracking(t *testing.T) {
	leakCheck(t)
	v := venuetest.NewServer(t)
	var sink testSink
	c := NewConn(4, testConnConfig(v.URL()), sink.sink)
	ids := venuetest.AssetIDs(5, 3)
	if err := c.Subscribe(ids); err != nil {
		t.Fatal(err)
	}
	if got := c.AwaitingSnapshot(); !slices.Equal(got, ids) {
		t.Fatalf("AwaitingSnapshot() before start = %v; want %v", got, ids)
	}
	startConn(t, c)

	// The router's part, done by hand: decode, then mark each snapshot.
	markFrom := func(from int) int {
		var n int
		poll.For(t, 10*time.Second, 2*time.Millisecond, func() error {
			fs := sink.Frames()
			if len(fs) <= from {
				return errors.New("no new frame")
			}
			n = len(fs)
			for _, f := range fs[from:] {
				for _, id := range bookAssets(f.data) {
					c.MarkSnapshot(id, f.recv)
				}
			}
			return nil
		})
		return n
	}
	seen := markFrom(0)
	if got := c.AwaitingSnapshot(); len(got) != 0 {
		t.Fatalf("AwaitingSnapshot() = %v; want none", got)
	}
	oldRecv := sink.Frames()[0].recv

	s0, _ := v.Session(0)
	s0.Kill()
	waitSubscribed(t, v, 1)
	poll.For(t, 10*time.Second, 2*time.Millisecond, func() error {
		if s := c.Stats().Sessions; s != 2 {
			return fmt.Errorf("sessions = %d; want 2", s)
		}
		return nil
	})
	// Resubscribed: every asset awaits a new snapshot; an old one does not count.
	for _, id := range ids {
		c.MarkSnapshot(id, oldRecv)
	}
	if got := c.AwaitingSnapshot(); !slices.Equal(got, ids) {
		t.Fatalf("AwaitingSnapshot() after resubscribe = %v; want %v", got, ids)
	}
	markFrom(seen)
	for _, id := range ids {
		if !c.SnapshotSeen(id) {
			t.Errorf("SnapshotSeen(%s) = false; want true", id)
		}
	}
	if c.SnapshotSeen("unknown") {
		t.Error("SnapshotSeen(unknown) = true; want false")
	}
	if s := c.Stats(); s.AwaitingSnapshot != 0 || s.LastData.IsZero() {
		t.Errorf("Stats() awaiting=%d lastData=%v; want 0 and set", s.AwaitingSnapshot, s.LastData)
	}
}

func TestConnMarkSnapshotAllocs(t *testing.T) {
	c := NewConn(1, ConnConfig{}, func(int64, []byte, int64) {})
	ids := venuetest.AssetIDs(6, 2)
	if err := c.Subscribe(ids); err != nil {
		t.Fatal(err)
	}
	now := mono.Now()
	allocs := testing.AllocsPerRun(100, func() {
		c.MarkSnapshot(ids[0], now)
		c.MarkSnapshot("unknown", now)
		_ = c.SnapshotSeen(ids[1])
	})
	if allocs != 0 {
		t.Errorf("MarkSnapshot allocs = %v; want 0", allocs)
	}
}

func TestConnMaxAssets(t *testing.T) {
	c := NewConn(1, ConnConfig{MaxAssets: 10_000}, func(int64, []byte, int64) {})
	if got := c.Capacity(); got != MaxAssetsPerConn {
		t.Fatalf("Capacity() = %d; want %d (clamped)", got, MaxAssetsPerConn)
	}
	ids := venuetest.AssetIDs(7, MaxAssetsPerConn+1)
	if err := c.Subscribe(ids); err == nil {
		t.Fatal("Subscribe(501 ids) = nil; want an error")
	}
	if n := c.AssetCount(); n != 0 {
		t.Fatalf("AssetCount() after refused Subscribe = %d; want 0 (nothing added)", n)
	}
	if err := c.Subscribe(ids[:MaxAssetsPerConn]); err != nil {
		t.Fatalf("Subscribe(500 ids) = %v; want nil", err)
	}
	if err := c.Subscribe(ids[:3]); err != nil {
		t.Errorf("Subscribe(held ids) = %v; want nil", err)
	}
	if err := c.Subscribe(ids[MaxAssetsPerConn:]); err == nil {
		t.Error("Subscribe(501st id) = nil; want an error")
	}
	if err := c.Subscribe([]string{""}); err == nil {
		t.Error("Subscribe(empty id) = nil; want an error")
	}
	small := NewConn(2, ConnConfig{MaxAssets: 2}, func(int64, []byte, int64) {})
	if err := small.Subscribe(ids[:3]); err == nil {
		t.Error("Subscribe(3 ids) with MaxAssets 2 = nil; want an error")
	}
}

func TestConnOversizeFrameReconnects(t *testing.T) {
	leakCheck(t)
	v := venuetest.NewServer(t)
	var sink testSink
	cfg := testConnConfig(v.URL())
	cfg.MaxFrameBytes = 4 << 10
	c := NewConn(5, cfg, sink.sink)
	if err := c.Subscribe(venuetest.AssetIDs(8, 1)); err != nil {
		t.Fatal(err)
	}
	startConn(t, c)
	waitSubscribed(t, v, 0)
	s0, _ := v.Session(0)
	if err := s0.Send(`{"x":"` + strings.Repeat("a", 10<<10) + `"}`); err != nil {
		t.Fatal(err)
	}
	waitSubscribed(t, v, 1)
	poll.For(t, 10*time.Second, 2*time.Millisecond, func() error {
		s := c.Stats()
		if s.OversizeCloses != 1 || s.LastCloseCode != 1009 {
			return fmt.Errorf("oversize closes=%d last code=%d; want 1 and 1009", s.OversizeCloses, s.LastCloseCode)
		}
		return nil
	})
	for _, f := range sink.Frames() {
		if len(f.data) > cfg.MaxFrameBytes {
			t.Fatalf("sink got a %d-byte frame; limit %d", len(f.data), cfg.MaxFrameBytes)
		}
	}
}

func TestConnPeerCloseCodeRecorded(t *testing.T) {
	leakCheck(t)
	v := venuetest.NewServer(t)
	c := NewConn(6, testConnConfig(v.URL()), func(int64, []byte, int64) {})
	if err := c.Subscribe(venuetest.AssetIDs(9, 1)); err != nil {
		t.Fatal(err)
	}
	startConn(t, c)
	waitSubscribed(t, v, 0)
	s0, _ := v.Session(0)
	s0.CloseWith(1011, "internal error")
	waitSubscribed(t, v, 1)
	poll.For(t, 10*time.Second, 2*time.Millisecond, func() error {
		if s := c.Stats(); s.LastCloseCode != 1011 || s.Disconnects != 1 {
			return fmt.Errorf("last close code=%d disconnects=%d; want 1011, 1", s.LastCloseCode, s.Disconnects)
		}
		return nil
	})
}

func TestConnStaleSocketReconnects(t *testing.T) {
	leakCheck(t)
	v := venuetest.NewServer(t)
	cfg := testConnConfig(v.URL())
	cfg.PingInterval = 10 * time.Millisecond
	cfg.StaleTimeout = 200 * time.Millisecond
	c := NewConn(8, cfg, func(int64, []byte, int64) {})
	if err := c.Subscribe(venuetest.AssetIDs(10, 2)); err != nil {
		t.Fatal(err)
	}
	startConn(t, c)
	waitSubscribed(t, v, 0)
	s0, _ := v.Session(0)
	s0.Stall() // socket stays open but nothing comes back, not even PONG
	waitSubscribed(t, v, 1)
	poll.For(t, 10*time.Second, 2*time.Millisecond, func() error {
		s := c.Stats()
		if s.StaleCloses < 1 || !strings.Contains(s.LastError, "stale") {
			return fmt.Errorf("stale closes=%d last error=%q; want >= 1 and a stale reason", s.StaleCloses, s.LastError)
		}
		return nil
	})
	poll.For(t, 10*time.Second, 2*time.Millisecond, func() error {
		if st := s0.Snapshot(); !st.Closed {
			return errors.New("stalled socket still open on the venue side")
		}
		return nil
	})
}

func TestConnWriteTimeoutOnDeafPeer(t *testing.T) {
	leakCheck(t)
	v := venuetest.NewServer(t)
	v.DeafNext(1) // the first socket never reads what the client writes
	cfg := testConnConfig(v.URL())
	cfg.WriteTimeout = 100 * time.Millisecond
	c := NewConn(10, cfg, func(int64, []byte, int64) {})
	ids := venuetest.AssetIDs(14, 250)
	if err := c.Subscribe(ids); err != nil {
		t.Fatal(err)
	}
	startConn(t, c)
	poll.For(t, 10*time.Second, 2*time.Millisecond, func() error {
		if c.Status() != ConnConnected {
			return errors.New("not connected")
		}
		return nil
	})
	// Each live operation is ~20 KB; the socket buffers fill, a write hits
	// its deadline and the connection gives the socket up instead of hanging.
	for i := 0; c.Stats().Disconnects == 0; i++ {
		if i == 100_000 {
			t.Fatal("writes to a peer that never reads did not fail")
		}
		_ = c.Unsubscribe(ids)
		_ = c.Subscribe(ids)
	}
	if s := c.Stats(); !strings.Contains(s.LastError, "write") && !strings.Contains(s.LastError, "closed") {
		t.Errorf("LastError = %q; want the failed write", s.LastError)
	} else {
		t.Logf("socket given up: %s", s.LastError)
	}
	st := waitSubscribed(t, v, 1)
	if !slices.Equal(st.Subscribes[0].AssetsIDs, c.Assets()) {
		t.Errorf("resubscribe = %d ids; want the current set of %d", len(st.Subscribes[0].AssetsIDs), c.AssetCount())
	}
}

func TestConnStatusTransitions(t *testing.T) {
	leakCheck(t)
	v := venuetest.NewServer(t)
	cfg := testConnConfig(v.URL())
	cfg.BackoffMin = time.Hour // hold the reconnect in backoff
	cfg.BackoffMax = time.Hour
	c := NewConn(9, cfg, func(int64, []byte, int64) {})
	if got := c.Status(); got != ConnIdle {
		t.Fatalf("Status() before Start = %v; want IDLE", got)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err == nil {
		t.Error("second Start() = nil; want an error")
	}
	if got := c.Status(); got != ConnIdle {
		t.Errorf("Status() started with no assets = %v; want IDLE", got)
	}
	ids := venuetest.AssetIDs(11, 1)
	if err := c.Subscribe(ids); err != nil {
		t.Fatal(err)
	}
	st := waitSubscribed(t, v, 0)
	// The first socket carried the asset: nothing dialed while the set was empty.
	if !slices.Equal(st.Subscribes[0].AssetsIDs, ids) {
		t.Errorf("first subscribe = %v; want %v", st.Subscribes[0].AssetsIDs, ids)
	}
	poll.For(t, 10*time.Second, 2*time.Millisecond, func() error {
		if got := c.Status(); got != ConnConnected {
			return fmt.Errorf("Status() = %v; want CONNECTED", got)
		}
		return nil
	})
	v.KillAll()
	poll.For(t, 10*time.Second, 2*time.Millisecond, func() error {
		if got := c.Status(); got != ConnConnecting {
			return fmt.Errorf("Status() after drop = %v; want CONNECTING", got)
		}
		return nil
	})
	stopConn(t, c) // in the middle of an hour-long backoff
	if got := c.Status(); got != ConnClosed {
		t.Errorf("Status() after Stop = %v; want CLOSED", got)
	}
	if err := c.Subscribe(venuetest.AssetIDs(12, 1)); err == nil {
		t.Error("Subscribe after Stop = nil; want an error")
	}
	if err := c.Start(context.Background()); err == nil {
		t.Error("Start after Stop = nil; want an error")
	}
	if got := ConnStatus(42).String(); got != "ConnStatus(42)" {
		t.Errorf("ConnStatus(42).String() = %q", got)
	}
}

func TestConnStopIsPromptAndLeakFree(t *testing.T) {
	var accepted atomic.Int32
	silent := func(t *testing.T) string {
		// Accepts TCP and never answers the handshake.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var conns []net.Conn
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				nc, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, nc)
				mu.Unlock()
				accepted.Add(1)
			}
		}()
		t.Cleanup(func() {
			_ = ln.Close()
			wg.Wait()
			for _, nc := range conns {
				_ = nc.Close()
			}
		})
		return "ws://" + ln.Addr().String() + "/ws/market"
	}
	refused := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		return "ws://" + addr + "/ws/market"
	}
	cases := []struct {
		name  string
		url   func(t *testing.T) string
		ready func(c *Conn) error
	}{
		{"connected", func(t *testing.T) string { return venuetest.NewServer(t).URL() }, func(c *Conn) error {
			if c.Status() != ConnConnected {
				return fmt.Errorf("status %v", c.Status())
			}
			return nil
		}},
		{"handshake", silent, func(c *Conn) error {
			if accepted.Load() == 0 {
				return errors.New("not dialed yet")
			}
			return nil // the handshake now waits for an answer that never comes
		}},
		{"backoff", refused, func(c *Conn) error {
			if c.Stats().DialFailures == 0 {
				return errors.New("no dial failure yet")
			}
			return nil
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			leakCheck(t)
			cfg := testConnConfig(tc.url(t))
			cfg.DialTimeout = time.Hour
			cfg.BackoffMin = time.Hour
			cfg.BackoffMax = time.Hour
			c := NewConn(1, cfg, func(int64, []byte, int64) {})
			if err := c.Subscribe(venuetest.AssetIDs(13, 1)); err != nil {
				t.Fatal(err)
			}
			if err := c.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			poll.For(t, 10*time.Second, 2*time.Millisecond, func() error { return tc.ready(c) })
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := c.Stop(ctx); err != nil {
				t.Fatalf("Stop() = %v; want nil", err)
			}
			if err := c.Stop(ctx); err != nil {
				t.Errorf("second Stop() = %v; want nil", err)
			}
			if got := c.Status(); got != ConnClosed {
				t.Errorf("Status() = %v; want CLOSED", got)
			}
		})
	}
}

func TestConnStopNeverStarted(t *testing.T) {
	c := NewConn(1, ConnConfig{}, func(int64, []byte, int64) {})
	if err := c.Stop(context.Background()); err != nil {
		t.Fatalf("Stop() = %v; want nil", err)
	}
	if got := c.Status(); got != ConnClosed {
		t.Errorf("Status() = %v; want CLOSED", got)
	}
}

func TestConnBackoff(t *testing.T) {
	lo, hi := time.Second, 30*time.Second
	for attempt := range 70 {
		step := hi
		if attempt < 5 {
			step = lo << attempt
		}
		for range 50 {
			d := backoff(attempt, lo, hi)
			if d < step/2 || d > step {
				t.Fatalf("backoff(%d) = %v; want within [%v, %v]", attempt, d, step/2, step)
			}
		}
	}
}

func TestConnIsPong(t *testing.T) {
	for in, want := range map[string]bool{"PONG": true, "PING": false, "PONGS": false, "": false, `"PONG"`: false, "pong": false} {
		if got := isPong([]byte(in)); got != want {
			t.Errorf("isPong(%q) = %v; want %v", in, got, want)
		}
	}
}
