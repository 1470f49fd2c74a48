// Package venue talks to the venue's market channel: a Conn is one WebSocket carrying up to
// MaxAssetsPerConn assets (keepalive, stale detection, reconnect with backoff, live
// subscribe/unsubscribe), and the Pool spreads the registry's pending assets over as many
// Conns as it takes. Every data frame goes to a FrameSink; nothing here decodes events.
//
// Concurrency: Conn and Pool methods may be called from any goroutine; each documents what
// it serialises. A FrameSink is called on each connection's read goroutine.
package venue

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
	"github.com/puzpuzpuz/xsync/v3"

	"github.com/polyfeed/polyfeed/internal/fill"
	"github.com/polyfeed/polyfeed/internal/mono"
	"github.com/polyfeed/polyfeed/internal/runner"
)

// FrameSink receives every data frame a connection reads, on that connection's
// read goroutine.
//
// Contract:
//   - frame is valid only during the call: the socket layer reuses the buffer as
//     soon as the sink returns. A sink that keeps the bytes must copy them.
//   - recvNanos is the frame's receive time, mono.Now(), stamped once
//     per frame before the sink is called.
//   - The sink must not block: while it runs, the connection reads nothing (no
//     data, no PONG), so a slow sink looks like a stalled socket to the peer and
//     to the stale detector. Queue the frame and return; count what you drop.
//   - The text keepalive reply "PONG" is filtered out and never reaches the sink.
//   - Calls for one connection are sequential; different connections call the
//     sink concurrently.
type FrameSink func(connID int64, frame []byte, recvNanos int64)

// MaxAssetsPerConn is the hard limit of assets on one connection. Around 500 the
// venue starts dropping snapshots and stalling sockets silently (PROTOCOL.md §1).
const MaxAssetsPerConn = 500

// DefaultAssetsPerConn is how many assets the pool puts on one connection by default: what
// practitioners run reliably, well below MaxAssetsPerConn.
const DefaultAssetsPerConn = 200

// DefaultMarketURL is the venue's CLOB market channel.
const DefaultMarketURL = "wss://ws-subscriptions-clob.polymarket.com/ws/market"

// ConnConfig configures one market-channel connection. Zero fields take the
// documented defaults in NewConn.
type ConnConfig struct {
	// URL of the market channel, ws:// or wss://. Default DefaultMarketURL.
	URL string
	// MaxAssets is how many assets the connection may carry. Default and upper
	// bound MaxAssetsPerConn; larger values are clamped to it.
	MaxAssets int
	// PingInterval is how often the text "PING" keepalive is sent once the
	// socket is subscribed. Default 10 s (the venue drops sockets silent for ~10 s).
	PingInterval time.Duration
	// StaleTimeout: a socket that receives no frame at all (data or PONG) for
	// this long is treated as dead, closed and reconnected. Default 60 s.
	StaleTimeout time.Duration
	// WriteTimeout bounds every write (subscribe, PING, close) so a peer that
	// stops reading cannot block a writer forever. Default 5 s.
	WriteTimeout time.Duration
	// DialTimeout bounds TCP connect, TLS and the WebSocket handshake together.
	// Default 10 s.
	DialTimeout time.Duration
	// BackoffMin and BackoffMax bound the reconnect delay, which doubles per
	// failed attempt with equal jitter (half fixed, half random). Defaults 1 s
	// and 30 s. Reconnecting never gives up.
	BackoffMin, BackoffMax time.Duration
	// StableAfter: a session that stayed up this long resets the backoff to
	// BackoffMin. Default 60 s.
	StableAfter time.Duration
	// MaxFrameBytes is the largest frame accepted; a bigger one closes the
	// socket with 1009 (counted in ConnStats.OversizeCloses) and reconnects.
	// Default 16 MiB: the initial dump of a full connection is an array of up
	// to MaxAssets books.
	MaxFrameBytes int
	// ReadBufferBytes is the socket read buffer. Default 64 KiB.
	ReadBufferBytes int
	// TLS is the client TLS configuration for wss://. Default: system roots,
	// server name from the URL.
	TLS *tls.Config
	// OnDisconnect is called on the connection's goroutine when a session
	// ends other than by Stop: events may have been lost until the next
	// session's snapshots, so the engine marks this connection's books
	// invalid. Pool.CloseConn also calls it, on its caller's goroutine, once
	// the stopped connection's goroutines are gone. It must not block.
	OnDisconnect func(connID int64)
	// Tap sees the socket opened, subscribes and unsubscribes written and
	// sockets lost (see Tap). Optional; frames reach it through the sink.
	Tap Tap
	// Logger receives connection lifecycle events (never per-frame logs).
	// Default: discard.
	Logger *slog.Logger
}

