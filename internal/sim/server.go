package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// Server is one simulated venue: Gamma REST, the WS market channel and /sim/ control
// endpoints on one listener. Create with New, then Start; Stop releases everything.
type Server struct {
	cfg      Config
	seed     uint64
	upgrader *gws.Upgrader

	faultsPtr atomic.Pointer[Faults] // read by Gamma handlers and socket readers

	// mu serialises the generator, subscription changes and truth reads: a subscriber's
	// snapshot and the live stream after it are cut at the same point.
	mu                             sync.Mutex
	tickNo, nowMs, epochMs, tickMs int64
	ratePerTickMilli, rateAcc      int64
	budget                         int64
	churnUs, nextChurnUs           int64
	markets                        []*market // ascending id
	tokens                         map[string]*token
	live                           []*market // open markets with a book, generating events
	expiry                         []*market // ascending end date
	expHead                        int
	nextID                         int64
	sched, churnRNG                rng
	buf, snapBuf                   []byte
	cur                            msg
	scratch                        [2][]Level
	oversized                      []byte
	touched                        []*socket
	sockets                        map[int64]*socket
	nextSockID                     int64
	faults                         Faults
	paused, stopping, started      bool
	anchorWall                     time.Time
	anchorTick                     int64
	generated, sent                [numKinds]uint64
	injected                       [numInjections]uint64
	dropped, snapSkipped, oneSided uint64
	subscriptions                  int

	connsTotal, slowCloses, faultCloses, bytesWritten atomic.Uint64
	gammaRequests, gamma429, gamma5xx, gammaHangs     atomic.Uint64
	gammaGarbage, gammaEmpty, gammaCuts, gammaShifts  atomic.Uint64
	gammaNoKeyset                                     atomic.Uint64

	gmu      sync.Mutex // guards grng
	grng     rng
	ln       net.Listener
	http     *http.Server
	quit     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// New builds the market universe from cfg (deterministic in cfg.Seed). It does not listen.
func New(cfg Config) (*Server, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		seed:    uint64(cfg.Seed),
		tokens:  make(map[string]*token, 2*cfg.Markets),
		sockets: make(map[int64]*socket),
		quit:    make(chan struct{}),
		nextID:  1_500_000,
		epochMs: cfg.Epoch.UnixMilli(),
		tickMs:  cfg.Tick.Milliseconds(),
	}
	s.sched = newRNG(s.seed, 1<<62)
	s.churnRNG = newRNG(s.seed, 1<<62+1)
	s.grng = newRNG(s.seed, 1<<62+2)
	s.nowMs = s.epochMs
	s.ratePerTickMilli = int64(math.Round(cfg.Rate * float64(s.tickMs)))
	f := cfg.Faults
	s.faults = f
	s.faultsPtr.Store(&f)
	if cfg.ChurnPerMinute > 0 {
		s.churnUs = max(int64(60e6/cfg.ChurnPerMinute), 1)
		s.nextChurnUs = s.epochMs*1000 + s.churnUs
	}
	// End dates: with churn, the initial markets expire one per churn interval in a seeded
	// order, so the universe keeps its size; without churn they lie weeks ahead.
	ends := make([]int64, cfg.Markets)
	for j := range ends {
		if s.churnUs > 0 {
			ends[j] = (s.epochMs*1000 + int64(j+1)*s.churnUs) / 1000
		} else {
			ends[j] = s.epochMs + int64(30*24*time.Hour/time.Millisecond) + int64(j)*60_000
		}
	}
	order := make([]int, cfg.Markets)
	for i := range order {
		order[i] = i
	}
	if s.churnUs > 0 {
		for i := len(order) - 1; i > 0; i-- {
			k := s.churnRNG.intn(i + 1)
			order[i], order[k] = order[k], order[i]
		}
	}
	for i := 0; i < cfg.Markets; i++ {
		s.addMarketLocked(s.epochMs-int64(cfg.Markets-i)*1000, ends[order[i]])
	}
	sortByEnd(s.expiry)
	s.upgrader = gws.NewUpgrader(wsHandler{s}, &gws.ServerOption{
		ReadMaxPayloadSize: 16 << 20, // subscribe messages of thousands of ids
		Logger:             gwsLogger{},
	})
	return s, nil
}

// Start listens on cfg.Addr and starts serving and (unless Manual) generating.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("cannot start simulator: already started")
	}
	s.started = true
	s.mu.Unlock()
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	s.http = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	s.anchorWall, s.anchorTick = time.Now(), s.tickNo
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Logger.Error("simulator http server stopped", "err", err)
		}
	}()
	if !s.cfg.Manual {
		s.wg.Add(1)
		go s.drive()
	}
	s.cfg.Logger.Info("simulator started", "addr", ln.Addr().String(), "markets", s.cfg.Markets, "rate", s.cfg.Rate)
	return nil
}

