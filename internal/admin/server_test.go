package admin_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/internal/admin"
)

func TestNewRejectsInvalidConfig(t *testing.T) {
	tests := []struct {
		name  string
		cfg   admin.Config
		field string
	}{
		{"addr without port", admin.Config{Addr: "127.0.0.1"}, "Addr"},
		{"negative read header timeout", admin.Config{ReadHeaderTimeout: -1}, "ReadHeaderTimeout"},
		{"negative read timeout", admin.Config{ReadTimeout: -time.Second}, "ReadTimeout"},
		{"negative write timeout", admin.Config{WriteTimeout: -time.Second}, "WriteTimeout"},
		{"negative idle timeout", admin.Config{IdleTimeout: -time.Second}, "IdleTimeout"},
		{"negative profile duration", admin.Config{MaxProfileDuration: -time.Second}, "MaxProfileDuration"},
		{"negative header bytes", admin.Config{MaxHeaderBytes: -1}, "MaxHeaderBytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := admin.New(tt.cfg)
			if err == nil || srv != nil {
				t.Fatalf("New(%+v) = %v, %v; want an error", tt.cfg, srv, err)
			}
			if !strings.HasPrefix(err.Error(), "cannot create admin server: ") || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("New error = %q; want it to name %s", err, tt.field)
			}
		})
	}
}

func TestLifecycle(t *testing.T) {
	srv, err := admin.New(admin.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.Addr(); got != "" {
		t.Errorf("Addr() before Start = %q; want empty", got)
	}
	ctx := context.Background()
	if err := srv.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	host, port, err := net.SplitHostPort(srv.Addr())
	if err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("Addr() = %q (%v); want 127.0.0.1 with the bound port", srv.Addr(), err)
	}
	if err := srv.Start(ctx); err == nil {
		t.Error("second Start succeeded; want an error")
	}
	tr := &http.Transport{}
	resp, err := (&http.Client{Transport: tr}).Get("http://" + srv.Addr() + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	tr.CloseIdleConnections()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz = %d; want 200", resp.StatusCode)
	}

	if err := srv.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := srv.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v; want nil", err)
	}
	if err := srv.Start(ctx); err == nil {
		t.Error("Start after Stop succeeded; want an error")
	}
	if _, err := net.Dial("tcp", srv.Addr()); err == nil {
		t.Error("the listener still accepts connections after Stop")
	}
	goleak.VerifyNone(t)
}

