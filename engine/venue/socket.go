package venue

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"slices"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"

	"github.com/polyfeed/polyfeed/internal/mono"
)

// One Conn's socket sessions: the supervisor that dials, subscribes, keeps
// the socket alive with PING, watches for staleness, and reconnects with
// backoff; and the gws event handler of a session. The Conn type and its
// public API are in conn.go.

// subscribeMsg is the initial subscribe. Field order is the venue's
// documented order; both flags are always sent (PROTOCOL.md §1).
type subscribeMsg struct {
	AssetsIDs            []string `json:"assets_ids"`
	Type                 string   `json:"type"`
	CustomFeatureEnabled bool     `json:"custom_feature_enabled"`
	InitialDump          bool     `json:"initial_dump"`
}

// opMsg is a live subscribe/unsubscribe on an open socket.
type opMsg struct {
	Operation            string   `json:"operation"`
	AssetsIDs            []string `json:"assets_ids"`
	CustomFeatureEnabled bool     `json:"custom_feature_enabled,omitempty"`
}

var pingText = []byte("PING")

// writeLocked writes one text frame with a deadline. c.mu must be held. A
// failed write makes gws close the socket, which ends its read loop and
// triggers a reconnect; the error is recorded, not returned.
func (c *Conn) writeLocked(s *gws.Conn, msg []byte) bool {
	if err := s.NetConn().SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout)); err != nil {
		_ = s.NetConn().Close()
		return false
	}
	if err := s.WriteMessage(gws.OpcodeText, msg); err != nil {
		c.setLastErr("write: " + err.Error())
		_ = s.NetConn().Close()
		return false
	}
	return true
}

// run is the connection's supervisor: it dials, serves a socket until it
// drops, backs off and dials again, until ctx ends.
func (c *Conn) run(ctx context.Context) {
	attempt := 0
	for {
		if c.assets.Size() == 0 {
			c.setStatus(ConnIdle)
			select {
			case <-ctx.Done():
				return
			case <-c.wake:
				continue
			}
		}
		c.setStatus(ConnConnecting)
		began := time.Now()
		sock, sess, err := c.dial(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			c.dialFailures.Add(1)
			c.setLastErr("dial: " + err.Error())
			c.log.Warn("cannot connect", "attempt", attempt, "err", err)
		} else {
			c.serve(ctx, sock, sess)
			if ctx.Err() != nil {
				return
			}
			if c.cfg.Tap != nil { // tap: close
				c.cfg.Tap.OnClose(c.id, uint16(c.lastCloseCode.Load()), c.lastErrString())
			}
			if c.cfg.OnDisconnect != nil {
				c.cfg.OnDisconnect(c.id)
			}
			if time.Since(began) >= c.cfg.StableAfter {
				attempt = 0
			}
		}
		c.setStatus(ConnConnecting)
		wait := backoff(attempt, c.cfg.BackoffMin, c.cfg.BackoffMax)
		attempt++
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// backoff returns the delay before reconnect attempt n (0-based):
// min·2ⁿ capped at max, with equal jitter (half fixed, half uniform random)
// so a fleet of sockets dropped together does not redial in lockstep while
// each still waits at least half its step.
func backoff(attempt int, lo, hi time.Duration) time.Duration {
	d := hi
	if attempt < 32 {
		if step := lo << attempt; step > 0 && step < hi {
			d = step
		}
	}
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(d-half)+1))
}

// dial opens the TCP (and TLS) connection and runs the WebSocket handshake,
// all bounded by DialTimeout and abandoned at once if ctx ends.
func (c *Conn) dial(ctx context.Context) (*gws.Conn, *session, error) {
	u, err := url.Parse(c.cfg.URL)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot parse url %q: %w", c.cfg.URL, err)
	}
	host := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "wss" {
			port = "443"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(dctx, "tcp", host)
	if err != nil {
		return nil, nil, err
	}
	netConn := raw
	if u.Scheme == "wss" {
		tc := c.cfg.TLS.Clone()
		if tc == nil {
			tc = &tls.Config{}
		}
		if tc.ServerName == "" {
			tc.ServerName = u.Hostname()
		}
		netConn = tls.Client(raw, tc)
	}
	// The handshake has its own timeout but no context: closing the socket is
	// what makes Stop prompt during a handshake against a silent peer.
	stopClose := context.AfterFunc(dctx, func() { _ = netConn.Close() })
	sess := &session{c: c}
	sock, _, err := gws.NewClientFromConn(sess, &gws.ClientOption{
		Addr:               c.cfg.URL,
		ReadMaxPayloadSize: c.cfg.MaxFrameBytes,
		ReadBufferSize:     c.cfg.ReadBufferBytes,
		HandshakeTimeout:   c.cfg.DialTimeout,
		ParallelEnabled:    false, // one reader calls the sink: per-asset order
		Logger:             gwsLogger{c.log},
	}, netConn)
	if !stopClose() {
		// The deadline or Stop closed the socket mid-handshake.
		if err == nil {
			err = dctx.Err()
		}
	}
	if err != nil {
		_ = netConn.Close()
		return nil, nil, fmt.Errorf("cannot open websocket %s: %w", c.cfg.URL, err)
	}
	return sock, sess, nil
}

