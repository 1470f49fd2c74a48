package enginetap_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/engine/enginetest"
	"github.com/polyfeed/polyfeed/engine/markets"
	"github.com/polyfeed/polyfeed/internal/poll"
	"github.com/polyfeed/polyfeed/internal/sim"
	"github.com/polyfeed/polyfeed/internal/testrig"
	"github.com/polyfeed/polyfeed/record"
	"github.com/polyfeed/polyfeed/record/enginetap"
)

// smallDisk returns a directory on a 1 MiB tmpfs, or "" when this machine
// cannot mount one (not root, no tmpfs).
func smallDisk(t *testing.T) string {
	dir := t.TempDir()
	if err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).Run(); err != nil {
		return ""
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	return dir
}

// fullAfter is a file that fails every write after n bytes, as a full
// disk does.
type fullAfter struct {
	f *os.File
	n *int64
}

func (f fullAfter) Write(p []byte) (int, error) {
	if *f.n < int64(len(p)) {
		return 0, errors.New("write: no space left on device")
	}
	*f.n -= int64(len(p))
	return f.f.Write(p)
}
func (f fullAfter) Close() error { return f.f.Close() }

// TestFullDiskStopsRecordingNotEngine records a live engine onto a disk
// that fills up (a 1 MiB tmpfs where the machine allows, else files that
// fail after 1 MiB): the recording stops with the error counted and
// reported, while the engine goes on and its books still equal the truth.
func TestFullDiskStopsRecordingNotEngine(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	cfg := record.Config{Dir: smallDisk(t), Logger: testrig.Logger()}
	if cfg.Dir == "" {
		t.Log("no tmpfs: injecting write errors after 1 MiB")
		cfg.Dir = t.TempDir()
		left := int64(1 << 20)
		cfg.Create = func(p string) (io.WriteCloser, error) {
			f, err := os.Create(p)
			return fullAfter{f: f, n: &left}, err
		}
	}
	w, err := record.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// A full disk fails the recording, so its Stop may report that error:
	// stopped here, not by the rig, which would count it a failure; still at
	// cleanup, after the engine that feeds it.
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop(context.Background()) })

	s := testrig.Sim(t, sim.Config{Seed: 5, Markets: 40, Rate: 4000})
	ecfg := enginetest.Loopback(s.WSURL(), s.GammaURL())
	ecfg.Workers, ecfg.RingSize, ecfg.DisableRecycling, ecfg.Tap = 2, 1<<14, true, enginetap.New(w)
	ecfg.Lifecycle = markets.Config{DiscoveryInterval: 500 * time.Millisecond}
	app := enginetest.Start(t, ecfg)

	poll.For(t, 60*time.Second, 50*time.Millisecond, func() error {
		if w.Health() == nil {
			return fmt.Errorf("still recording: %d bytes on disk", w.Stats().FileBytes)
		}
		return nil
	})
	st := w.Stats()
	if st.Recording || st.WriteErrors == 0 || !strings.Contains(st.Error, "no space left on device") {
		t.Fatalf("recorder %+v; want stopped with the disk error", st)
	}
	// The engine goes on: frames keep flowing (and are counted as dropped by
	// the recorder), and after the venue pauses every book equals the truth.
	routed := app.Stats().Router.MessagesRouted
	poll.For(t, 20*time.Second, 50*time.Millisecond, func() error {
		if app.Stats().Router.MessagesRouted < routed+1000 || w.Stats().Dropped == 0 {
			return errors.New("engine not moving on")
		}
		return nil
	})
	if ok, why := app.Healthy(); !ok {
		t.Fatalf("engine unhealthy: %s", why)
	}
	s.Pause()
	ids := testrig.LiveAssets(s)
	poll.For(t, 30*time.Second, 50*time.Millisecond, func() error {
		return enginetest.DiffTruth(enginetest.Books(t, app, ids), s, ids)
	})
	// What reached the disk before it filled is readable.
	r, err := record.Open(cfg.Dir, 0, 0, testrig.Logger())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	frames := 0
	for rec, err := range r.All() {
		if err != nil {
			t.Fatal(err)
		}
		if rec.Kind == record.KindFrame {
			frames++
		}
	}
	if frames == 0 {
		t.Fatal("nothing readable from before the disk filled")
	}
	t.Logf("recorder stopped after %d bytes (%v); %d frames readable; %d dropped since", st.FileBytes, st.Error, frames, w.Stats().Dropped)
}