func (c *ConnConfig) fill() {
	fill.Zero(&c.URL, DefaultMarketURL)
	if c.MaxAssets <= 0 || c.MaxAssets > MaxAssetsPerConn {
		c.MaxAssets = MaxAssetsPerConn
	}
	fill.Positive(&c.PingInterval, 10*time.Second)
	fill.Positive(&c.StaleTimeout, 60*time.Second)
	fill.Positive(&c.WriteTimeout, 5*time.Second)
	fill.Positive(&c.DialTimeout, 10*time.Second)
	fill.Positive(&c.BackoffMin, time.Second)
	fill.Positive(&c.BackoffMax, 30*time.Second)
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = c.BackoffMin
	}
	fill.Positive(&c.StableAfter, 60*time.Second)
	fill.Positive(&c.MaxFrameBytes, 16<<20)
	fill.Positive(&c.ReadBufferBytes, 64<<10)
	fill.Logger(&c.Logger)
}

// ConnStatus is where a connection is in its life.
type ConnStatus uint32

const (
	// ConnIdle: not started yet, or started with no assets to carry (an empty
	// connection does not dial: the venue closes sockets that never subscribe).
	ConnIdle ConnStatus = iota
	// ConnConnecting: dialing, or waiting out a reconnect backoff.
	ConnConnecting
	// ConnConnected: the socket is open and its asset set was subscribed.
	ConnConnected
	// ConnDraining: Stop has begun.
	ConnDraining
	// ConnClosed: stopped; every goroutine of the connection has exited.
	ConnClosed
)

func (s ConnStatus) String() string {
	switch s {
	case ConnIdle:
		return "IDLE"
	case ConnConnecting:
		return "CONNECTING"
	case ConnConnected:
		return "CONNECTED"
	case ConnDraining:
		return "DRAINING"
	case ConnClosed:
		return "CLOSED"
	}
	return fmt.Sprintf("ConnStatus(%d)", uint32(s))
}

// ConnStats is a point-in-time copy of a connection's counters.
type ConnStats struct {
	ID     int64
	Status ConnStatus
	// Assets is the size of the current asset set; AwaitingSnapshot how many of
	// them have had no book snapshot since they were last (re)subscribed.
	Assets, AwaitingSnapshot int
	// Messages and Bytes count data frames handed to the sink (PONG excluded);
	// Pongs counts keepalive replies; Ignored counts binary frames (the venue
	// sends text only), dropped.
	Messages, Bytes, Pongs, Ignored uint64
	// Sessions counts sockets that opened and subscribed; Reconnects is
	// Sessions after the first. DialFailures counts failed dials/handshakes.
	Sessions, Reconnects, DialFailures uint64
	// Disconnects counts sockets lost for any reason other than Stop; of those,
	// OversizeCloses were for a frame above MaxFrameBytes and StaleCloses for
	// silence past StaleTimeout.
	Disconnects, OversizeCloses, StaleCloses uint64
	// CreatedAt is when NewConn ran; ConnectedSince when the current socket
	// subscribed (zero while not connected). LastFrame is any frame including
	// PONG, LastData a data frame, LastPong a PONG. Zero means never.
	CreatedAt, ConnectedSince, LastFrame, LastData, LastPong time.Time
	// Age is the time since CreatedAt.
	Age time.Duration
	// LastError describes the last disconnect or dial failure; LastCloseCode is
	// the WebSocket close code of the last disconnect (the peer's, or 1009 for an
	// oversize frame), 0 when the socket dropped without a close frame.
	LastError     string
	LastCloseCode uint16
}

