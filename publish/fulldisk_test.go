package publish

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/polyfeed/polyfeed/internal/fulldisk"
	"github.com/polyfeed/polyfeed/internal/natsd"
	"github.com/polyfeed/polyfeed/internal/poll"
	"github.com/polyfeed/polyfeed/internal/sim"
)

// TestFullDisk: the embedded server's disk (a 256 MiB tmpfs; mounting
// needs root, skipped otherwise) fills while the venue trades. The engine
// keeps its books; the stream goes down and says so (natsd's stats); once a
// file is removed JetStream restarts, the publisher's stale notices and
// fresh books reach the consumer, and it ends equal to the truth. Without
// natsd's keeper the stream stayed down until the process restarted.
func TestFullDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a tmpfs and fills it; runs without -short")
	}
	dir := fulldisk.Mount(t, "256m") // internal/natsd's TestJetStreamComesBack covers the restart without root
	r := newRig(t, rigConfig{
		sim:  sim.Config{Seed: 15, Markets: 10, Rate: 600},
		nats: natsd.Config{Listen: freePort(t), DataDir: filepath.Join(dir, "nats")},
		pub: func(c *Config) {
			c.AckTimeout = time.Second
			c.EventsMaxBytes = 32 << 20 // JetStream reserves it: fits the tmpfs
		},
		follow: true,
	})
	r.waitValid()

	filler, err := fulldisk.Fill(dir, 32<<10)
	if err != nil {
		t.Fatal(err)
	}
	poll.For(t, 20*time.Second, 20*time.Millisecond, func() error {
		if !r.srv.Stats().JetStreamDown {
			return errors.New("the stream has not gone down on a full disk")
		}
		return nil
	})
	time.Sleep(time.Second) // trading goes on with the stream down
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	poll.For(t, 30*time.Second, 50*time.Millisecond, func() error {
		if s := r.srv.Stats(); s.JetStreamDown || s.JetStreamRestarts == 0 {
			return fmt.Errorf("JetStream not back: %+v", s)
		}
		return nil
	})
	r.waitTruth()
	if s := r.pub.Stats(); s.StaleNotices == 0 {
		t.Errorf("publisher stats %+v: no stale notice after the outage", s)
	}
	if cs := r.cons.Stats(); cs.Gaps+cs.StaleNotices == 0 {
		t.Errorf("consumer stats %+v: the outage shows neither a gap nor a stale notice", cs)
	}
	for name, w := range r.app.Stats().Workers.WorkerStats {
		if w.Invalidations != 0 {
			t.Errorf("%s: %d books invalidated: the full disk reached the engine", name, w.Invalidations)
		}
	}
}
