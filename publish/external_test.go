package publish

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/polyfeed/polyfeed/internal/poll"
	"github.com/polyfeed/polyfeed/internal/sim"
)

var (
	natsServerOnce sync.Once
	natsServerBin  string
	natsServerErr  error
)

// natsServerBinary builds the nats-server command of the module's
// nats-server version once per test binary.
func natsServerBinary(t testing.TB) string {
	t.Helper()
	natsServerOnce.Do(func() {
		dir, err := os.MkdirTemp("", "polyfeed-nats-bin-")
		if err != nil {
			natsServerErr = err
			return
		}
		goTool, err := exec.LookPath("go")
		if err != nil {
			natsServerErr = fmt.Errorf("cannot build nats-server: no go tool on PATH: %w", err)
			return
		}
		natsServerBin = filepath.Join(dir, "nats-server")
		out, err := exec.Command(goTool, "build", "-o", natsServerBin, "github.com/nats-io/nats-server/v2").CombinedOutput()
		if err != nil {
			natsServerErr = fmt.Errorf("cannot build nats-server: %v\n%s", err, out)
		}
	})
	if natsServerErr != nil {
		t.Fatal(natsServerErr)
	}
	return natsServerBin
}

// extServer is a nats-server process with JetStream on a fixed loopback
// address and store directory, so it can be killed and started again.
type extServer struct {
	bin, addr, dir string
	cmd            *exec.Cmd
}

func (e *extServer) url() string { return "nats://" + e.addr }

func (e *extServer) start(t testing.TB) {
	t.Helper()
	host, port, _ := net.SplitHostPort(e.addr)
	e.cmd = exec.Command(e.bin, "-js", "-a", host, "-p", port, "-sd", e.dir)
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	poll.For(t, 20*time.Second, 20*time.Millisecond, func() error {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// kill ends the process with SIGKILL (no clean shutdown) and reaps it.
func (e *extServer) kill(t testing.TB) {
	t.Helper()
	if e.cmd == nil {
		return
	}
	_ = e.cmd.Process.Kill()
	_ = e.cmd.Wait()
	e.cmd = nil
}

// TestExternalServerKilled: an external nats-server is killed (SIGKILL)
// and started again on its address and store; the publisher reconnects,
// publishes stale and fresh books, and the stream ends equal to the truth.
func TestExternalServerKilled(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("needs a Unix process to kill")
	}
	ext := &extServer{bin: natsServerBinary(t), addr: freePort(t), dir: t.TempDir()}
	r := newRig(t, rigConfig{
		sim:    sim.Config{Seed: 19, Markets: 10, Rate: 600},
		ext:    ext,
		pub:    func(c *Config) { c.AckTimeout = time.Second },
		follow: true,
	})
	r.waitValid()
	ext.kill(t)
	poll.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		if st := r.pub.Stats(); st.Dropped == 0 || st.Ready {
			return fmt.Errorf("publisher has not noticed the outage: %+v", st)
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond) // trading goes on without NATS
	ext.start(t)
	poll.For(t, 30*time.Second, 50*time.Millisecond, func() error {
		if st := r.pub.Stats(); !st.Ready || st.Reconnects == 0 {
			return fmt.Errorf("publisher not back: %+v", st)
		}
		return nil
	})
	r.waitTruth()
	if st := r.pub.Stats(); st.StaleNotices == 0 {
		t.Errorf("stats %+v: no stale notice after the server was killed", st)
	}
	if cs := r.cons.Stats(); cs.Gaps+cs.StaleNotices == 0 {
		t.Errorf("consumer stats %+v: the outage shows neither a gap nor a stale notice", cs)
	}
}