// Stop closes every socket and the listener and waits for every goroutine. Idempotent.
func (s *Server) Stop(ctx context.Context) error {
	var err error
	s.stopOnce.Do(func() {
		close(s.quit)
		s.mu.Lock()
		s.stopping = true
		socks := make([]*socket, 0, len(s.sockets))
		for _, sk := range s.sockets {
			socks = append(socks, sk)
		}
		s.mu.Unlock()
		if s.http != nil {
			err = s.http.Shutdown(ctx)
		}
		for _, sk := range socks {
			sk.kill()
		}
		done := make(chan struct{})
		go func() { s.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			err = errors.Join(err, fmt.Errorf("cannot stop simulator: %w", ctx.Err()))
		}
	})
	return err
}

// drive runs ticks on the wall clock: tick k is due Tick*k after the anchor. A late wake-up
// catches up (at most 50 ticks per wake) instead of skipping, so the sequence never depends
// on timing.
func (s *Server) drive() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case now := <-t.C:
			for k := 0; k < 50; k++ {
				s.mu.Lock()
				due := s.anchorTick + int64(now.Sub(s.anchorWall)/s.cfg.Tick)
				if s.paused || s.tickNo >= due {
					s.mu.Unlock()
					break
				}
				s.tickLocked()
				s.mu.Unlock()
			}
		}
	}
}

// Addr is the listen address (host:port), valid after Start.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the HTTP base, also the Gamma base: http://ADDR.
func (s *Server) URL() string { return "http://" + s.Addr() }

// GammaURL is the Gamma base URL (same as URL).
func (s *Server) GammaURL() string { return s.URL() }

// WSURL is the market channel URL: ws://ADDR/ws/market.
func (s *Server) WSURL() string { return "ws://" + s.Addr() + "/ws/market" }

// Step generates n ticks synchronously (any mode). Delivery to sockets is asynchronous;
// Pause waits for it.
func (s *Server) Step(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ; n > 0; n-- {
		s.tickLocked()
	}
}

// Pause stops generation and returns once every socket is quiescent: every message
// generated so far has been written to the socket's TCP connection, or dropped because the
// socket is stalled (fault) or closed. A socket whose write cannot finish within
// WriteTimeout is closed by the write deadline, so Pause returns within about WriteTimeout.
func (s *Server) Pause() {
	s.mu.Lock()
	s.paused = true
	socks := make([]*socket, 0, len(s.sockets))
	for _, sk := range s.sockets {
		socks = append(socks, sk)
	}
	s.mu.Unlock()
	deadline := time.Now().Add(s.cfg.WriteTimeout + time.Second)
	for _, sk := range socks {
		for !sk.quiescent() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
}

// Resume restarts generation. The wall-clock driver is re-anchored, so a pause does not
// cause a burst; virtual time then lags wall time by the paused duration.
func (s *Server) Resume() {
	s.mu.Lock()
	s.paused = false
	s.anchorWall, s.anchorTick = time.Now(), s.tickNo
	s.mu.Unlock()
}

// SetFaults replaces the injected faults at run time. Socket-level faults chosen at open
// (close, stall) apply to sockets opened afterwards; frame and Gamma faults apply at once.
func (s *Server) SetFaults(f Faults) error {
	if err := f.fill(); err != nil {
		return err
	}
	s.faultsPtr.Store(&f)
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
	return nil
}

// Faults returns the current faults.
func (s *Server) Faults() Faults { return *s.faultsPtr.Load() }

// CloseSockets closes every open socket now with code (1006: TCP dropped without a close
// frame) and returns how many it closed.
func (s *Server) CloseSockets(code int) (int, error) {
	switch code {
	case 1000, 1001, 1006, 1008, 1011:
	default:
		return 0, fmt.Errorf("cannot close sockets: code %d not one of 1000, 1001, 1006, 1008, 1011", code)
	}
	s.mu.Lock()
	socks := make([]*socket, 0, len(s.sockets))
	for _, sk := range s.sockets {
		socks = append(socks, sk)
	}
	s.mu.Unlock()
	for _, sk := range socks {
		sk.requestClose(code, "simulated close")
	}
	s.faultCloses.Add(uint64(len(socks)))
	return len(socks), nil
}

// Book returns the simulator's book of assetID, best level first on each side.
func (s *Server) Book(assetID string) (Book, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[assetID]
	if !ok || !t.m.enableBook {
		return Book{}, false
	}
	return Book{
		AssetID: t.id, Market: t.m.conditionID,
		Bids:     t.book.bestFirst(sideBid, []Level{}),
		Asks:     t.book.bestFirst(sideAsk, []Level{}),
		TickSize: t.m.tick, Timestamp: s.nowMs, Closed: t.m.closed,
	}, true
}

// Markets returns every market, open and closed, in ascending id order.
func (s *Server) Markets() []Market {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Market, len(s.markets))
	for i, m := range s.markets {
		out[i] = m.export()
	}
	return out
}

// Now returns the virtual clock (the timestamp of the last generated tick).
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.UnixMilli(s.nowMs).UTC()
}

// gwsLogger keeps gws quiet: connection errors are counted, not logged per event.
type gwsLogger struct{}

func (gwsLogger) Error(...any) {}