// subscription is one asset carried by a connection. Times are mono.Now() readings.
type subscription struct {
	subscribedAt atomic.Int64 // when the subscribe carrying it was last written
	snapshotAt   atomic.Int64 // recv time of a snapshot; counts only if >= subscribedAt
}

func (a *subscription) seen() bool {
	s := a.snapshotAt.Load()
	return s != 0 && s >= a.subscribedAt.Load()
}

// hotCounters holds the counters the read goroutine writes per frame, on their own
// cache lines so Stats readers and the other goroutines' counters do not share
// them.
type hotCounters struct {
	_         [64]byte
	messages  atomic.Uint64
	bytes     atomic.Uint64
	pongs     atomic.Uint64
	ignored   atomic.Uint64
	lastFrame atomic.Int64
	lastData  atomic.Int64
	lastPong  atomic.Int64
	_         [64]byte
}

// Conn is one market-channel WebSocket that keeps a set of assets subscribed
// across reconnects.
//
// Concurrency: every method is safe for concurrent use. Start launches the
// connection's goroutines (one run loop owning dial, keepalive, stale
// detection and backoff, plus one read loop per open socket); Stop ends them
// and waits. MarkSnapshot, SnapshotSeen, Has, Status, ID and AssetCount take
// no lock; Subscribe and Unsubscribe serialise with socket writes and may block
// up to WriteTimeout on a peer that stopped reading.
type Conn struct {
	id      int64
	cfg     ConnConfig
	sink    FrameSink
	log     *slog.Logger
	created int64

	// assets is read lock-free (router calls MarkSnapshot); every mutation
	// happens under mu so the set and what the socket was told stay in step.
	assets *xsync.MapOf[string, *subscription]

	// mu serialises asset-set mutations and every write to the socket: a
	// write sets the deadline and writes as one step.
	mu sync.Mutex
	// sock is the open socket once its initial subscribe was written, nil
	// otherwise. Stored under mu; loaded lock-free only to force-close it.
	sock atomic.Pointer[gws.Conn]

	wake chan struct{} // cap 1: assets were added while the set was empty

	stopped atomic.Bool  // Stop was called: Subscribe and Unsubscribe refuse
	group   runner.Group // owns run

	status atomic.Uint32
	hot    hotCounters

	sessions       atomic.Uint64
	dialFailures   atomic.Uint64
	disconnects    atomic.Uint64
	oversizeCloses atomic.Uint64
	staleCloses    atomic.Uint64
	connectedSince atomic.Int64
	lastCloseCode  atomic.Uint32
	lastErr        atomic.Pointer[string]
}

// NewConn returns a connection that is not started yet. cfg defaults are
// filled in (see ConnConfig); sink must not be nil.
func NewConn(id int64, cfg ConnConfig, sink FrameSink) *Conn {
	cfg.fill()
	c := &Conn{
		id:      id,
		cfg:     cfg,
		sink:    sink,
		log:     cfg.Logger.With("conn", id),
		created: mono.Now(),
		assets:  xsync.NewMapOf[string, *subscription](),
		wake:    make(chan struct{}, 1),
	}
	return c
}

// ID returns the connection id given to NewConn.
func (c *Conn) ID() int64 { return c.id }

// Status returns the current lifecycle status.
func (c *Conn) Status() ConnStatus { return ConnStatus(c.status.Load()) }

func (c *Conn) setStatus(s ConnStatus) {
	// Once draining, only Stop's own transition to CLOSED may follow.
	for {
		cur := c.status.Load()
		if (ConnStatus(cur) == ConnDraining && s != ConnClosed) || ConnStatus(cur) == ConnClosed {
			return
		}
		if c.status.CompareAndSwap(cur, uint32(s)) {
			return
		}
	}
}

// Capacity returns how many assets the connection may carry (MaxAssets).
func (c *Conn) Capacity() int { return c.cfg.MaxAssets }

// AssetCount returns the size of the current asset set.
func (c *Conn) AssetCount() int { return c.assets.Size() }

// Has reports whether assetID is in the current set.
func (c *Conn) Has(assetID string) bool {
	_, ok := c.assets.Load(assetID)
	return ok
}

