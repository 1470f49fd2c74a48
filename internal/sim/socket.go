package sim

import (
	"encoding/json"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// Injected frame kinds (faults), counted in Stats.
const (
	injMalformed = iota
	injTruncated
	injUnknown
	injOversized
	numInjections
)

var injectionNames = [numInjections]string{"malformed", "truncated", "unknown", "oversized"}

// socket is one WebSocket client of /ws/market.
//
// Data frames are framed by the simulator itself and appended to out, a bounded byte queue
// that one writer goroutine drains with one write per batch: the generator never blocks on a
// socket. gws does the upgrade and reads client frames.
type socket struct {
	id int64
	nc net.Conn

	// Guarded by Server.mu.
	custom  bool
	assets  map[*token]struct{}
	rng     rng
	stage   []byte // frame under construction this tick
	stageN  int
	target  int
	touched bool
	timers  []*time.Timer

	subscribed atomic.Bool // first subscribe seen (read by the reader for PING)
	dead       atomic.Bool
	stalled    atomic.Bool

	qmu       sync.Mutex
	out       []byte
	writing   bool
	closeCode int
	closeMsg  string

	wake chan struct{} // capacity 1: a pending wake-up is enough
	done chan struct{} // closed when the reader exits
}

func (sk *socket) wakeUp() {
	select {
	case sk.wake <- struct{}{}:
	default:
	}
}

// kill drops the TCP connection without a close frame (1006 from the client's view).
func (sk *socket) kill() {
	sk.dead.Store(true)
	_ = sk.nc.Close()
}

// requestClose closes the socket with code after the queued data (1006: at once, no frame).
func (sk *socket) requestClose(code int, reason string) {
	if code == 1006 {
		sk.kill()
		return
	}
	sk.qmu.Lock()
	if sk.closeCode == 0 {
		sk.closeCode, sk.closeMsg = code, reason
	}
	sk.qmu.Unlock()
	sk.wakeUp()
}

// quiescent reports that nothing queued remains unwritten.
func (sk *socket) quiescent() bool {
	if sk.dead.Load() {
		return true
	}
	sk.qmu.Lock()
	defer sk.qmu.Unlock()
	return len(sk.out) == 0 && !sk.writing
}

// enqueue frames payload (opcode op) onto the outbound queue. A queue over MaxQueueBytes
// means the client cannot keep up: the socket is dropped and counted.
func (sk *socket) enqueue(s *Server, op byte, payload []byte) {
	sk.qmu.Lock()
	if sk.dead.Load() {
		sk.qmu.Unlock()
		return
	}
	sk.out = wsHeader(sk.out, op, len(payload))
	sk.out = append(sk.out, payload...)
	over := len(sk.out) > s.cfg.MaxQueueBytes
	sk.qmu.Unlock()
	if over {
		s.slowCloses.Add(1)
		sk.kill()
	}
}

// add appends one message (only the token entries in eff for a price_change) to the frame
// being built for this socket, batching up to target messages in one array frame.
// Called with s.mu held.
func (sk *socket) add(s *Server, mg *msg, eff uint8) {
	if sk.dead.Load() {
		return
	}
	if sk.stalled.Load() {
		s.dropped++
		return
	}
	s.sent[mg.kind]++
	if sk.stageN == 0 {
		sk.target = 1
		if s.cfg.MaxBatch > 1 && sk.rng.intn(2) == 0 {
			sk.target = 2 + sk.rng.intn(s.cfg.MaxBatch-1)
		}
		sk.stage = sk.stage[:0]
		if sk.target > 1 {
			sk.stage = append(sk.stage, '[')
		}
		if !sk.touched {
			sk.touched = true
			s.touched = append(s.touched, sk)
		}
	} else {
		sk.stage = append(sk.stage, ',')
	}
	b := s.buf
	sk.stage = append(sk.stage, b[mg.head.off:mg.head.end]...)
	first := true
	for k, e := range mg.ent {
		if e.end > e.off && eff&(1<<k) != 0 {
			if !first {
				sk.stage = append(sk.stage, ',')
			}
			sk.stage = append(sk.stage, b[e.off:e.end]...)
			first = false
		}
	}
	sk.stage = append(sk.stage, b[mg.tail.off:mg.tail.end]...)
	sk.stageN++
	if sk.stageN == sk.target {
		sk.finishFrame(s)
	}
}

func (sk *socket) finishFrame(s *Server) {
	if sk.target > 1 {
		sk.stage = append(sk.stage, ']')
	}
	sk.emit(s, sk.stage)
	sk.stageN = 0
}

// flushTouchedLocked closes the partial frames of this tick and wakes their writers.
func (s *Server) flushTouchedLocked() {
	for _, sk := range s.touched {
		if sk.stageN > 0 {
			sk.finishFrame(s)
		}
		sk.touched = false
		sk.wakeUp()
	}
	clear(s.touched)
	s.touched = s.touched[:0]
}

// emit queues one data frame, preceded by any injected fault frames. Called with s.mu held.
func (sk *socket) emit(s *Server, payload []byte) {
	f := &s.faults
	if f.MalformedRate > 0 && sk.rng.chance(f.MalformedRate) {
		s.injected[injMalformed]++
		sk.enqueue(s, 1, []byte(`{"event_type":"price_change","market":0x5`+"\x7f"+`,"price_changes":[{"asset_id":`))
	}
	if f.TruncatedRate > 0 && len(payload) > 2 && sk.rng.chance(f.TruncatedRate) {
		s.injected[injTruncated]++
		sk.enqueue(s, 1, payload[:len(payload)/2])
	}
	if f.UnknownRate > 0 && sk.rng.chance(f.UnknownRate) {
		s.injected[injUnknown]++
		sk.enqueue(s, 1, []byte(`{"event_type":"sim_unknown_event","note":"skip me","timestamp":"0"}`))
	}
	if f.OversizedRate > 0 && sk.rng.chance(f.OversizedRate) {
		s.injected[injOversized]++
		sk.enqueue(s, 1, s.oversizedFrame(f.OversizedBytes))
	}
	sk.enqueue(s, 1, payload)
}

// oversizedFrame is a valid JSON object of exactly n bytes (n >= 64) with an unknown type.
func (s *Server) oversizedFrame(n int) []byte {
	n = max(n, 64)
	if len(s.oversized) != n {
		const head, tail = `{"event_type":"sim_oversized","padding":"`, `"}`
		b := make([]byte, 0, n)
		b = append(b, head...)
		for len(b) < n-len(tail) {
			b = append(b, 'x')
		}
		s.oversized = append(b, tail...)
	}
	return s.oversized
}

// writeLoop drains the outbound queue, one write per drained batch.
func (sk *socket) writeLoop(s *Server) {
	defer s.wg.Done()
	var buf []byte
	for {
		select {
		case <-sk.wake:
		case <-sk.done:
			return
		}
		for {
			sk.qmu.Lock()
			if sk.dead.Load() {
				sk.out, sk.writing = sk.out[:0], false
				sk.qmu.Unlock()
				break
			}
			if len(sk.out) == 0 {
				sk.writing = false
				code, reason := sk.closeCode, sk.closeMsg
				sk.qmu.Unlock()
				if code != 0 {
					frame := wsHeader(nil, 0x8, 2+len(reason))
					frame = append(frame, byte(code>>8), byte(code))
					frame = append(frame, reason...)
					_ = sk.nc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
					_, _ = sk.nc.Write(frame)
					sk.kill()
				}
				break
			}
			buf, sk.out = sk.out, buf[:0]
			sk.writing = true
			sk.qmu.Unlock()
			if d := s.faultsPtr.Load().SlowWrite; d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-sk.done:
					t.Stop()
					sk.kill()
					return
				}
			}
			_ = sk.nc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
			n, err := sk.nc.Write(buf)
			s.bytesWritten.Add(uint64(n))
			if err != nil {
				sk.kill()
			}
		}
	}
}

