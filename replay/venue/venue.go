// Package venue serves a recording as a venue: a Gamma market listing from
// the recorded listings and a market-channel WebSocket that replays the
// recorded frames to each client for exactly the assets it subscribed,
// with initial dumps taken from the books a replay engine has rebuilt at
// that moment. Any client of the real venue can run against a recorded day.
//
// One goroutine replays (package replay) into an engine that keeps the
// books; every recorded frame is split per asset and fanned out to the
// subscribed clients under the same lock a subscribe takes to read its
// dumps, so a client's dump and the stream after it are seamless. An asset
// is streamed from the recorded connection that last subscribed it (a
// recycle or a resync briefly carries it on two). A book the replay holds
// invalid (its socket dropped) gets no dump: the client's snapshot is the
// recording's next one.
//
// Concurrency: New, Start and Stop belong to the owner; every other method
// is safe from any goroutine.
package venue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/engine"
	"github.com/polyfeed/polyfeed/engine/venue"
	"github.com/polyfeed/polyfeed/record"
	"github.com/polyfeed/polyfeed/replay"
)

// Config configures a Server.
type Config struct {
	// Dir is the recording; From and To bound it (Unix ns, 0 unbounded).
	Dir      string
	From, To int64
	// Speed is the replay pace (see replay.Config). Default 1.
	Speed float64
	// Max is as fast as the engine goes (Speed is then ignored).
	Max bool
	// Addr is the listen address. Default "127.0.0.1:0".
	Addr string
	// MaxQueueBytes bounds what waits to be written to one client; a
	// client that falls further behind is disconnected. Default 64 MiB.
	MaxQueueBytes int
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

// Stats counts what the venue did.
type Stats struct {
	Clients, ClientsTotal, SlowClosed int64
	FramesSent, Dumps                 uint64
	// Done is true once the whole recording was replayed.
	Done   bool
	Replay replay.Stats
}

// Server is a venue replaying one recording.
type Server struct {
	cfg  Config
	log  *slog.Logger
	app  *engine.App
	rd   *record.Reader
	rep  *replay.Replayer
	ln   net.Listener
	http *http.Server
	up   *gws.Upgrader

	hold     chan struct{} // closed by the first subscribe
	holdOnce sync.Once
	done     chan struct{} // closed when the replay ended
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	// mu orders the fan-out of frames against subscriptions and book reads.
	mu      sync.Mutex
	listing []record.Market
	markets map[string]string // asset → condition id
	owners  *replay.Owners
	subs    map[string]map[*client]struct{}
	clients map[*client]struct{}

	clientsNow, clientsTotal, slowClosed atomic.Int64
	framesSent, dumps                    atomic.Uint64
	replayErr                            atomic.Pointer[error]
}

// New opens the recording and prepares the replay engine.
func New(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Speed == 0 && !cfg.Max {
		cfg.Speed = 1
	}
	if cfg.Max {
		cfg.Speed = 0
	}
	if cfg.MaxQueueBytes <= 0 {
		cfg.MaxQueueBytes = 64 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	rd, err := record.Open(cfg.Dir, cfg.From, cfg.To, cfg.Logger)
	if err != nil {
		return nil, err
	}
	if len(rd.Files()) == 0 {
		_ = rd.Close()
		return nil, fmt.Errorf("cannot serve %s: %w", cfg.Dir, replay.ErrNoRecording)
	}
	app, err := engine.New(engine.Config{
		WSURL: "ws://127.0.0.1:1/ws/market", GammaURL: "http://127.0.0.1:1", // never dialed
		Workers: 2, Backpressure: engine.Block, InboundBytes: replay.InboundBytes, HandOffFrames: true,
		DisableLifecycle: true, DisableRecycling: true, AssetStaleAfter: -1,
		Logger: cfg.Logger,
	})
	if err != nil {
		_ = rd.Close()
		return nil, err
	}
	s := &Server{
		cfg: cfg, log: cfg.Logger.With("component", "replay-venue"), app: app, rd: rd,
		hold: make(chan struct{}), done: make(chan struct{}),
		markets: map[string]string{}, owners: replay.NewOwners(),
		subs: map[string]map[*client]struct{}{}, clients: map[*client]struct{}{},
	}
	s.rep, err = replay.New(rd, (*tapEngine)(s), replay.Config{Speed: cfg.Speed, Hold: s.hold, OnRecord: s.onRecord})
	if err != nil {
		_ = rd.Close()
		return nil, err
	}
	s.up = gws.NewUpgrader(&wsHandler{s: s}, &gws.ServerOption{ParallelEnabled: false, ReadMaxPayloadSize: 1 << 20})
	return s, nil
}

// Start listens and starts replaying; the first frame waits for the first
// subscribe.
func (s *Server) Start(ctx context.Context) error {
	if err := s.app.Start(ctx); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		_ = s.app.Stop(context.Background())
		return fmt.Errorf("cannot listen on %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	mux := http.NewServeMux()
	mux.HandleFunc("GET /markets", s.handleMarkets)
	mux.HandleFunc("GET /markets/keyset", s.handleKeyset)
	mux.HandleFunc("GET /ws/market", s.handleWS)
	mux.HandleFunc("GET /replay/stats", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, s.Stats()) })
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	rctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		_ = s.http.Serve(ln)
	}()
	go func() {
		defer s.wg.Done()
		defer close(s.done)
		if err := s.rep.Run(rctx); err != nil && rctx.Err() == nil {
			s.replayErr.Store(&err)
			s.log.Error("replay stopped", "err", err)
			return
		}
		s.log.Info("recording replayed; serving its end state", "records", s.rep.Stats().Records)
	}()
	return nil
}