// Assets returns the current asset set, sorted.
func (c *Conn) Assets() []string {
	ids := make([]string, 0, c.assets.Size())
	c.assets.Range(func(id string, _ *subscription) bool {
		ids = append(ids, id)
		return true
	})
	slices.Sort(ids)
	return ids
}

// Start launches the connection. With an empty asset set it stays IDLE and
// dials once Subscribe adds assets. The connection lives until Stop; ctx only
// guards the call itself. Start may be called once.
func (c *Conn) Start(ctx context.Context) error {
	return c.group.Start(ctx, c.run)
}

// Stop closes the socket (sending close 1000 when it can) and waits for every
// goroutine of the connection. If ctx ends first the socket is closed without
// ceremony, Stop still waits for the goroutines (which then exit at once,
// unless the sink is blocked) and returns ctx's error. Stop is idempotent and
// safe to call concurrently; a stopped connection cannot be restarted.
func (c *Conn) Stop(ctx context.Context) error {
	if c.stopped.Swap(true) { // not the first Stop: wait for the first one's work
		return c.group.Wait(context.Background())
	}
	c.setStatus(ConnDraining)
	if !c.group.Stop() { // never started: nothing runs
		c.setStatus(ConnClosed)
		return nil
	}
	var err error
	if werr := c.group.Wait(ctx); werr != nil {
		if s := c.sock.Load(); s != nil {
			_ = s.NetConn().Close()
		}
		_ = c.group.Wait(context.Background())
		err = fmt.Errorf("cannot stop connection %d cleanly: %w", c.id, ctx.Err())
	}
	c.setStatus(ConnClosed)
	return err
}

