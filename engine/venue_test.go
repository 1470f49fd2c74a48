package engine

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
	"time"

	"github.com/lxzan/gws"
)

// testVenue is a real WebSocket server on 127.0.0.1 that behaves like the
// venue's market channel as far as connection tests need (PROTOCOL.md §1):
// it checks the initial subscribe payload, answers text PING with PONG,
// closes with 1008 on a PING (or a bad payload) before the subscribe,
// applies live subscribe/unsubscribe operations and sends a book array for
// newly subscribed ids. Tests can kill sockets abruptly or stall them.
type testVenue struct {
	t   testing.TB
	srv *httptest.Server
	up  *gws.Upgrader
	wg  sync.WaitGroup // one per socket read loop

	mu       sync.Mutex
	sessions []*venueSession

	stallNew atomic.Bool  // sessions opened while set start stalled
	deafNext atomic.Int32 // this many next sessions never read: the client's writes back up
}

// venueSession is one accepted socket and what it was told.
type venueSession struct {
	v    *testVenue
	sock *gws.Conn

	mu          sync.Mutex
	received    []string // every text frame, in order
	subscribes  []venueSubscribe
	ops         []venueOp
	assets      map[string]bool
	subscribed  bool
	pings       int
	sentClose   uint16 // close code the venue sent, 0 if none
	closed      bool
	protocolErr []string

	stalled atomic.Bool
}

type venueSubscribe struct {
	AssetsIDs []string
	Keys      []string // JSON keys present, sorted
}

type venueOp struct {
	Operation string
	AssetsIDs []string
	Keys      []string
}

func newTestVenue(t testing.TB) *testVenue {
	v := &testVenue{t: t}
	v.up = gws.NewUpgrader(venueHandler{v}, &gws.ServerOption{
		ReadMaxPayloadSize:  1 << 20,
		WriteMaxPayloadSize: 64 << 20,
	})
	v.srv = httptest.NewServer(http.HandlerFunc(v.serveHTTP))
	t.Cleanup(v.Close)
	return v
}

func (v *testVenue) serveHTTP(w http.ResponseWriter, r *http.Request) {
	sock, err := v.up.Upgrade(w, r)
	if err != nil {
		return
	}
	s := &venueSession{v: v, sock: sock, assets: map[string]bool{}}
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

// URL is the market channel address of the venue.
func (v *testVenue) URL() string {
	return "ws" + strings.TrimPrefix(v.srv.URL, "http") + "/ws/market"
}

// Sessions returns the accepted sockets in connection order.
func (v *testVenue) Sessions() []*venueSession {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.sessions)
}

// Session returns session i or an error if it does not exist yet.
func (v *testVenue) Session(i int) (*venueSession, error) {
	ss := v.Sessions()
	if i >= len(ss) {
		return nil, fmt.Errorf("venue has %d sessions, want session %d", len(ss), i)
	}
	return ss[i], nil
}

// KillAll drops every open socket without a close frame.
func (v *testVenue) KillAll() {
	for _, s := range v.Sessions() {
		_ = s.sock.NetConn().Close()
	}
}

// Close kills every socket, waits for their read loops and stops the server.
func (v *testVenue) Close() {
	v.KillAll()
	v.wg.Wait()
	v.srv.Close()
}

func venueSess(sock *gws.Conn) *venueSession {
	x, _ := sock.Session().Load("s")
	return x.(*venueSession)
}

type venueHandler struct{ v *testVenue }

func (venueHandler) OnOpen(*gws.Conn)                {}
func (venueHandler) OnPing(s *gws.Conn, p []byte)    { _ = s.WritePong(p) }
func (venueHandler) OnPong(*gws.Conn, []byte)        {}
func (venueHandler) OnClose(sock *gws.Conn, _ error) { venueSess(sock).setClosed() }

func (s *venueSession) setClosed() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

func (h venueHandler) OnMessage(sock *gws.Conn, m *gws.Message) {
	s := venueSess(sock)
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
			s.closeWith(1008, "invalid subscription payload")
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
		s.ops = append(s.ops, venueOp{Operation: name, AssetsIDs: ids, Keys: keys})
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
			_ = sock.WriteString(venueBooks(fresh))
		}
		return
	}
	want := []string{"assets_ids", "custom_feature_enabled", "initial_dump", "type"}
	if !slices.Equal(keys, want) || string(raw["type"]) != `"market"` ||
		string(raw["custom_feature_enabled"]) != "true" || string(raw["initial_dump"]) != "true" {
		s.fail("bad subscribe payload: " + text)
		s.closeWith(1008, "invalid subscription payload")
		return
	}
	s.mu.Lock()
	s.subscribes = append(s.subscribes, venueSubscribe{AssetsIDs: ids, Keys: keys})
	s.subscribed = true
	for _, id := range ids {
		s.assets[id] = true
	}
	s.mu.Unlock()
	if len(ids) > 0 {
		_ = sock.WriteString(venueBooks(ids))
	}
}

func (s *venueSession) fail(msg string) {
	s.mu.Lock()
	s.protocolErr = append(s.protocolErr, msg)
	s.mu.Unlock()
}

func (s *venueSession) closeWith(code uint16, reason string) {
	s.mu.Lock()
	s.sentClose = code
	s.mu.Unlock()
	_ = s.sock.WriteClose(code, []byte(reason))
}

// Send writes a text frame to the client.
func (s *venueSession) Send(text string) error { return s.sock.WriteString(text) }

// Kill drops the socket without a close frame.
func (s *venueSession) Kill() { _ = s.sock.NetConn().Close() }

// Stall makes the session ignore everything: no PONG, no data.
func (s *venueSession) Stall() { s.stalled.Store(true) }

// Snapshot returns a copy of what the session recorded.
func (s *venueSession) Snapshot() venueSessionState {
	s.mu.Lock()
	defer s.mu.Unlock()
	assets := make([]string, 0, len(s.assets))
	for id := range s.assets {
		assets = append(assets, id)
	}
	slices.Sort(assets)
	return venueSessionState{
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

type venueSessionState struct {
	Received    []string
	Subscribes  []venueSubscribe
	Ops         []venueOp
	Assets      []string
	Subscribed  bool
	Pings       int
	SentClose   uint16
	Closed      bool
	ProtocolErr []string
}

// venueBooks renders the initial-dump array of book snapshots for ids, in
// the venue's shape (bids ascending, asks descending, decimal strings).
func venueBooks(ids []string) string {
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

// checkFor calls f every `every` until it returns nil or total has passed,
// then fails the test with f's last error.
func checkFor(t testing.TB, total, every time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	var err error
	for {
		if err = f(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s: %v", total, err)
		}
		time.Sleep(every)
	}
}

// testAssetIDs returns n distinct ids shaped like CLOB token ids (77 digits).
func testAssetIDs(prefix, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%07d%070d", prefix, i)
	}
	return ids
}