// Stop closes every client, stops the replay and the engine, and waits.
func (s *Server) Stop(ctx context.Context) error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	err := s.http.Shutdown(ctx)
	s.mu.Lock()
	for c := range s.clients {
		c.close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return errors.Join(err, s.app.Stop(ctx), s.rd.Close())
}

// Addr is the listen address; URLs for clients follow.
func (s *Server) Addr() string     { return s.ln.Addr().String() }
func (s *Server) GammaURL() string { return "http://" + s.Addr() }
func (s *Server) WSURL() string    { return "ws://" + s.Addr() + "/ws/market" }

// Done is closed once the whole recording was replayed.
func (s *Server) Done() <-chan struct{} { return s.done }

// Book returns the replay's book of an asset, as the venue would dump it.
func (s *Server) Book(ctx context.Context, assetID string) (engine.BookView, bool, error) {
	return s.app.Book(ctx, assetID, 0)
}

// Listing returns the market listing in force.
func (s *Server) Listing() []record.Market {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.listing)
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	st := Stats{
		Clients: s.clientsNow.Load(), ClientsTotal: s.clientsTotal.Load(), SlowClosed: s.slowClosed.Load(),
		FramesSent: s.framesSent.Load(), Dumps: s.dumps.Load(), Replay: s.rep.Stats(),
	}
	select {
	case <-s.done:
		st.Done = true
	default:
	}
	return st
}

// tapEngine is the engine the replay drives: the books, plus the fan-out.
type tapEngine Server

func (t *tapEngine) FrameSink() venue.FrameSink {
	s := (*Server)(t)
	sink := s.app.FrameSink()
	return func(conn int64, frame []byte, recv int64) {
		s.mu.Lock()
		sink(conn, frame, recv)
		s.fanOut(conn, frame)
		s.mu.Unlock()
	}
}

func (t *tapEngine) InvalidateConn(id int64) { (*Server)(t).app.InvalidateConn(id) }

func (t *tapEngine) BeginMigration(ids []string, from int64) *engine.Migration {
	return (*Server)(t).app.BeginMigration(ids, from)
}

func (t *tapEngine) FinishMigration(m *engine.Migration) engine.MigrationResult {
	return (*Server)(t).app.FinishMigration(m)
}

func (t *tapEngine) AbortMigration(m *engine.Migration) engine.MigrationResult {
	return (*Server)(t).app.AbortMigration(m)
}

func (t *tapEngine) RollbackMigration(m *engine.Migration) engine.MigrationResult {
	return (*Server)(t).app.RollbackMigration(m)
}

func (t *tapEngine) DropBooks(ids []string) {
	s := (*Server)(t)
	s.mu.Lock()
	s.app.DropBooks(ids)
	s.mu.Unlock()
}

// onRecord follows who streams which asset and which markets are listed.
func (s *Server) onRecord(r *record.Record) {
	switch r.Kind {
	case record.KindListing:
		s.mu.Lock()
		s.listing = slices.Clone(r.Markets)
		for _, m := range r.Markets {
			for _, a := range m.AssetIDs {
				s.markets[a] = m.ConditionID
			}
		}
		s.mu.Unlock()
	case record.KindSubscribe, record.KindUnsubscribe:
		id := s.rep.ConnID(r.Conn)
		s.mu.Lock()
		s.owners.Apply(r, id)
		s.mu.Unlock()
	}
}

// msgHead is what the fan-out needs of a message.
type msgHead struct {
	AssetID      string            `json:"asset_id"`
	PriceChanges []json.RawMessage `json:"price_changes"`
}

type changeHead struct {
	AssetID string `json:"asset_id"`
}