func TestStopBeforeStart(t *testing.T) {
	srv, err := admin.New(admin.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(context.Background()); err != nil {
		t.Fatalf("Stop before Start: %v", err)
	}
	if err := srv.Start(context.Background()); err == nil {
		t.Fatal("Start after Stop succeeded; want an error")
	}
}

func TestStartFailsOnBusyAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv, err := admin.New(admin.Config{Addr: ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	err = srv.Start(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "cannot start admin server: ") {
		t.Fatalf("Start on a busy address = %v; want a listen error", err)
	}
	if err := srv.Stop(context.Background()); err != nil {
		t.Errorf("Stop after a failed Start: %v", err)
	}
}

// blockingStats is a Stats function that blocks until released, to hold a request in flight.
type blockingStats struct {
	entered  chan struct{} // closed when the first call starts
	release  chan struct{} // close to let every call return
	once     sync.Once
	released atomic.Bool
}

func newBlockingStats() *blockingStats {
	return &blockingStats{entered: make(chan struct{}), release: make(chan struct{})}
}

func (b *blockingStats) stats() any {
	b.once.Do(func() { close(b.entered) })
	<-b.release
	return map[string]int{"events": 7}
}

func (b *blockingStats) unblock() {
	b.released.Store(true)
	close(b.release)
}

func TestStopIsGraceful(t *testing.T) {
	bs := newBlockingStats()
	srv, err := admin.New(admin.Config{Addr: "127.0.0.1:0", Stats: bs.stats})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()

	type result struct {
		status int
		body   string
		err    error
	}
	inFlight := make(chan result, 1)
	go func() {
		resp, err := (&http.Client{Transport: tr}).Get("http://" + addr + "/stats")
		if err != nil {
			inFlight <- result{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		inFlight <- result{resp.StatusCode, string(body), err}
	}()
	<-bs.entered

	stopped := make(chan error, 1)
	var releasedBeforeStop atomic.Bool
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		err := srv.Stop(ctx)
		releasedBeforeStop.Store(bs.released.Load())
		stopped <- err
	}()
	// Stop closes the listener first: new clients are refused while the request runs on.
	waitFor(t, "the listener to close", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	bs.unblock()

	r := <-inFlight
	if r.err != nil || r.status != http.StatusOK || strings.TrimSpace(r.body) != `{"events":7}` {
		t.Fatalf("in-flight request during Stop = %d %q %v; want 200 {\"events\":7}", r.status, r.body, r.err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if !releasedBeforeStop.Load() {
		t.Fatal("Stop returned while a request was still in flight")
	}
	tr.CloseIdleConnections()
	goleak.VerifyNone(t)
}

func TestStopForcesCloseWhenContextEnds(t *testing.T) {
	bs := newBlockingStats()
	srv, err := admin.New(admin.Config{Addr: "127.0.0.1:0", Stats: bs.stats})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	clientErr := make(chan error, 1)
	go func() {
		resp, err := (&http.Client{Transport: tr}).Get("http://" + srv.Addr() + "/stats")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		clientErr <- err
	}()
	<-bs.entered

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no patience at all: Stop must close the busy connection and return
	err = srv.Stop(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop with a done context = %v; want context.Canceled", err)
	}
	if err := <-clientErr; err == nil {
		t.Fatal("the in-flight request completed; want its connection closed by Stop")
	}
	// The engine's callback is not interrupted: it ends on its own, and then nothing is left.
	bs.unblock()
	goleak.VerifyNone(t)
}

func TestAddrWarning(t *testing.T) {
	tests := []struct {
		addr string
		warn bool
	}{
		{"127.0.0.1:0", false},
		{"localhost:0", false},
		{"0.0.0.0:0", true},
		{":0", true},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			logs := &logBuffer{}
			h := start(t, admin.Config{Addr: tt.addr, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
			h.get("/healthz").wantJSON(t, http.StatusOK)
			const msg = "admin server listens beyond loopback: stats, books and pprof are reachable from the network"
			got := len(logs.records(t, msg))
			if want := map[bool]int{false: 0, true: 1}[tt.warn]; got != want {
				t.Errorf("Start(%q) logged the non-loopback warning %d times; want %d", tt.addr, got, want)
			}
		})
	}
}

// A client that sends its headers a byte at a time is cut off once ReadHeaderTimeout has
// passed, however steadily it trickles.
func TestSlowLorisIsCutOff(t *testing.T) {
	// ReadTimeout (which would also bound the headers) is far beyond the read deadline below,
	// so only ReadHeaderTimeout can cut this client off in time.
	h := start(t, admin.Config{ReadHeaderTimeout: 100 * time.Millisecond, ReadTimeout: time.Minute})
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the slow client: one header byte every 10 ms, never the final CRLF
		defer wg.Done()
		if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: admin\r\nX-Slow: "); err != nil {
			return
		}
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte("a")); err != nil {
					return
				}
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	// A generous bound that only a server without a header timeout reaches.
	if err := conn.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server kept a slow-header client connected for 20 s")
	}
	if n != 0 {
		t.Errorf("the server answered %d bytes to an incomplete request; want the connection closed", n)
	}
	// The server still serves well-behaved clients.
	h.get("/healthz").wantJSON(t, http.StatusOK)
}

// A response that cannot be written within WriteTimeout is abandoned: the connection closes.
func TestWriteTimeoutCutsSlowResponse(t *testing.T) {
	const timeout = 50 * time.Millisecond
	h := start(t, admin.Config{
		WriteTimeout: timeout,
		Stats: func() any {
			<-time.After(4 * timeout) // the write deadline has certainly passed when this returns
			return "late"
		},
	})
	resp, err := h.client.Get(h.base + "/stats")
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("GET /stats past WriteTimeout = %d %q; want the connection closed", resp.StatusCode, body)
	}
}

func TestUnknownPathAndMethodAreJSON(t *testing.T) {
	h := start(t, admin.Config{Stats: func() any { return 1 }, Book: func(string) (book.View, bool, error) { return book.View{}, false, nil }})
	for _, path := range []string{"/nope", "/stats/extra", "/books/1/levels", "/metrics", "/debug/pprof/"} {
		m := h.get(path).wantJSON(t, http.StatusNotFound)
		if msg, _ := m["error"].(string); !strings.Contains(msg, "no such endpoint") {
			t.Errorf("GET %s error = %q; want it to say no such endpoint", path, msg)
		}
	}
	for _, path := range []string{"/", "/stats", "/healthz", "/readyz", "/books/1"} {
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
			r := h.do(method, path)
			m := r.wantJSON(t, http.StatusMethodNotAllowed)
			if allow := r.header.Get("Allow"); allow != "GET, HEAD" {
				t.Errorf("%s %s Allow = %q; want \"GET, HEAD\"", method, path, allow)
			}
			if msg, _ := m["error"].(string); !strings.Contains(msg, "not allowed") {
				t.Errorf("%s %s error = %q; want it to say not allowed", method, path, msg)
			}
		}
	}
	if r := h.do(http.MethodHead, "/healthz"); r.status != http.StatusOK || len(r.body) != 0 {
		t.Errorf("HEAD /healthz = %d with %d body bytes; want 200 and no body", r.status, len(r.body))
	}
}

func TestIndexListsEnabledRoutes(t *testing.T) {
	tests := []struct {
		name string
		cfg  admin.Config
		want []string
	}{
		{"minimal", admin.Config{}, []string{"/healthz", "/readyz"}},
		{"everything", admin.Config{
			Stats:       func() any { return nil },
			Book:        func(string) (book.View, bool, error) { return book.View{}, false, nil },
			Gatherer:    prometheusRegistry(t),
			EnablePprof: true,
		}, []string{"/healthz", "/readyz", "/stats", "/metrics", "/books/{asset_id}", "/debug/pprof/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, tt.cfg)
			m := h.get("/").wantJSON(t, http.StatusOK)
			eps, _ := m["endpoints"].([]any)
			var got []string
			for _, e := range eps {
				ep, _ := e.(map[string]any)
				p, _ := ep["path"].(string)
				if d, _ := ep["description"].(string); d == "" {
					t.Errorf("endpoint %q has no description", p)
				}
				got = append(got, p)
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("index paths = %v; want %v", got, tt.want)
			}
		})
	}
}

// Many clients at once: the Config functions are called concurrently (run with -race).
func TestConcurrentRequests(t *testing.T) {
	var calls atomic.Int64
	h := start(t, admin.Config{
		Stats:   func() any { calls.Add(1); return map[string]int64{"n": 1} },
		Healthy: func() (bool, string) { calls.Add(1); return true, "" },
		Book: func(id string) (book.View, bool, error) {
			calls.Add(1)
			return sampleBook(id), true, nil
		},
	})
	const clients, each = 8, 20
	var wg sync.WaitGroup
	errs := make(chan string, clients*each)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				path := []string{"/stats", "/healthz", "/books/123?depth=1"}[i%3]
				resp, err := h.client.Get(h.base + path)
				if err != nil {
					errs <- err.Error()
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs <- path + ": " + resp.Status
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if got := calls.Load(); got != clients*each {
		t.Errorf("Config functions called %d times; want %d", got, clients*each)
	}
}
