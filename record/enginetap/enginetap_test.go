package enginetap_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/engine"
	"github.com/polyfeed/polyfeed/engine/markets"
	"github.com/polyfeed/polyfeed/internal/sim"
	"github.com/polyfeed/polyfeed/record"
	"github.com/polyfeed/polyfeed/record/enginetap"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func checkFor(t *testing.T, total, every time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s: %v", total, err)
		}
		time.Sleep(every)
	}
}

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
	cfg := record.Config{Dir: smallDisk(t), Logger: quietLogger()}
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
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop(context.Background()) }()

	s, err := sim.New(sim.Config{Seed: 5, Markets: 40, Rate: 4000})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Stop(context.Background()) }()
	app, err := engine.New(engine.Config{WSURL: s.WSURL(), GammaURL: s.GammaURL(), Workers: 2, RingSize: 1 << 14,
		DisableRecycling: true, Tap: enginetap.New(w), Logger: quietLogger(),
		Lifecycle: markets.Config{DiscoveryInterval: 500 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = app.Stop(context.Background()) }()

	checkFor(t, 60*time.Second, 50*time.Millisecond, func() error {
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
	checkFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		if app.Stats().Router.MessagesRouted < routed+1000 || w.Stats().Dropped == 0 {
			return errors.New("engine not moving on")
		}
		return nil
	})
	if ok, why := app.Healthy(); !ok {
		t.Fatalf("engine unhealthy: %s", why)
	}
	s.Pause()
	var ids []string
	for _, m := range s.Markets() {
		if !m.Closed && m.EnableOrderBook {
			ids = append(ids, m.TokenIDs...)
		}
	}
	checkFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		for _, id := range ids {
			truth, _ := s.Book(id)
			v, ok, err := app.Book(context.Background(), id, 0)
			if err != nil || !ok || !v.Valid || len(v.Bids) != len(truth.Bids) || len(v.Asks) != len(truth.Asks) {
				return fmt.Errorf("book %s… not equal to the truth yet", id[:10])
			}
			for i := range v.Bids {
				if v.Bids[i].Price != truth.Bids[i].Price || v.Bids[i].Size != truth.Bids[i].Size {
					return fmt.Errorf("book %s… bid %d differs", id[:10], i)
				}
			}
			for i := range v.Asks {
				if v.Asks[i].Price != truth.Asks[i].Price || v.Asks[i].Size != truth.Asks[i].Size {
					return fmt.Errorf("book %s… ask %d differs", id[:10], i)
				}
			}
		}
		return nil
	})
	// What reached the disk before it filled is readable.
	r, err := record.Open(cfg.Dir, 0, 0, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	frames := 0
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
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