// Subscribe adds assets to the set. Ids already in the set are ignored. If
// the result would exceed MaxAssets nothing is added and an error is
// returned. On an open socket the new ids are sent at once as a live
// subscribe operation; otherwise they go out with the next (re)subscribe.
// A failed write is not an error here: the socket is then closing and the
// reconnect subscribes the whole set, the new ids included.
func (c *Conn) Subscribe(ids []string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped.Load() {
		return fmt.Errorf("cannot subscribe %d assets on connection %d: stopped", len(ids), c.id)
	}
	fresh := make([]string, 0, len(ids))
	for _, id := range ids {
		if id == "" {
			return fmt.Errorf("cannot subscribe assets on connection %d: empty asset id", c.id)
		}
		if _, ok := c.assets.Load(id); !ok && !slices.Contains(fresh, id) {
			fresh = append(fresh, id)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	if n := c.assets.Size() + len(fresh); n > c.cfg.MaxAssets {
		return fmt.Errorf("cannot subscribe %d assets on connection %d: %d would exceed the limit of %d",
			len(fresh), c.id, n, c.cfg.MaxAssets)
	}
	wasEmpty := c.assets.Size() == 0
	now := mono.Now()
	for _, id := range fresh {
		a := &subscription{}
		a.subscribedAt.Store(now)
		c.assets.Store(id, a)
	}
	if s := c.sock.Load(); s != nil {
		msg, err := json.Marshal(opMsg{Operation: "subscribe", AssetsIDs: fresh, CustomFeatureEnabled: true})
		if err != nil {
			return fmt.Errorf("cannot encode subscribe operation: %w", err)
		}
		if c.cfg.Tap != nil { // tap: subscribe
			c.cfg.Tap.OnSubscribe(c.id, fresh, false)
		}
		c.writeLocked(s, msg)
	}
	if wasEmpty {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// Unsubscribe removes assets from the set and, on an open socket, sends a
// live unsubscribe operation for those that were in it. Unknown ids are
// ignored. When the set becomes empty the socket stays open; after a
// disconnect an empty connection does not redial.
func (c *Conn) Unsubscribe(ids []string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped.Load() {
		return fmt.Errorf("cannot unsubscribe %d assets on connection %d: stopped", len(ids), c.id)
	}
	gone := make([]string, 0, len(ids))
	for _, id := range ids {
		if _, ok := c.assets.LoadAndDelete(id); ok {
			gone = append(gone, id)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	if s := c.sock.Load(); s != nil {
		msg, err := json.Marshal(opMsg{Operation: "unsubscribe", AssetsIDs: gone})
		if err != nil {
			return fmt.Errorf("cannot encode unsubscribe operation: %w", err)
		}
		if c.cfg.Tap != nil { // tap: unsubscribe
			c.cfg.Tap.OnUnsubscribe(c.id, gone)
		}
		c.writeLocked(s, msg)
	}
	return nil
}

// MarkSnapshot records that a book snapshot for assetID, received at
// recvNanos (the value the sink was given), was applied. The router calls it
// after decoding, so the socket goroutine never decodes. Snapshots received
// before the asset's latest (re)subscribe do not count. Lock-free and
// allocation-free.
func (c *Conn) MarkSnapshot(assetID string, recvNanos int64) {
	a, ok := c.assets.Load(assetID)
	if !ok {
		return
	}
	for {
		cur := a.snapshotAt.Load()
		if cur != 0 && cur >= a.subscribedAt.Load() {
			return // already seen since the last subscribe
		}
		if recvNanos < a.subscribedAt.Load() {
			return // from before the last subscribe
		}
		if a.snapshotAt.CompareAndSwap(cur, recvNanos) {
			return
		}
	}
}

// SnapshotSeen reports whether assetID is in the set and has had a snapshot
// since it was last (re)subscribed.
func (c *Conn) SnapshotSeen(assetID string) bool {
	a, ok := c.assets.Load(assetID)
	return ok && a.seen()
}

// AwaitingSnapshotSince lists the assets subscribed (on a written subscribe)
// before cutoff, a mono.Now() reading, that have had no snapshot since,
// sorted.
func (c *Conn) AwaitingSnapshotSince(cutoff int64) []string {
	var ids []string
	c.assets.Range(func(id string, a *subscription) bool {
		if sub := a.subscribedAt.Load(); sub != 0 && sub < cutoff && !a.seen() {
			ids = append(ids, id)
		}
		return true
	})
	slices.Sort(ids)
	return ids
}

// AwaitingSnapshot returns the assets with no snapshot since their last
// (re)subscribe, sorted. The venue sends no error for unknown or inactive
// ids, so an asset can wait forever; the caller judges how long is too long.
func (c *Conn) AwaitingSnapshot() []string {
	var ids []string
	c.assets.Range(func(id string, a *subscription) bool {
		if !a.seen() {
			ids = append(ids, id)
		}
		return true
	})
	slices.Sort(ids)
	return ids
}

// LastData returns the receive time of the last data frame (zero if none):
// the venue keeps answering PING on a socket whose data stopped, so liveness
// is judged by data.
func (c *Conn) LastData() time.Time { return monoTime(c.hot.lastData.Load()) }

// Stats returns a snapshot of the connection's counters.
func (c *Conn) Stats() ConnStats {
	st := ConnStats{
		ID:             c.id,
		Status:         c.Status(),
		Assets:         c.assets.Size(),
		Messages:       c.hot.messages.Load(),
		Bytes:          c.hot.bytes.Load(),
		Pongs:          c.hot.pongs.Load(),
		Ignored:        c.hot.ignored.Load(),
		Sessions:       c.sessions.Load(),
		DialFailures:   c.dialFailures.Load(),
		Disconnects:    c.disconnects.Load(),
		OversizeCloses: c.oversizeCloses.Load(),
		StaleCloses:    c.staleCloses.Load(),
		CreatedAt:      monoTime(c.created),
		ConnectedSince: monoTime(c.connectedSince.Load()),
		LastFrame:      monoTime(c.hot.lastFrame.Load()),
		LastData:       monoTime(c.hot.lastData.Load()),
		LastPong:       monoTime(c.hot.lastPong.Load()),
		Age:            time.Since(monoTime(c.created)),
		LastCloseCode:  uint16(c.lastCloseCode.Load()),
	}
	if st.Sessions > 0 {
		st.Reconnects = st.Sessions - 1
	}
	if p := c.lastErr.Load(); p != nil {
		st.LastError = *p
	}
	c.assets.Range(func(_ string, a *subscription) bool {
		if !a.seen() {
			st.AwaitingSnapshot++
		}
		return true
	})
	return st
}

func monoTime(nanos int64) time.Time { return mono.Time(nanos) }

func (c *Conn) setLastErr(s string) { c.lastErr.Store(&s) }