// serve subscribes the current set on a fresh socket, runs its read loop,
// keepalive and stale detection, and returns once the socket is gone.
func (c *Conn) serve(ctx context.Context, sock *gws.Conn, sess *session) {
	switch ok, empty := c.subscribeAll(sock); {
	case empty: // everything was unsubscribed while dialing: back to idle
		_ = sock.NetConn().Close()
		return
	case !ok:
		_ = sock.NetConn().Close()
		c.disconnects.Add(1)
		return
	}
	now := mono.Now()
	c.hot.lastFrame.Store(now)
	c.connectedSince.Store(now)
	c.sessions.Add(1)
	c.setStatus(ConnConnected)
	c.log.Info("connected", "assets", c.assets.Size(), "session", c.sessions.Load())

	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sock.ReadLoop()
	}()

	ping := time.NewTicker(c.cfg.PingInterval)
	defer ping.Stop()
	// Checking four times per timeout detects silence within 1.25 timeouts.
	staleCheck := time.NewTicker(max(c.cfg.StaleTimeout/4, time.Millisecond))
	defer staleCheck.Stop()

	defer func() {
		c.mu.Lock()
		c.sock.CompareAndSwap(sock, nil)
		c.mu.Unlock()
		c.connectedSince.Store(0)
	}()

	for {
		select {
		case <-ctx.Done():
			c.mu.Lock()
			c.sock.CompareAndSwap(sock, nil)
			c.mu.Unlock()
			_ = sock.NetConn().SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout))
			_ = sock.WriteClose(1000, nil) // also closes the socket
			_ = sock.NetConn().Close()
			<-readDone
			return
		case <-readDone:
			c.recordClose(sess)
			return
		case <-ping.C:
			c.mu.Lock()
			if c.sock.Load() == sock {
				c.writeLocked(sock, pingText)
			}
			c.mu.Unlock()
		case <-staleCheck.C:
			last := c.hot.lastFrame.Load()
			if mono.Now()-last > int64(c.cfg.StaleTimeout) {
				sess.stale.Store(true)
				c.staleCloses.Add(1)
				_ = sock.NetConn().Close()
			}
		}
	}
}

// subscribeAll sends the initial subscribe for the whole current set and
// publishes sock for live operations, in one step under mu so no Subscribe
// or Unsubscribe falls between the snapshot of the set and the socket. An
// empty set is not sent (empty is true).
func (c *Conn) subscribeAll(sock *gws.Conn) (ok, empty bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.assets.Size() == 0 {
		return false, true
	}
	ids := make([]string, 0, c.assets.Size())
	now := mono.Now()
	c.assets.Range(func(id string, a *subscription) bool {
		ids = append(ids, id)
		a.subscribedAt.Store(now)
		return true
	})
	slices.Sort(ids)
	msg, err := json.Marshal(subscribeMsg{AssetsIDs: ids, Type: "market", CustomFeatureEnabled: true, InitialDump: true})
	if err != nil {
		c.setLastErr("cannot encode subscribe: " + err.Error())
		return false, false
	}
	if c.cfg.Tap != nil { // tap: open and initial subscribe
		c.cfg.Tap.OnOpen(c.id, c.cfg.URL)
		c.cfg.Tap.OnSubscribe(c.id, ids, true)
	}
	if !c.writeLocked(sock, msg) {
		return false, false
	}
	c.sock.Store(sock)
	return true, false
}

// recordClose notes why a socket that was not stopped by us went away.
func (c *Conn) recordClose(sess *session) {
	c.disconnects.Add(1)
	err := sess.closeErr
	var code uint16
	var ce *gws.CloseError
	var sc interface{ Uint16() uint16 }
	switch {
	case errors.As(err, &ce):
		code = ce.Code
	case errors.As(err, &sc):
		code = sc.Uint16()
	}
	reason := "disconnected"
	if err != nil && err.Error() != "" {
		reason = err.Error()
	}
	switch {
	case sess.stale.Load():
		reason = fmt.Sprintf("stale: no frame for %s", c.cfg.StaleTimeout)
	case code == 1009:
		c.oversizeCloses.Add(1)
		reason = fmt.Sprintf("frame larger than %d bytes", c.cfg.MaxFrameBytes)
	}
	c.lastCloseCode.Store(uint32(code))
	c.setLastErr(reason)
	c.log.Warn("disconnected", "code", code, "reason", reason)
}

// session is the gws event handler of one socket.
type session struct {
	gws.BuiltinEventHandler
	c        *Conn
	closeErr error // written by OnClose, read after the read loop ended
	stale    atomic.Bool
}

func (s *session) OnClose(_ *gws.Conn, err error) { s.closeErr = err }

// OnPing answers a WebSocket-level ping; the venue uses text PING/PONG, but a
// proxy in between may not.
func (s *session) OnPing(sock *gws.Conn, payload []byte) {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	_ = sock.NetConn().SetWriteDeadline(time.Now().Add(s.c.cfg.WriteTimeout))
	_ = sock.WritePong(payload)
}

// OnMessage is the per-frame path. hot path: one clock read, a few atomics,
// the sink call; the buffer goes back to gws when the sink returns.
func (s *session) OnMessage(_ *gws.Conn, m *gws.Message) {
	c := s.c
	now := mono.Now()
	b := m.Bytes()
	c.hot.lastFrame.Store(now)
	switch {
	case m.Opcode != gws.OpcodeText:
		c.hot.ignored.Add(1)
	case isPong(b):
		c.hot.pongs.Add(1)
		c.hot.lastPong.Store(now)
	default:
		c.hot.messages.Add(1)
		c.hot.bytes.Add(uint64(len(b)))
		c.hot.lastData.Store(now)
		c.sink(c.id, b, now)
	}
	_ = m.Close()
}

// isPong reports whether a frame is the keepalive reply.
func isPong(b []byte) bool {
	return len(b) == 4 && b[0] == 'P' && b[1] == 'O' && b[2] == 'N' && b[3] == 'G'
}

// gwsLogger routes the socket library's error logs to slog.
type gwsLogger struct{ log *slog.Logger }

func (l gwsLogger) Error(v ...any) { l.log.Error("websocket", "detail", fmt.Sprint(v...)) }