// handleWS upgrades and serves one socket: the reader runs in this (hijacked) goroutine, the
// writer in its own; both are counted in s.wg.
func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	conn, err := s.upgrader.Upgrade(w, r)
	if err != nil {
		return
	}
	sk := &socket{nc: conn.NetConn(), assets: make(map[*token]struct{}),
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		_ = sk.nc.Close()
		return
	}
	s.nextSockID++
	sk.id = s.nextSockID
	sk.rng = newRNG(s.seed, 1<<40+uint64(sk.id))
	f := s.faults
	if f.StallSocketRate > 0 && sk.rng.chance(f.StallSocketRate) {
		if f.StallAfter == 0 {
			sk.stalled.Store(true)
		} else {
			sk.timers = append(sk.timers, time.AfterFunc(f.StallAfter, func() { sk.stalled.Store(true) }))
		}
	}
	if f.CloseAfter > 0 {
		sk.timers = append(sk.timers, time.AfterFunc(f.CloseAfter, func() {
			s.faultCloses.Add(1)
			sk.requestClose(f.CloseCode, "simulated close")
		}))
	}
	s.sockets[sk.id] = sk
	s.wg.Add(2)
	s.mu.Unlock()
	s.connsTotal.Add(1)
	defer s.wg.Done()
	go sk.writeLoop(s)

	conn.Session().Store("socket", sk)
	if d := s.cfg.IdleTimeout; d > 0 {
		_ = conn.SetReadDeadline(time.Now().Add(d))
	}
	conn.ReadLoop()

	sk.kill()
	close(sk.done)
	s.mu.Lock()
	for _, t := range sk.timers {
		t.Stop()
	}
	delete(s.sockets, sk.id)
	for t := range sk.assets {
		s.unsubLocked(sk, t)
	}
	s.mu.Unlock()
}

// subscribeRequest is both the initial subscribe and the live operation message.
type subscribeRequest struct {
	AssetsIDs   []string `json:"assets_ids"`
	Type        string   `json:"type"`
	Operation   string   `json:"operation"`
	Custom      *bool    `json:"custom_feature_enabled"`
	InitialDump *bool    `json:"initial_dump"`
}

