package natsd

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/internal/streamtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, streamtest.IgnoreServerGoroutines()) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestServer: each mode starts a server that takes clients and has
// JetStream, and stops cleanly.
func TestServer(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"listener and files", Config{Listen: "127.0.0.1:0", DataDir: t.TempDir()}},
		{"in-process memory", Config{Memory: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Logger = quiet()
			s, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := s.Start(ctx); err != nil {
				t.Fatal(err)
			}
			if u := s.ClientURL(); (tc.cfg.Listen != "") != strings.HasPrefix(u, "nats://127.0.0.1:") {
				t.Errorf("ClientURL() = %q with listen %q", u, tc.cfg.Listen)
			}
			nc, err := s.Conn()
			if err != nil {
				t.Fatal(err)
			}
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if _, err := js.AccountInfo(cctx); err != nil {
				t.Errorf("JetStream not enabled: %v", err)
			}
			nc.Close()
			tmp := s.tmpDir
			if err := s.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			if tmp != "" {
				if _, err := os.Stat(tmp); !os.IsNotExist(err) {
					t.Errorf("memory mode left %s behind", tmp)
				}
			}
			if err := s.Stop(ctx); err != nil { // idempotent
				t.Fatal(err)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	for _, cfg := range []Config{
		{Listen: "4222", DataDir: "x"},
		{Listen: "127.0.0.1:99999", DataDir: "x"},
		{Listen: "127.0.0.1:0"}, // no data dir, not memory
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) = nil error; want one", cfg)
		}
	}
}

// TestPortTaken: a second server on the same address fails to start with
// an error, and leaves nothing running.
func TestPortTaken(t *testing.T) {
	ctx := context.Background()
	a, _ := New(Config{Listen: "127.0.0.1:0", Memory: true, Logger: quiet()})
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer a.Stop(ctx)
	addr := strings.TrimPrefix(a.ClientURL(), "nats://")
	b, _ := New(Config{Listen: addr, Memory: true, Logger: quiet()})
	if err := b.Start(ctx); err == nil {
		b.Stop(ctx)
		t.Fatalf("second server on %s started; want an error", addr)
	}
}

// TestLocalConnBesideTheListener: with a listener, LocalConn still connects
// over the in-process pipe (the server sees no TCP peer), and messages flow
// both ways between it and a client on the listener.
func TestLocalConnBesideTheListener(t *testing.T) {
	s, err := New(Config{Listen: "127.0.0.1:0", Memory: true, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Stop(ctx); err != nil {
			t.Error(err)
		}
	}()
	local, err := s.LocalConn(nats.Name("local"))
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	remote, err := s.Conn(nats.Name("remote"))
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()

	sub, err := remote.SubscribeSync("x")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := local.Publish("x", []byte("from local")); err != nil {
		t.Fatal(err)
	}
	if m, err := sub.NextMsg(5 * time.Second); err != nil || string(m.Data) != "from local" {
		t.Fatalf("remote got %v, %v; want the local message", m, err)
	}

	cz, err := s.srv.Connz(&server.ConnzOptions{})
	if err != nil {
		t.Fatal(err)
	}
	peers := map[string]string{}
	for _, c := range cz.Conns {
		peers[c.Name] = c.IP
	}
	if ip, ok := peers["local"]; !ok || ip != "" {
		t.Errorf("local client: listed %v, peer %q; want an in-process client with no peer address", ok, ip)
	}
	if ip := peers["remote"]; ip != "127.0.0.1" {
		t.Errorf("remote client peer %q, want 127.0.0.1 (over the listener)", ip)
	}
}
