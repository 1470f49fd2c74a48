package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// Server is the admin HTTP server. Create it with New; it must not be copied.
type Server struct {
	cfg      Config
	log      *slog.Logger
	handler  http.Handler // routes wrapped in panic recovery
	routes   []route      // enabled routes, for the index
	draining atomic.Bool  // set when Stop begins: /readyz answers 503 from then on

	mu      sync.Mutex // guards the lifecycle fields below
	srv     *http.Server
	addr    string
	started bool
	stopped bool
	done    chan struct{} // closed when the serve goroutine has returned
	halted  chan struct{} // closed when the first Stop has finished
}

// New validates cfg, fills its defaults and builds the routes. It does not listen.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("cannot create admin server: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, halted: make(chan struct{})}
	s.handler = s.recoverPanics(s.newMux())
	return s, nil
}

// Start listens on Config.Addr and serves in a goroutine the Server owns until Stop. ctx
// bounds the listen only. Start may be called once.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.stopped {
		return errors.New("cannot start admin server: already started or stopped")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("cannot start admin server: %w", err)
	}
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.addr = ln.Addr().String()
	s.started = true
	s.done = make(chan struct{})
	if !isLoopback(s.cfg.Addr) {
		s.log.Warn("admin server listens beyond loopback: stats, books and pprof are reachable from the network",
			"addr", s.addr)
	}
	s.log.Info("admin server started", "addr", s.addr, "pprof", s.cfg.EnablePprof)
	go s.serve(s.srv, ln, s.done)
	return nil
}

// serve runs the HTTP server until Shutdown or Close; Stop waits for it.
func (s *Server) serve(srv *http.Server, ln net.Listener, done chan<- struct{}) {
	defer close(done)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Error("admin server stopped serving", "addr", s.addr, "err", err)
	}
}

// Addr returns the bound address ("127.0.0.1:41234") once Start succeeded, else "".
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Stop stops accepting connections, reports not ready, and waits for in-flight requests to
// finish until ctx is done; then it closes every remaining connection and waits for the serve
// goroutine. It returns ctx's error if the graceful part was cut short. Stop before Start
// returns nil and makes a later Start fail; a second Stop waits (bounded by its ctx) for the
// first to finish and returns nil.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	if !s.started {
		s.stopped = true
		s.mu.Unlock()
		return nil
	}
	if s.stopped {
		s.mu.Unlock()
		select {
		case <-s.halted:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("cannot wait for admin server to stop: %w", ctx.Err())
		}
	}
	s.stopped = true
	srv, done := s.srv, s.done
	s.mu.Unlock()
	defer close(s.halted)

	s.draining.Store(true)
	err := srv.Shutdown(ctx)
	// Close after Shutdown: a no-op when Shutdown finished, else it cuts the connections
	// still busy once ctx expired.
	if cerr := srv.Close(); err == nil {
		err = cerr
	}
	<-done
	if err != nil {
		return fmt.Errorf("cannot stop admin server gracefully: %w", err)
	}
	s.log.Info("admin server stopped", "addr", s.Addr())
	return nil
}
