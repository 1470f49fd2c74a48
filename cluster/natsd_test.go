package cluster

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/internal/poll"
	"github.com/polyfeed/polyfeed/internal/streamtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, streamtest.IgnoreServerGoroutines())
}

// natsd is a real nats-server with JetStream, in process, on 127.0.0.1. It
// can be shut down and started again on the same port and store, like a
// restarted process.
type natsd struct {
	t    testing.TB
	opts server.Options
	s    *server.Server
}

func (d *natsd) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", d.opts.Port) }

func (d *natsd) start() {
	d.t.Helper()
	opts := d.opts // NewServer keeps and edits the options
	s, err := server.NewServer(&opts)
	if err != nil {
		d.t.Fatalf("cannot create nats-server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		d.t.Fatalf("nats-server %s not ready", d.url())
	}
	d.s = s
}

func (d *natsd) shutdown() {
	if d.s != nil {
		d.s.Shutdown()
		d.s.WaitForShutdown()
		d.s = nil
	}
}

func baseOptions(t testing.TB, name string) server.Options {
	return server.Options{
		ServerName: name,
		Host:       "127.0.0.1",
		Port:       streamtest.FreePort(t),
		JetStream:  true,
		StoreDir:   filepath.Join(t.TempDir(), name),
		NoLog:      true,
		NoSigs:     true,
	}
}

// runNATS starts one server with JetStream; it is shut down at cleanup.
func runNATS(t testing.TB) *natsd {
	d := &natsd{t: t, opts: baseOptions(t, "solo")}
	d.start()
	t.Cleanup(d.shutdown)
	return d
}

// runNATSCluster starts n servers routed into one cluster with JetStream and
// waits until JetStream has a meta leader, so R3 buckets can be created.
func runNATSCluster(t testing.TB, n int) []*natsd {
	ds := make([]*natsd, n)
	routePorts := make([]int, n)
	for i := range ds {
		routePorts[i] = streamtest.FreePort(t)
	}
	var routes []*url.URL
	for _, p := range routePorts {
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	for i := range ds {
		opts := baseOptions(t, fmt.Sprintf("n%d", i))
		opts.Cluster = server.ClusterOpts{Name: "polyfeed-test", Host: "127.0.0.1", Port: routePorts[i]}
		opts.Routes = routes
		ds[i] = &natsd{t: t, opts: opts}
		ds[i].start()
		t.Cleanup(ds[i].shutdown)
	}
	checkFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		for _, d := range ds {
			if d.s == nil {
				continue
			}
			if !d.s.JetStreamIsClustered() || d.s.JetStreamIsCurrent() == false {
				return fmt.Errorf("%s: JetStream not current", d.opts.ServerName)
			}
			if d.s.NumRoutes() < n-1 {
				return fmt.Errorf("%s: %d routes", d.opts.ServerName, d.s.NumRoutes())
			}
		}
		return nil
	})
	return ds
}

func urls(ds []*natsd) string {
	var us []string
	for _, d := range ds {
		us = append(us, d.url())
	}
	return strings.Join(us, ",")
}

// connect opens a client that reconnects forever and quickly, closed at
// cleanup.
func connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	return connectWait(t, url, 50*time.Millisecond)
}

// connectWait is connect with the given reconnect wait.
func connectWait(t testing.TB, url string, wait time.Duration) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url,
		nats.MaxReconnects(-1),
		nats.ReconnectWait(wait),
		nats.ReconnectJitter(0, 0),
		nats.RetryOnFailedConnect(false),
	)
	if err != nil {
		t.Fatalf("cannot connect to %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

var errNotYet = errors.New("not yet")

// checkFor calls f every `every` until it returns nil or total has passed,
// then fails the test with f's last error.
func checkFor(t testing.TB, total, every time.Duration, f func() error) {
	t.Helper()
	poll.For(t, total, every, f)
}
