// Package venuetest runs a fake market channel for tests, in the style of net/http/httptest:
// a real WebSocket server on 127.0.0.1 that speaks the venue's protocol as far as connection
// tests need, records what each socket was told, and can kill or stall sockets.
//
// Concurrency: every method may be called from any goroutine.
package venuetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lxzan/gws"
)

// Server is a real WebSocket server on 127.0.0.1 that behaves like the
// venue's market channel as far as connection tests need (PROTOCOL.md §1):
// it checks the initial subscribe payload, answers text PING with PONG,
// closes with 1008 on a PING (or a bad payload) before the subscribe,
// applies live subscribe/unsubscribe operations and sends a book array for
// newly subscribed ids. Tests can kill sockets abruptly or stall them.
type Server struct {
	t   testing.TB
	srv *httptest.Server
	up  *gws.Upgrader
	wg  sync.WaitGroup // one per socket read loop

	mu       sync.Mutex
	sessions []*Session

	stallNew atomic.Bool  // sessions opened while set start stalled
	deafNext atomic.Int32 // this many next sessions never read: the client's writes back up
}

// Session is one accepted socket and what it was told.
type Session struct {
	v    *Server
	sock *gws.Conn

	mu          sync.Mutex
	received    []string // every text frame, in order
	subscribes  []Subscribe
	ops         []Op
	assets      map[string]bool
	subscribed  bool
	pings       int
	sentClose   uint16 // close code the venue sent, 0 if none
	closed      bool
	protocolErr []string

	stalled atomic.Bool
}

// Subscribe is one initial subscribe payload.
type Subscribe struct {
	AssetsIDs []string
	Keys      []string // JSON keys present, sorted
}

// Op is one live subscribe/unsubscribe operation.
type Op struct {
	Operation string
	AssetsIDs []string
	Keys      []string
}

// NewServer starts a venue on 127.0.0.1, closed when the test ends.
func NewServer(t testing.TB) *Server {
	v := &Server{t: t}
	v.up = gws.NewUpgrader(handler{v}, &gws.ServerOption{
		ReadMaxPayloadSize:  1 << 20,
		WriteMaxPayloadSize: 64 << 20,
	})
	v.srv = httptest.NewServer(http.HandlerFunc(v.serveHTTP))
	t.Cleanup(v.Close)
	return v
}

func (v *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	sock, err := v.up.Upgrade(w, r)
	if err != nil {
		return
	}
	s := &Session{v: v, sock: sock, assets: map[string]bool{}}
	s.stalled.Store(v.stallNew.Load())
	sock.Session().Store("s", s)
	v.mu.Lock()
	v.sessions = append(v.sessions, s)
	v.mu.Unlock()
	if v.deafNext.Add(-1) >= 0 {
		return
	}
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		sock.ReadLoop()
	}()
}

// StallNew makes every session opened from now on (while on) start stalled: the socket
// opens but never answers.
func (v *Server) StallNew(on bool) { v.stallNew.Store(on) }

// DeafNext makes the next n sessions never read: the client's writes back up.
func (v *Server) DeafNext(n int32) { v.deafNext.Store(n) }

// URL is the market channel address of the venue.
func (v *Server) URL() string {
	return "ws" + strings.TrimPrefix(v.srv.URL, "http") + "/ws/market"
}

// Sessions returns the accepted sockets in connection order.
func (v *Server) Sessions() []*Session {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.sessions)
}

// Session returns session i or an error if it does not exist yet.
func (v *Server) Session(i int) (*Session, error) {
	ss := v.Sessions()
	if i >= len(ss) {
		return nil, fmt.Errorf("venue has %d sessions, want session %d", len(ss), i)
	}
	return ss[i], nil
}

// KillAll drops every open socket without a close frame.
func (v *Server) KillAll() {
	for _, s := range v.Sessions() {
		_ = s.sock.NetConn().Close()
	}
}

// Close kills every socket, waits for their read loops and stops the server.
func (v *Server) Close() {
	v.KillAll()
	v.wg.Wait()
	v.srv.Close()
}

func sessionOf(sock *gws.Conn) *Session {
	x, _ := sock.Session().Load("s")
	return x.(*Session)
}

type handler struct{ v *Server }

func (handler) OnOpen(*gws.Conn)                {}
func (handler) OnPing(s *gws.Conn, p []byte)    { _ = s.WritePong(p) }
func (handler) OnPong(*gws.Conn, []byte)        {}
func (handler) OnClose(sock *gws.Conn, _ error) { sessionOf(sock).setClosed() }

func (s *Session) setClosed() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

