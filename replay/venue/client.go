package venue

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/lxzan/gws"
)

// client is one WebSocket client. Frames are queued (bounded) and written
// by the client's own goroutine, so a slow client never holds the replay.
type client struct {
	s      *Server
	conn   *gws.Conn
	assets map[string]bool // guarded by Server.mu

	qmu    sync.Mutex
	queue  [][]byte
	queued int
	closed bool
	wake   chan struct{} // capacity 1: a pending wake-up is enough
	done   chan struct{}
}

// send queues a frame; a client past MaxQueueBytes is disconnected.
func (c *client) send(frame []byte) {
	c.qmu.Lock()
	if c.closed {
		c.qmu.Unlock()
		return
	}
	if c.queued+len(frame) > c.s.cfg.MaxQueueBytes {
		c.qmu.Unlock()
		c.s.slowClosed.Add(1)
		c.close()
		return
	}
	c.queue = append(c.queue, frame)
	c.queued += len(frame)
	c.qmu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *client) close() {
	c.qmu.Lock()
	was := c.closed
	c.closed = true
	c.qmu.Unlock()
	if !was {
		_ = c.conn.NetConn().Close()
	}
}

func (c *client) writeLoop() {
	defer c.s.wg.Done()
	for {
		select {
		case <-c.wake:
		case <-c.done:
			return
		}
		c.qmu.Lock()
		q := c.queue
		c.queue, c.queued = nil, 0
		c.qmu.Unlock()
		for _, f := range q {
			_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := c.conn.WriteMessage(gws.OpcodeText, f); err != nil {
				c.close()
				break
			}
		}
	}
}

func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	s.wg.Add(1) // the hijacked connection outlives the HTTP server's Shutdown
	defer s.wg.Done()
	conn, err := s.up.Upgrade(w, r)
	if err != nil {
		return
	}
	c := &client{s: s, conn: conn, assets: map[string]bool{}, wake: make(chan struct{}, 1), done: make(chan struct{})}
	conn.Session().Store("client", c)
	s.mu.Lock()
	s.clients[c] = struct{}{}
	s.mu.Unlock()
	s.clientsNow.Add(1)
	s.clientsTotal.Add(1)
	s.wg.Add(1)
	go c.writeLoop()
	conn.ReadLoop() // returns when the socket closes
	close(c.done)
	c.close()
	s.mu.Lock()
	delete(s.clients, c)
	for a := range c.assets {
		delete(s.subs[a], c)
	}
	s.mu.Unlock()
	s.clientsNow.Add(-1)
}

// subscribeMsg is both the initial subscribe and a live operation.
type subscribeMsg struct {
	AssetsIDs   []string `json:"assets_ids"`
	Operation   string   `json:"operation"`
	InitialDump *bool    `json:"initial_dump"`
}

type wsHandler struct {
	gws.BuiltinEventHandler
	s *Server
}

func (h *wsHandler) OnMessage(conn *gws.Conn, m *gws.Message) {
	defer m.Close()
	v, ok := conn.Session().Load("client")
	if !ok {
		return
	}
	c := v.(*client)
	b := m.Bytes()
	if string(b) == "PING" {
		c.send([]byte("PONG"))
		return
	}
	var req subscribeMsg
	if json.Unmarshal(b, &req) != nil {
		return
	}
	switch req.Operation {
	case "unsubscribe":
		h.s.unsubscribe(c, req.AssetsIDs)
	default: // "subscribe" or the initial subscribe
		h.s.subscribe(c, req.AssetsIDs, req.InitialDump == nil || *req.InitialDump)
	}
}