// fanOut sends each client the part of frame (from engine conn) that
// concerns its assets. s.mu held.
func (s *Server) fanOut(conn int64, frame []byte) {
	if len(s.clients) == 0 {
		return
	}
	msgs := []json.RawMessage{frame}
	array := len(frame) > 0 && frame[0] == '['
	if array {
		if json.Unmarshal(frame, &msgs) != nil {
			return // a bad frame the venue sent: the engine counted it, clients never got it
		}
	} else if !json.Valid(frame) {
		return
	}
	out := map[*client][]json.RawMessage{}
	for _, m := range msgs {
		var h msgHead
		if json.Unmarshal(m, &h) != nil {
			continue
		}
		switch {
		case h.AssetID != "":
			if s.streams(h.AssetID, conn) {
				for c := range s.subs[h.AssetID] {
					out[c] = append(out[c], m)
				}
			}
		case len(h.PriceChanges) > 0:
			per := map[*client][]json.RawMessage{}
			for _, pc := range h.PriceChanges {
				var ch changeHead
				if json.Unmarshal(pc, &ch) != nil || !s.streams(ch.AssetID, conn) {
					continue
				}
				for c := range s.subs[ch.AssetID] {
					per[c] = append(per[c], pc)
				}
			}
			for c, pcs := range per {
				if len(pcs) == len(h.PriceChanges) {
					out[c] = append(out[c], m)
				} else if sub, ok := withChanges(m, pcs); ok {
					out[c] = append(out[c], sub)
				}
			}
		default: // a market-wide notice (new_market, market_resolved): every client
			for c := range s.clients {
				out[c] = append(out[c], m)
			}
		}
	}
	for c, ms := range out {
		c.send(encodeMsgs(ms, array))
		s.framesSent.Add(1)
	}
}

// streams reports whether conn is the recorded connection an asset is
// streamed from. s.mu held.
func (s *Server) streams(asset string, conn int64) bool { return s.owners.Streams(asset, conn) }

// withChanges is message m with only the price changes pcs.
func withChanges(m json.RawMessage, pcs []json.RawMessage) (json.RawMessage, bool) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(m, &obj) != nil {
		return nil, false
	}
	b, err := json.Marshal(pcs)
	if err != nil {
		return nil, false
	}
	obj["price_changes"] = b
	out, err := json.Marshal(obj)
	return out, err == nil
}

func encodeMsgs(ms []json.RawMessage, array bool) []byte {
	if len(ms) == 1 && !array {
		return slices.Clone(ms[0])
	}
	var b bytes.Buffer
	b.WriteByte('[')
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(m)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// subscribe adds assets to c and sends their dumps, read from the replay's
// books at this moment. Books the replay holds invalid get no dump: the
// recording's next snapshot serves them.
func (s *Server) subscribe(c *client, assets []string, dump bool) {
	s.holdOnce.Do(func() { close(s.hold) })
	s.mu.Lock()
	defer s.mu.Unlock()
	var dumps []json.RawMessage
	for _, a := range assets {
		if c.assets[a] {
			continue
		}
		c.assets[a] = true
		if s.subs[a] == nil {
			s.subs[a] = map[*client]struct{}{}
		}
		s.subs[a][c] = struct{}{}
		if !dump {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		v, ok, err := s.app.Book(ctx, a, 0)
		cancel()
		if err != nil || !ok || !v.Valid {
			continue
		}
		dumps = append(dumps, bookMessage(a, s.markets[a], v))
		s.dumps.Add(1)
	}
	if len(dumps) > 0 {
		c.send(encodeMsgs(dumps, true))
	}
}

func (s *Server) unsubscribe(c *client, assets []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range assets {
		delete(c.assets, a)
		delete(s.subs[a], c)
	}
}

// bookMessage renders a book as the venue does: bids ascending and asks
// descending, so the best of each side comes last.
func bookMessage(asset, market string, v engine.BookView) json.RawMessage {
	b := []byte(`{"event_type":"book","asset_id":`)
	b = strconv.AppendQuote(b, asset)
	b = append(b, `,"market":`...)
	b = strconv.AppendQuote(b, market)
	side := func(key string, ls []book.LevelView) {
		b = append(b, `,"`+key+`":[`...)
		for i := len(ls) - 1; i >= 0; i-- {
			if i < len(ls)-1 {
				b = append(b, ',')
			}
			b = append(b, `{"price":"`...)
			b = ls[i].Price.AppendText(b)
			b = append(b, `","size":"`...)
			b = ls[i].Size.AppendText(b)
			b = append(b, `"}`...)
		}
		b = append(b, ']')
	}
	side("bids", v.Bids)
	side("asks", v.Asks)
	if v.TickSize != 0 {
		b = append(b, `,"tick_size":"`...)
		b = v.TickSize.AppendText(b)
		b = append(b, '"')
	}
	b = append(b, `,"timestamp":"`...)
	b = strconv.AppendInt(b, v.UpdatedAtMS, 10)
	b = append(b, `","hash":"0000000000000000000000000000000000000000"}`...)
	return b
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
