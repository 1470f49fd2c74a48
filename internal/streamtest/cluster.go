package streamtest

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Cluster is n in-process nats-servers routed into one JetStream cluster on
// loopback, each with its own file store. A node can be killed for good (Kill); the
// rest are shut down when the test ends.
type Cluster struct {
	t       testing.TB
	servers []*server.Server
}

// StartCluster starts n servers and returns once every one has its routes and sees
// a current JetStream meta leader.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	ports := make([]int, n)
	var routes []*url.URL
	for i := range ports {
		ports[i] = FreePort(t)
		routes = append(routes, &url.URL{Scheme: "nats", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i]))})
	}
	c := &Cluster{t: t}
	dir := t.TempDir()
	for i := range n {
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i), Host: "127.0.0.1", Port: -1,
			JetStream: true, StoreDir: filepath.Join(dir, strconv.Itoa(i)), NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "streamtest", Host: "127.0.0.1", Port: ports[i]},
			Routes:  routes,
		}
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatalf("cannot create nats-server n%d: %v", i, err)
		}
		s.Start()
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatalf("nats-server n%d not ready", i)
		}
		c.servers = append(c.servers, s)
	}
	t.Cleanup(c.stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := c.formed()
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster not formed after 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *Cluster) formed() error {
	for _, s := range c.servers {
		if !s.JetStreamIsClustered() || !s.JetStreamIsCurrent() || s.NumRoutes() < len(c.servers)-1 {
			return fmt.Errorf("%s: JetStream not current or routes missing", s.Name())
		}
	}
	return nil
}

// FreePort returns a loopback port that was free a moment ago, so a server
// can be stopped and started again on the same one.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Name is node i's server name (n0, n1, …), as JetStream reports its leaders.
func (c *Cluster) Name(i int) string { return fmt.Sprintf("n%d", i) }

// Node returns the index of the node named name, or -1.
func (c *Cluster) Node(name string) int {
	for i := range c.servers {
		if c.Name(i) == name {
			return i
		}
	}
	return -1
}

// URL is node i's client URL.
func (c *Cluster) URL(i int) string { return c.servers[i].ClientURL() }

// Connect returns a client connection to node i only (no other server in its list,
// so it stays there while i runs), reconnecting forever, closed when the test ends.
func (c *Cluster) Connect(t testing.TB, i int) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(c.URL(i), nats.MaxReconnects(-1),
		nats.ReconnectWait(50*time.Millisecond), nats.Timeout(2*time.Second))
	if err != nil {
		t.Fatalf("cannot connect to nats-server n%d: %v", i, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Kill shuts node i down for good and waits for it.
func (c *Cluster) Kill(i int) {
	if s := c.servers[i]; s != nil {
		s.Shutdown()
		s.WaitForShutdown()
		c.servers[i] = nil
	}
}

func (c *Cluster) stop() {
	for i := range c.servers {
		c.Kill(i)
	}
}
