package baseline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// Mode selects what a client does with each frame.
type Mode string

const (
	// Naive decodes every frame and keeps every book.
	Naive Mode = "naive"
	// Floor reads frames and drops them.
	Floor Mode = "floor"
)

// Config configures a Client.
type Config struct {
	// WSURL is the market channel, ws://host/ws/market. Required.
	WSURL string
	// Assets are the asset (token) ids to subscribe. Required.
	Assets []string
	// AssetsPerConn is how many assets share one socket. Default 200, like polyfeed.
	AssetsPerConn int
	// Mode is Naive or Floor. Default Naive.
	Mode Mode
	// PingEvery is the text keepalive period. Default 10 s (the venue's).
	PingEvery time.Duration
	// Logger receives connection errors. Default slog.Default().
	Logger *slog.Logger
}

// Client is one baseline client: its sockets and, in Naive mode, its books.
type Client struct {
	cfg Config

	mu    sync.Mutex // the one mutex over every book (Naive)
	books map[string]*Book

	frames   atomic.Uint64
	messages atomic.Uint64
	bad      atomic.Uint64
}

// New checks cfg and fills its defaults.
func New(cfg Config) (*Client, error) {
	if cfg.AssetsPerConn <= 0 {
		cfg.AssetsPerConn = 200
	}
	if cfg.Mode == "" {
		cfg.Mode = Naive
	}
	if cfg.PingEvery <= 0 {
		cfg.PingEvery = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Mode != Naive && cfg.Mode != Floor {
		return nil, fmt.Errorf("cannot create client: unknown mode %q", cfg.Mode)
	}
	if _, err := url.Parse(cfg.WSURL); err != nil || cfg.WSURL == "" {
		return nil, fmt.Errorf("cannot create client: invalid ws url %q", cfg.WSURL)
	}
	if len(cfg.Assets) == 0 {
		return nil, errors.New("cannot create client: no assets")
	}
	return &Client{cfg: cfg, books: make(map[string]*Book)}, nil
}

// Stats are the client's counters.
type Stats struct {
	Mode     Mode   `json:"mode"`
	Frames   uint64 `json:"frames"`
	Messages uint64 `json:"messages"` // JSON objects decoded (Naive only)
	Bad      uint64 `json:"bad"`      // frames that did not decode (Naive only)
	Books    int    `json:"books"`
}

// Stats returns the counters now.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	n := len(c.books)
	c.mu.Unlock()
	return Stats{Mode: c.cfg.Mode, Frames: c.frames.Load(), Messages: c.messages.Load(), Bad: c.bad.Load(), Books: n}
}

// Run opens one socket per AssetsPerConn assets, subscribes and reads until
// ctx ends. A socket that fails is reopened after a second. It returns after
// every socket goroutine has stopped.
func (c *Client) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for start := 0; start < len(c.cfg.Assets); start += c.cfg.AssetsPerConn {
		ids := c.cfg.Assets[start:min(start+c.cfg.AssetsPerConn, len(c.cfg.Assets))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := c.session(ctx, ids); err != nil && ctx.Err() == nil {
					c.cfg.Logger.Warn("socket ended", "err", err)
				}
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		}()
	}
	wg.Wait()
	return nil
}

type subscribeMsg struct {
	AssetsIDs            []string `json:"assets_ids"`
	Type                 string   `json:"type"`
	CustomFeatureEnabled bool     `json:"custom_feature_enabled"`
	InitialDump          bool     `json:"initial_dump"`
}

// session runs one socket until it fails or ctx ends.
func (c *Client) session(ctx context.Context, ids []string) error {
	sock, _, err := gws.NewClient(handler{c}, &gws.ClientOption{Addr: c.cfg.WSURL, ReadMaxPayloadSize: 64 << 20})
	if err != nil {
		return fmt.Errorf("cannot open websocket: %w", err)
	}
	sub, err := json.Marshal(subscribeMsg{AssetsIDs: ids, Type: "market", CustomFeatureEnabled: true, InitialDump: true})
	if err != nil {
		return fmt.Errorf("cannot encode subscribe: %w", err)
	}
	if err := sock.WriteMessage(gws.OpcodeText, sub); err != nil {
		_ = sock.NetConn().Close()
		return fmt.Errorf("cannot subscribe: %w", err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // keepalive, and closing the socket when ctx ends
		defer wg.Done()
		t := time.NewTicker(c.cfg.PingEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				_ = sock.NetConn().Close()
				return
			case <-t.C:
				_ = sock.WriteMessage(gws.OpcodeText, []byte("PING"))
			}
		}
	}()
	sock.ReadLoop()
	close(stop)
	wg.Wait()
	return nil
}

// handler is the gws event handler shared by every socket of a client.
type handler struct{ c *Client }

func (handler) OnOpen(*gws.Conn)             {}
func (handler) OnClose(*gws.Conn, error)     {}
func (handler) OnPing(s *gws.Conn, p []byte) { _ = s.WritePong(p) }
func (handler) OnPong(*gws.Conn, []byte)     {}
func (h handler) OnMessage(s *gws.Conn, m *gws.Message) {
	c := h.c
	c.frames.Add(1)
	if c.cfg.Mode == Naive {
		b := m.Bytes()
		if !(len(b) == 4 && string(b) == "PONG") {
			for _, id := range c.apply(b) {
				c.resnapshot(s, id)
			}
		}
	}
	_ = m.Close()
}

type operationMsg struct {
	Operation            string   `json:"operation"`
	AssetsIDs            []string `json:"assets_ids"`
	CustomFeatureEnabled bool     `json:"custom_feature_enabled,omitempty"`
}

// resnapshot asks for a fresh snapshot of one asset: the venue sends one only
// for a newly subscribed asset, so unsubscribe, then subscribe again.
func (c *Client) resnapshot(s *gws.Conn, id string) {
	for _, op := range []operationMsg{{Operation: "unsubscribe", AssetsIDs: []string{id}}, {Operation: "subscribe", AssetsIDs: []string{id}, CustomFeatureEnabled: true}} {
		b, err := json.Marshal(op)
		if err == nil {
			err = s.WriteMessage(gws.OpcodeText, b)
		}
		if err != nil {
			c.cfg.Logger.Warn("cannot ask for a snapshot", "asset", id, "err", err)
			return
		}
	}
}
