package sim

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/polyfeed/polyfeed/internal/poll"
)

// startSim starts a simulator for one test and stops it (checking the stop) at cleanup.
func startSim(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.Epoch.IsZero() {
		cfg.Epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s
}

// wsClient is a plain gws client that records every text frame it receives.
type wsClient struct {
	gws.BuiltinEventHandler
	conn     *gws.Conn
	mu       sync.Mutex
	frames   [][]byte
	pongs    int
	discard  bool // count nothing but PONG (benchmarks)
	closeErr error
	closed   chan struct{}
}

func dial(t testing.TB, s *Server) *wsClient {
	t.Helper()
	c := &wsClient{closed: make(chan struct{})}
	conn, _, err := gws.NewClient(c, &gws.ClientOption{Addr: s.WSURL(), ReadMaxPayloadSize: 64 << 20})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.conn = conn
	go conn.ReadLoop()
	t.Cleanup(func() {
		_ = conn.NetConn().Close()
		<-c.closed
	})
	return c
}

func (c *wsClient) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	if string(m.Bytes()) == "PONG" {
		c.pongs++
		return
	}
	if c.discard {
		return
	}
	c.frames = append(c.frames, append([]byte(nil), m.Bytes()...))
}

func (c *wsClient) OnClose(_ *gws.Conn, err error) {
	c.mu.Lock()
	c.closeErr = err
	c.mu.Unlock()
	close(c.closed)
}

func (c *wsClient) send(t testing.TB, s string) {
	t.Helper()
	if err := c.conn.WriteString(s); err != nil {
		t.Fatalf("send %q: %v", s, err)
	}
}

func (c *wsClient) subscribe(t testing.TB, ids []string, custom bool) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"assets_ids": ids, "type": "market", "custom_feature_enabled": custom, "initial_dump": true})
	c.send(t, string(b))
}

func (c *wsClient) op(t testing.TB, op string, ids []string) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"operation": op, "assets_ids": ids, "custom_feature_enabled": true})
	c.send(t, string(b))
}

func (c *wsClient) pongCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pongs
}

// sync sends PING and waits for its PONG. PONG travels the same queue as data, so every
// frame queued before the PING has then been received.
func (c *wsClient) sync(t testing.TB) {
	t.Helper()
	n := c.pongCount()
	c.send(t, "PING")
	waitFor(t, "PONG", func() bool { return c.pongCount() > n })
}

func (c *wsClient) takeFrames() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.frames
	c.frames = nil
	return f
}

// events flattens frames (objects or arrays) into raw events.
func events(t testing.TB, frames [][]byte) []json.RawMessage {
	t.Helper()
	var out []json.RawMessage
	for _, f := range frames {
		if len(f) > 0 && f[0] == '[' {
			var arr []json.RawMessage
			if err := json.Unmarshal(f, &arr); err != nil {
				t.Fatalf("bad array frame %.200s: %v", f, err)
			}
			out = append(out, arr...)
			continue
		}
		if !json.Valid(f) {
			t.Fatalf("bad frame %.200s", f)
		}
		out = append(out, f)
	}
	return out
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, 20*time.Second, what, cond)
}

// closeCode waits for the client to be closed and returns the close code (1006 when the
// TCP connection dropped without a close frame).
func (c *wsClient) closeCode(t testing.TB) (int, string) {
	t.Helper()
	select {
	case <-c.closed:
	case <-time.After(20 * time.Second):
		t.Fatal("socket not closed")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var ce *gws.CloseError
	if errors.As(c.closeErr, &ce) {
		return int(ce.Code), string(ce.Reason)
	}
	return 1006, ""
}

// bookAssets returns the token ids of open markets that have a book.
func bookAssets(s *Server) []string {
	var ids []string
	for _, m := range s.Markets() {
		if m.EnableOrderBook && !m.Closed {
			ids = append(ids, m.TokenIDs...)
		}
	}
	return ids
}

func getJSON(t testing.TB, url string, v any) (int, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if v != nil && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: decode: %v", url, err)
		}
	}
	return resp.StatusCode, resp.Header
}
