// Package natsd runs the NATS server with JetStream inside the polyfeed
// process, so that `polyfeed --sim` serves the stream with nothing else
// installed.
//
// The server turns JetStream off when its disk is full; Server turns it
// back on once the disk has room again (keep.go), so the stream recovers
// without a restart.
//
// Concurrency: Start and Stop are called once each by the owner; Conn,
// LocalConn, ClientURL and Stats may be called from any goroutine after Start.
package natsd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Defaults.
const (
	DefaultListen  = "127.0.0.1:4222"
	DefaultDataDir = "polyfeed-data"
	readyTimeout   = 10 * time.Second
)

// Config configures the embedded server.
type Config struct {
	// Listen is the client listener, host:port (port 0 picks a free one).
	// Empty: no listener, in-process connections only.
	Listen string
	// DataDir holds JetStream's file storage (created if missing).
	// Ignored with Memory.
	DataDir string
	// Memory keeps JetStream state in memory only: a temporary directory
	// holds the server's metadata and is removed at Stop.
	Memory bool
	// Logger receives the server's warnings and errors (its notices at
	// debug level). Default slog.Default().
	Logger *slog.Logger
}

// Server is one embedded nats-server.
type Server struct {
	cfg    Config
	srv    *server.Server
	tmpDir string

	keep     keeper
	stopKeep chan struct{}
	kept     sync.WaitGroup
}

// New validates cfg. Nothing runs until Start.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if !cfg.Memory && cfg.DataDir == "" {
		return nil, errors.New("cannot configure NATS server: no data dir")
	}
	if cfg.Listen != "" {
		if _, _, err := hostPort(cfg.Listen); err != nil {
			return nil, fmt.Errorf("cannot configure NATS server: %w", err)
		}
	}
	return &Server{cfg: cfg}, nil
}

func hostPort(addr string) (string, int, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("invalid listen address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("invalid listen port in %q", addr)
	}
	return h, port, nil
}

// Start starts the server and waits until it takes connections.
func (s *Server) Start(ctx context.Context) error {
	opts := &server.Options{
		ServerName: "polyfeed",
		JetStream:  true,
		NoSigs:     true,
		DontListen: s.cfg.Listen == "",
	}
	if s.cfg.Listen != "" {
		opts.Host, opts.Port, _ = hostPort(s.cfg.Listen)
		if opts.Port == 0 {
			opts.Port = server.RANDOM_PORT
		} else {
			// The server only logs a listen failure and then never gets
			// ready; probing first turns a taken port into a clear error.
			ln, err := net.Listen("tcp", s.cfg.Listen)
			if err != nil {
				return fmt.Errorf("cannot start NATS server: %w", err)
			}
			ln.Close()
		}
	}
	dir := s.cfg.DataDir
	if s.cfg.Memory {
		tmp, err := os.MkdirTemp("", "polyfeed-nats-")
		if err != nil {
			return fmt.Errorf("cannot create NATS temp dir: %w", err)
		}
		s.tmpDir, dir = tmp, tmp
	} else if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("cannot create NATS data dir: %w", err)
	}
	opts.StoreDir = dir
	srv, err := server.NewServer(opts)
	if err != nil {
		s.cleanup()
		return fmt.Errorf("cannot create NATS server: %w", err)
	}
	srv.SetLoggerV2(slogLogger{l: s.cfg.Logger.With("component", "nats-server"), keep: &s.keep}, false, false, false)
	srv.Start()
	wait := readyTimeout
	if d, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(d))
	}
	if !srv.ReadyForConnections(wait) {
		srv.Shutdown()
		srv.WaitForShutdown()
		s.cleanup()
		return fmt.Errorf("cannot start NATS server: not ready after %v (is %s taken?)", wait, s.cfg.Listen)
	}
	s.srv = srv
	s.stopKeep = make(chan struct{})
	s.kept.Add(1)
	go func() {
		defer s.kept.Done()
		s.keepJetStream(srv, opts, s.stopKeep)
	}()
	return nil
}

// Stop shuts the server down and waits for it.
func (s *Server) Stop(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	if s.stopKeep != nil {
		close(s.stopKeep)
		s.kept.Wait()
		s.stopKeep = nil
	}
	done := make(chan struct{})
	go func() {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("cannot stop NATS server: %w", ctx.Err())
	}
	s.cleanup()
	return nil
}

func (s *Server) cleanup() {
	if s.tmpDir != "" {
		_ = os.RemoveAll(s.tmpDir)
		s.tmpDir = ""
	}
}

// ClientURL is nats://host:port of the listener, or "" without one.
func (s *Server) ClientURL() string {
	if s.cfg.Listen == "" || s.srv == nil {
		return ""
	}
	return s.srv.ClientURL()
}

// Conn connects a client: over the listener when there is one (so the
// client reconnects to a restarted server on the same address), else
// in-process.
func (s *Server) Conn(opts ...nats.Option) (*nats.Conn, error) {
	if u := s.ClientURL(); u != "" {
		return nats.Connect(u, opts...)
	}
	return s.LocalConn(opts...)
}

// LocalConn connects a client in-process even when there is a listener: its
// messages cross a pipe inside the process instead of loopback TCP, so
// neither side makes a system call or a network-poller wake-up per write.
// Its reconnects go to this Server's current nats-server, so it is for a
// client that lives no longer than the Server (polyfeed's own publisher);
// a client that must follow a server restarted on the same address uses
// Conn.
func (s *Server) LocalConn(opts ...nats.Option) (*nats.Conn, error) {
	return nats.Connect("", append(opts, nats.InProcessServer(s.srv))...)
}

// slogLogger adapts slog to the server's logger. The server's notices
// (banner, config) go to debug: polyfeed logs what matters itself. It also
// tells the keeper when a stream reports a critical write error, which the
// server makes known nowhere else (keep.go).
type slogLogger struct {
	l    *slog.Logger
	keep *keeper
}

func (g slogLogger) Noticef(format string, v ...any) { g.l.Debug(fmt.Sprintf(format, v...)) }
func (g slogLogger) Warnf(format string, v ...any)   { g.l.Warn(fmt.Sprintf(format, v...)) }
func (g slogLogger) Fatalf(format string, v ...any)  { g.l.Error(fmt.Sprintf(format, v...)) }
func (g slogLogger) Debugf(format string, v ...any)  { g.l.Debug(fmt.Sprintf(format, v...)) }
func (g slogLogger) Tracef(format string, v ...any)  { g.l.Debug(fmt.Sprintf(format, v...)) }

func (g slogLogger) Errorf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if g.keep != nil && strings.Contains(strings.ToLower(msg), "critical write error") {
		g.keep.wedged.Store(true)
	}
	g.l.Error(msg)
}