// wsHandler adapts gws events to the server.
type wsHandler struct{ s *Server }

func (wsHandler) OnOpen(*gws.Conn)         {}
func (wsHandler) OnClose(*gws.Conn, error) {}
func (wsHandler) OnPong(*gws.Conn, []byte) {}

func (h wsHandler) OnPing(c *gws.Conn, payload []byte) {
	if sk := sockOf(c); sk != nil {
		sk.enqueue(h.s, 0xA, payload)
		sk.wakeUp()
	}
}

func sockOf(c *gws.Conn) *socket {
	v, ok := c.Session().Load("socket")
	if !ok {
		return nil
	}
	return v.(*socket)
}

func (h wsHandler) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	s, sk := h.s, sockOf(c)
	if sk == nil {
		return
	}
	if d := s.faultsPtr.Load().SlowRead; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-s.quit:
			t.Stop()
			return
		}
	}
	if d := s.cfg.IdleTimeout; d > 0 {
		_ = c.SetReadDeadline(time.Now().Add(d))
	}
	if m.Opcode != gws.OpcodeText {
		return
	}
	data := m.Bytes()
	if string(data) == "PING" {
		if !sk.subscribed.Load() {
			sk.requestClose(1008, "invalid subscription payload")
			return
		}
		sk.enqueue(s, 1, []byte("PONG"))
		sk.wakeUp()
		return
	}
	var req subscribeRequest
	err := json.Unmarshal(data, &req)
	initial := !sk.subscribed.Load()
	switch {
	case err != nil || req.AssetsIDs == nil:
		if initial {
			sk.requestClose(1008, "invalid subscription payload")
		}
	case req.Operation == "unsubscribe" && !initial:
		s.unsubscribe(sk, req.AssetsIDs)
	case req.Operation == "subscribe" || (req.Operation == "" && (req.Type == "" || req.Type == "market")):
		s.subscribe(sk, req.AssetsIDs, req.Custom, req.InitialDump == nil || *req.InitialDump)
	default:
		if initial {
			sk.requestClose(1008, "invalid subscription payload")
		}
	}
}

// subscribe adds assets to sk and sends the snapshots of the newly subscribed ones as one
// array frame. Unknown, closed or book-less assets are ignored silently, as the venue does.
func (s *Server) subscribe(sk *socket, ids []string, custom *bool, dump bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if custom != nil {
		sk.custom = *custom
	}
	sk.subscribed.Store(true)
	f := &s.faults
	s.snapBuf = append(s.snapBuf[:0], '[')
	n := 0
	for _, id := range ids {
		t, ok := s.tokens[id]
		if !ok || !t.m.enableBook || t.m.closed {
			continue
		}
		if _, dup := sk.assets[t]; dup {
			continue
		}
		held := len(sk.assets)
		sk.assets[t] = struct{}{}
		s.subscriptions++
		stall := f.StallAssetRate > 0 && sk.rng.chance(f.StallAssetRate)
		s.addSubLocked(sk, t, stall)
		switch {
		case !dump || stall:
			continue
		case f.SnapshotCap > 0 && held >= f.SnapshotCap:
			s.snapSkipped++
			continue
		case sk.stalled.Load():
			s.dropped++
			continue
		}
		if n > 0 {
			s.snapBuf = append(s.snapBuf, ',')
		}
		omit, bs := sk.rng.chance(s.cfg.OmitTypeRate), sk.rng.chance(s.cfg.BuysSellsRate)
		s.snapBuf = appendBook(s.snapBuf, t, s.nowMs, omit, bs)
		s.sent[kindBook]++
		n++
	}
	if n > 0 {
		s.snapBuf = append(s.snapBuf, ']')
		sk.emit(s, s.snapBuf)
		sk.wakeUp()
	}
}

func (s *Server) addSubLocked(sk *socket, t *token, stall bool) {
	bit := uint8(1) << t.idx
	m := t.m
	for i := range m.subs {
		if m.subs[i].s == sk {
			m.subs[i].mask |= bit
			if stall {
				m.subs[i].stall |= bit
			}
			return
		}
	}
	sb := sub{s: sk, mask: bit}
	if stall {
		sb.stall = bit
	}
	m.subs = append(m.subs, sb)
}

func (s *Server) unsubscribe(sk *socket, ids []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if t, ok := s.tokens[id]; ok {
			if _, held := sk.assets[t]; held {
				s.unsubLocked(sk, t)
				delete(sk.assets, t)
			}
		}
	}
}

func (s *Server) unsubLocked(sk *socket, t *token) {
	s.subscriptions--
	bit := uint8(1) << t.idx
	m := t.m
	for i := range m.subs {
		if m.subs[i].s != sk {
			continue
		}
		m.subs[i].mask &^= bit
		m.subs[i].stall &^= bit
		if m.subs[i].mask == 0 {
			last := len(m.subs) - 1
			m.subs[i] = m.subs[last]
			m.subs[last] = sub{}
			m.subs = m.subs[:last]
		}
		return
	}
}
