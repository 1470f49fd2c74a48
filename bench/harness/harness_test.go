package harness

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/polyfeed/polyfeed/engine"

	"go.uber.org/goleak"
)

// smallCorpus is a few markets and a short stream: enough to exercise every
// frame shape the harness replays.
func smallCorpus(t *testing.T) *Corpus {
	t.Helper()
	c, err := Record(context.Background(), CorpusConfig{Markets: 20, Messages: 600})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRecordCorpusCoversEveryAsset(t *testing.T) {
	defer goleak.VerifyNone(t)
	c := smallCorpus(t)
	if len(c.Assets) == 0 || len(c.Dumps) == 0 {
		t.Fatalf("corpus has %d assets, %d dumps", len(c.Assets), len(c.Dumps))
	}
	books := 0
	for _, n := range c.DumpBooks {
		books += n
	}
	if books != len(c.Assets) {
		t.Errorf("dumps carry %d books; want one per asset (%d)", books, len(c.Assets))
	}
	if c.StreamEvents() < 600 || c.Kinds["price_change"] == 0 {
		t.Errorf("stream has %d events, kinds %v; want at least 600 with price changes", c.StreamEvents(), c.Kinds)
	}
}

func TestReplayHandlesEveryFedEvent(t *testing.T) {
	defer goleak.VerifyNone(t)
	c := smallCorpus(t)
	r, err := Replay(context.Background(), c, ReplayConfig{Rate: 5000, Duration: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Dropped != 0 || r.Divergences != 0 || r.Invalidations != 0 {
		t.Errorf("dropped/diverged/invalidated = %d/%d/%d; want 0 at a low rate", r.Dropped, r.Divergences, r.Invalidations)
	}
	// What was fed is counted by the feeder from the corpus, not by the
	// handler: every fed event must reach the handler, and each once.
	if r.Fed == 0 || r.Events != r.Fed || r.Shortfall != 0 {
		t.Errorf("handled %d of %d fed events (shortfall %d); want all, and some", r.Events, r.Fed, r.Shortfall)
	}
	if uint64(r.Handler.Count) != r.Events {
		t.Errorf("handled %d events, recorded %d latencies; want equal", r.Events, r.Handler.Count)
	}
	if r.Handler.P50 <= 0 || r.Handler.P50 > r.Handler.P99 || r.Handler.P99 > r.Handler.Max {
		t.Errorf("handler percentiles not ordered: %+v", r.Handler)
	}
}

func TestWholePathDeliversSimulatorEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the simulator and the engine over sockets")
	}
	defer goleak.VerifyNone(t)
	r, err := WholePath(context.Background(), WholeConfig{Markets: 20, Rate: 500, Duration: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Events == 0 || r.SimMessages == 0 {
		t.Errorf("events %d, simulator messages %d; want both non-zero", r.Events, r.SimMessages)
	}
}

func TestReportWritesTextAndFigures(t *testing.T) {
	d := func(base int64) Dist {
		return distFromSummary(engineSummary(base))
	}
	mk := func(mode string, rate float64, sat bool) *Result {
		return &Result{Mode: mode, Offered: rate, Achieved: rate * 0.99, Route: d(10), Processing: d(40), EndToEnd: d(50), Handler: d(45), Saturated: sat}
	}
	rep := &Report{Machine: machine(), Sweep: []*Result{mk("engine", 1e3, false), mk("engine", 20e3, false), mk("engine", 0, true)},
		Whole: []*Result{mk("whole", 10e3, false)}, Startup: &Startup{Books: 10, Duration: time.Millisecond}}
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "report.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteText(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := rep.WriteFigures(dir); err != nil {
		t.Fatal(err)
	}
	for _, fig := range FigureNames {
		svg, err := os.ReadFile(filepath.Join(dir, fig+".svg"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(svg, []byte("<?xml")) || !bytes.Contains(svg, []byte("<svg")) {
			t.Errorf("%s.svg is not SVG: %.80q", fig, svg)
		}
		name := fig + ".png"
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if b := img.Bounds(); b.Dx() < 500 || b.Dy() < 400 {
			t.Errorf("%s is %v; want a readable figure", name, b)
		}
	}
}

func engineSummary(baseUs int64) engineLatency {
	ms := func(u int64) float64 { return float64(u) / 1e3 }
	return engineLatency{Count: 1000, P50Ms: ms(baseUs), P90Ms: ms(2 * baseUs), P99Ms: ms(4 * baseUs), P999Ms: ms(8 * baseUs), MaxMs: ms(16 * baseUs)}
}

type engineLatency = engine.LatencySummary