func (h handler) OnMessage(sock *gws.Conn, m *gws.Message) {
	s := sessionOf(sock)
	text := string(m.Bytes())
	_ = m.Close()
	s.mu.Lock()
	s.received = append(s.received, text)
	s.mu.Unlock()
	if s.stalled.Load() {
		return
	}
	if text == "PING" {
		s.mu.Lock()
		s.pings++
		ok := s.subscribed
		s.mu.Unlock()
		if !ok {
			s.CloseWith(1008, "invalid subscription payload")
			return
		}
		_ = sock.WriteString("PONG")
		return
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		s.fail("not json: " + text)
		return
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var ids []string
	if err := json.Unmarshal(raw["assets_ids"], &ids); err != nil {
		s.fail("assets_ids: " + err.Error())
		return
	}
	if op, ok := raw["operation"]; ok {
		var name string
		_ = json.Unmarshal(op, &name)
		s.mu.Lock()
		s.ops = append(s.ops, Op{Operation: name, AssetsIDs: ids, Keys: keys})
		var fresh []string
		for _, id := range ids {
			switch name {
			case "subscribe":
				if !s.assets[id] {
					fresh = append(fresh, id)
				}
				s.assets[id] = true
			case "unsubscribe":
				delete(s.assets, id)
			}
		}
		s.mu.Unlock()
		if len(fresh) > 0 {
			_ = sock.WriteString(Books(fresh))
		}
		return
	}
	want := []string{"assets_ids", "custom_feature_enabled", "initial_dump", "type"}
	if !slices.Equal(keys, want) || string(raw["type"]) != `"market"` ||
		string(raw["custom_feature_enabled"]) != "true" || string(raw["initial_dump"]) != "true" {
		s.fail("bad subscribe payload: " + text)
		s.CloseWith(1008, "invalid subscription payload")
		return
	}
	s.mu.Lock()
	s.subscribes = append(s.subscribes, Subscribe{AssetsIDs: ids, Keys: keys})
	s.subscribed = true
	for _, id := range ids {
		s.assets[id] = true
	}
	s.mu.Unlock()
	if len(ids) > 0 {
		_ = sock.WriteString(Books(ids))
	}
}

func (s *Session) fail(msg string) {
	s.mu.Lock()
	s.protocolErr = append(s.protocolErr, msg)
	s.mu.Unlock()
}

// CloseWith sends a close frame with code and reason, as the venue does on a protocol error.
func (s *Session) CloseWith(code uint16, reason string) {
	s.mu.Lock()
	s.sentClose = code
	s.mu.Unlock()
	_ = s.sock.WriteClose(code, []byte(reason))
}

// Send writes a text frame to the client.
func (s *Session) Send(text string) error { return s.sock.WriteString(text) }

// Kill drops the socket without a close frame.
func (s *Session) Kill() { _ = s.sock.NetConn().Close() }

// Stall makes the session ignore everything: no PONG, no data.
func (s *Session) Stall() { s.stalled.Store(true) }

// Snapshot returns a copy of what the session recorded.
func (s *Session) Snapshot() SessionState {
	s.mu.Lock()
	defer s.mu.Unlock()
	assets := make([]string, 0, len(s.assets))
	for id := range s.assets {
		assets = append(assets, id)
	}
	slices.Sort(assets)
	return SessionState{
		Received:    slices.Clone(s.received),
		Subscribes:  slices.Clone(s.subscribes),
		Ops:         slices.Clone(s.ops),
		Assets:      assets,
		Subscribed:  s.subscribed,
		Pings:       s.pings,
		SentClose:   s.sentClose,
		Closed:      s.closed,
		ProtocolErr: slices.Clone(s.protocolErr),
	}
}

// SessionState is what a Session recorded, as returned by Snapshot.
type SessionState struct {
	Received    []string
	Subscribes  []Subscribe
	Ops         []Op
	Assets      []string
	Subscribed  bool
	Pings       int
	SentClose   uint16
	Closed      bool
	ProtocolErr []string
}

// Books renders the initial-dump array of book snapshots for ids, in
// the venue's shape (bids ascending, asks descending, decimal strings).
func Books(ids []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"event_type":"book","asset_id":%q,"market":"0x%064d",`+
			`"bids":[{"price":"0.47","size":"120"},{"price":"0.48","size":"30.5"}],`+
			`"asks":[{"price":"0.53","size":"80"},{"price":"0.52","size":"14"}],`+
			`"timestamp":"1760000000000","hash":"%040d"}`, id, i, i)
	}
	b.WriteByte(']')
	return b.String()
}

// AssetIDs returns n distinct ids shaped like CLOB token ids (77 digits).
func AssetIDs(prefix, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%07d%070d", prefix, i)
	}
	return ids
}

// TokenIDs returns n distinct canonical token ids (no leading zero), as Gamma lists them.
func TokenIDs(prefix, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%d%070d", 1000000+prefix, i)
	}
	return ids
}
