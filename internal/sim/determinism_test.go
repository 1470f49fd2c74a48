package sim

import (
	"bytes"
	"encoding/json"
	"testing"
)

// recordRun runs a Manual simulator for ticks and returns everything one all-asset custom
// subscriber received, flattened into events.
func recordRun(t *testing.T, seed int64, ticks int) []json.RawMessage {
	s := startSim(t, Config{Seed: seed, Markets: 25, Rate: 5000, Manual: true, ChurnPerMinute: 120})
	c := dial(t, s)
	c.subscribe(t, bookAssets(s), true)
	c.sync(t)
	for i := 0; i < ticks; i += 10 {
		s.Step(10) // wall-clock gaps between steps must not matter
	}
	s.Pause()
	c.sync(t)
	return events(t, c.takeFrames())
}

func TestSameSeedSameSequence(t *testing.T) {
	a, b := recordRun(t, 42, 200), recordRun(t, 42, 200)
	if len(a) < 1000 {
		t.Fatalf("only %d events", len(a))
	}
	if len(a) != len(b) {
		t.Fatalf("same seed: %d vs %d events", len(a), len(b))
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("same seed: event %d differs:\n%s\n%s", i, a[i], b[i])
		}
	}
	c := recordRun(t, 43, 200)
	same := len(c) == len(a)
	for i := 0; same && i < len(a); i++ {
		same = bytes.Equal(a[i], c[i])
	}
	if same {
		t.Fatal("different seeds produced the same sequence")
	}
}

// TestStepMatchesDriver checks the wall-clock driver produces the same truth as Step: the
// tick count, not timing, decides the sequence.
func TestStepMatchesDriver(t *testing.T) {
	cfg := Config{Seed: 5, Markets: 20, Rate: 4000}
	driven := startSim(t, cfg)
	waitFor(t, "ticks", func() bool { return driven.Stats().Ticks >= 30 })
	driven.Pause()
	ticks := driven.Stats().Ticks
	cfg.Manual = true
	stepped := startSim(t, cfg)
	stepped.Step(int(ticks))
	for _, id := range bookAssets(driven) {
		a, _ := driven.Book(id)
		b, _ := stepped.Book(id)
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if !bytes.Equal(ja, jb) {
			t.Fatalf("after %d ticks asset %s differs:\n%s\n%s", ticks, id, ja, jb)
		}
	}
}
