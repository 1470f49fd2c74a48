package replay

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/polyfeed/polyfeed/bench/harness"
	"github.com/polyfeed/polyfeed/engine"
	"github.com/polyfeed/polyfeed/internal/testrig"
	"github.com/polyfeed/polyfeed/record"
)

// benchMade is set once benchRecording ran.
var benchMade atomic.Bool

// benchRecording is one recording shared by the benchmarks: the startup
// dump and 100,000 stream messages of 500 simulated markets, taken from
// the simulator over a real socket (bench/harness) and written by a
// record.Writer as polyfeed --record writes them.
var benchRecording = sync.OnceValues(func() (string, error) {
	benchMade.Store(true)
	c, err := harness.Record(context.Background(), harness.CorpusConfig{Markets: 500, Messages: 100_000})
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "replaybench")
	if err != nil {
		return "", err
	}
	if err := writeRecording(dir, c); err != nil {
		_ = os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
})

// writeRecording records corpus c into dir as one connection's frames.
func writeRecording(dir string, c *harness.Corpus) error {
	w, err := record.New(record.Config{Dir: dir, Logger: testrig.Logger()})
	if err != nil {
		return err
	}
	if err := w.Start(context.Background()); err != nil {
		return err
	}
	t := time.Now().UnixNano()
	w.OnOpen(1, "ws://127.0.0.1/ws/market")
	w.OnSubscribe(1, c.Assets, true)
	for _, f := range c.Dumps {
		t += 1000
		w.OnFrame(1, f, t)
	}
	for i, f := range c.Frames[c.SnapshotFrames:] {
		t += 100_000 // 10,000 frames/s of recorded time
		w.OnFrame(1, f, t)
		// Let the writer keep up, as a live feed would: its buffer drops
		// what it cannot hold.
		for uint64(i) > w.Stats().Frames+4096 {
			time.Sleep(time.Millisecond)
		}
	}
	if err := w.Stop(context.Background()); err != nil {
		return err
	}
	if st := w.Stats(); st.Dropped > 0 {
		return fmt.Errorf("cannot record the corpus whole: the writer dropped %d records", st.Dropped)
	}
	return nil
}

// TestMain removes the benchmarks' recording, if one was made.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchMade.Load() {
		if dir, err := benchRecording(); err == nil {
			_ = os.RemoveAll(dir)
		}
	}
	os.Exit(code)
}

// BenchmarkReplay: one op is a whole replay at --speed max of the shared
// recording into a fresh engine configured as polyfeed replay configures
// it (default workers, blocking router), from opening the files until the
// engine has routed the last frame. Reports handler events per second of
// wall time and per CPU-second of the process (the machine is shared).
func BenchmarkReplay(b *testing.B) {
	for _, in := range []int{engine.DefaultInboundBytes, InboundBytes} {
		b.Run(fmt.Sprintf("inbound=%dM", in>>20), func(b *testing.B) { benchReplay(b, in) })
	}
}

func benchReplay(b *testing.B, inbound int) {
	dir, err := benchRecording()
	if err != nil {
		b.Fatalf("cannot make the recording: %v", err)
	}
	var events, first uint64
	var wall, cpu time.Duration
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		app, err := engine.New(engine.Config{
			WSURL: "ws://127.0.0.1:1/ws/market", GammaURL: "http://127.0.0.1:1",
			Backpressure: engine.Block, InboundBytes: inbound, DisableLifecycle: true, DisableRecycling: true, AssetStaleAfter: -1,
			Logger: testrig.Logger(),
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := app.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0, c0 := time.Now(), processCPU()
		r, err := record.Open(dir, 0, 0, testrig.Logger())
		if err != nil {
			b.Fatal(err)
		}
		p, err := New(r, app, Config{})
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
		for app.Stats().Router.Frames < p.Stats().Frames {
			time.Sleep(50 * time.Microsecond)
		}
		wall += time.Since(t0)
		cpu += processCPU() - c0
		n := app.Stats().Router.Events
		if n == 0 || (first != 0 && n != first) {
			b.Fatalf("replay routed %d events; want the same non-zero count every time (first %d)", n, first)
		}
		first = n
		events += n
		_ = r.Close()
		b.StopTimer()
		if err := app.Stop(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(events)/wall.Seconds(), "events/s")
	b.ReportMetric(float64(events)/cpu.Seconds(), "events/CPU-s")
	b.ReportMetric(float64(events)/float64(b.N), "events/op")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
