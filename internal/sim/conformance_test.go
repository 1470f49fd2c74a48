package sim

import (
	"testing"

	"github.com/polyfeed/polyfeed/internal/wire"
)

// TestFramesDecodeWithWire: every frame the simulator emits decodes with the
// engine's own decoder, without a single error, and every event kind the
// venue sends on the market channel shows up (with churn and the custom
// feature on, over enough ticks). This ties the simulator to the decoder the
// engine runs, so a shape drift on either side fails here.
func TestFramesDecodeWithWire(t *testing.T) {
	s := startSim(t, Config{Seed: 21, Markets: 40, Rate: 8000, Manual: true, ChurnPerMinute: 600})
	c := dial(t, s)
	c.subscribe(t, bookAssets(s), true)
	c.sync(t)
	for range 60 {
		s.Step(10)
	}
	s.Pause()
	c.sync(t)
	frames := c.takeFrames()
	if len(frames) < 100 {
		t.Fatalf("only %d frames", len(frames))
	}
	d := wire.NewDecoder()
	seen := map[wire.Kind]int{}
	for i, f := range frames {
		evs, err := d.Decode(f)
		if err != nil {
			t.Fatalf("frame %d does not decode: %v\n%s", i, err, f)
		}
		for _, ev := range evs {
			seen[ev.Kind]++
		}
	}
	for _, k := range []wire.Kind{wire.KindBook, wire.KindPriceChange, wire.KindLastTrade, wire.KindTickSize,
		wire.KindBestBidAsk, wire.KindNewMarket, wire.KindMarketResolved} {
		if seen[k] == 0 {
			t.Errorf("no %v event in %d frames (seen: %v)", k, len(frames), seen)
		}
	}
	st := d.Stats()
	if st.Unknown != 0 || st.Malformed != 0 {
		t.Errorf("decoder counted %d unknown and %d malformed without faults", st.Unknown, st.Malformed)
	}
	if st.Events[wire.KindBook] == 0 || st.Events[wire.KindPriceChange] == 0 {
		t.Errorf("decoder stats = %+v", st)
	}
}

// TestFaultFramesAreCountedByWire: the simulator's injected garbage is what
// the decoder counts as malformed or unknown, and never costs a good event.
func TestFaultFramesAreCountedByWire(t *testing.T) {
	f, err := ParseFaults("malformed=0.1,truncated=0.1,unknown=0.1")
	if err != nil {
		t.Fatal(err)
	}
	s := startSim(t, Config{Seed: 22, Markets: 20, Rate: 4000, Manual: true, Faults: f})
	c := dial(t, s)
	c.subscribe(t, bookAssets(s), false)
	c.sync(t)
	for range 30 {
		s.Step(10)
	}
	s.Pause()
	c.sync(t)
	d := wire.NewDecoder()
	failed := 0
	for _, fr := range c.takeFrames() {
		if _, err := d.Decode(fr); err != nil {
			failed++
		}
	}
	st := d.Stats()
	inj := s.Stats().Injected
	if failed == 0 || st.Unknown == 0 {
		t.Fatalf("failed frames %d, unknown events %d; injected %v", failed, st.Unknown, inj)
	}
	if st.Events[wire.KindPriceChange] == 0 {
		t.Fatalf("no price_change decoded among the faults: %+v", st)
	}
}
