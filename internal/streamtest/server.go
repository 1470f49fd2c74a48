// Package streamtest is test support for the polyfeed stream (wire contract v1): an
// in-process nats-server with JetStream, the two streams created exactly as the
// contract lays them out, and a small publisher of hand-built contract messages that
// keeps the true books. It is written from the contract text, not from package
// stream, so the consumer's tests check one reading of the contract against another.
//
// Everything here is for tests: a Server and a Publisher are used by one test
// goroutine at a time.
package streamtest

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
)

// Server is an in-process nats-server with JetStream on a random loopback port and a
// file store in a test's temporary directory. Restart keeps the port and the store.
type Server struct {
	t    testing.TB
	dir  string
	port int
	srv  *server.Server
}

// StartServer starts a server and stops it when the test ends.
func StartServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, dir: t.TempDir(), port: -1}
	s.start()
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start() {
	s.t.Helper()
	opts := &server.Options{
		ServerName: "streamtest",
		Host:       "127.0.0.1",
		Port:       s.port,
		JetStream:  true,
		StoreDir:   s.dir,
		NoLog:      true,
		NoSigs:     true,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		s.t.Fatalf("cannot create nats-server: %v", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		s.t.Fatalf("nats-server not ready")
	}
	s.srv = srv
	s.port = srv.Addr().(*net.TCPAddr).Port
}

// URL is the client URL.
func (s *Server) URL() string { return s.srv.ClientURL() }

// Stop shuts the server down and waits for it. It is safe to call twice.
func (s *Server) Stop() {
	if s.srv == nil {
		return
	}
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
	s.srv = nil
}

// Restart stops the server and starts a new one on the same port and store.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// Connect returns a client connection that reconnects forever, closed when the test
// ends.
func (s *Server) Connect(t testing.TB) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
		nats.Timeout(2*time.Second))
	if err != nil {
		t.Fatalf("cannot connect to nats-server: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// CreateStreams creates the contract's two streams for prefix: <PREFIX>_EVENTS owning
// <prefix>.v1.> with a bounded age (10 min) and size, and <PREFIX>_BOOKS owning no
// subject, sourcing <prefix>.v1.book.> from it, one message per subject, direct get
// allowed, max age 1 h.
func CreateStreams(t testing.TB, nc *nats.Conn, prefix string) (events, books jetstream.Stream) {
	t.Helper()
	return CreateReplicatedStreams(t, nc, prefix, 1)
}

// CreateReplicatedStreams is CreateStreams with both streams kept on replicas
// servers of a cluster.
func CreateReplicatedStreams(t testing.TB, nc *nats.Conn, prefix string, replicas int) (events, books jetstream.Stream) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	up := strings.ToUpper(prefix)
	events, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name:        up + "_EVENTS",
		Subjects:    []string{prefix + ".v1.>"},
		MaxAge:      10 * time.Minute,
		MaxBytes:    1 << 30,
		Storage:     jetstream.FileStorage,
		Duplicates:  2 * time.Minute,
		AllowDirect: true,
		Replicas:    replicas,
	})
	if err != nil {
		t.Fatalf("cannot create events stream: %v", err)
	}
	books, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name:              up + "_BOOKS",
		Sources:           []*jetstream.StreamSource{{Name: up + "_EVENTS", FilterSubject: prefix + ".v1.book.>"}},
		MaxMsgsPerSubject: 1,
		AllowDirect:       true,
		MaxAge:            time.Hour,
		Storage:           jetstream.FileStorage,
		Replicas:          replicas,
	})
	if err != nil {
		t.Fatalf("cannot create books stream: %v", err)
	}
	return events, books
}

// IgnoreServerGoroutines is the goleak option for the one goroutine nats-server may
// leave behind after Shutdown: a stream source's consumer setup waits up to 30 s for
// its reply without watching for shutdown (nats-server v2.15, server/stream.go).
func IgnoreServerGoroutines() goleak.Option {
	return goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*stream).trySetupSourceConsumer.func3")
}
