package gamma

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/polyfeed/polyfeed/internal/sim"
	"github.com/polyfeed/polyfeed/internal/testrig"
)

// TestListActiveAgainstSimFaults runs the client against the simulator's Gamma with the
// listing faults of issue 12 defect 1: an empty 200 listing and a keyset page that loses
// its next_cursor must both come back as ErrSuspect, never as a complete listing.
func TestListActiveAgainstSimFaults(t *testing.T) {
	s := testrig.Sim(t, sim.Config{Seed: 5, Markets: 120, Manual: true, Epoch: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)})
	c, err := New(Config{BaseURL: s.GammaURL(), PageLimit: 50})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	open := 0
	for _, m := range s.Markets() {
		if !m.Closed && m.EnableOrderBook {
			open++
		}
	}
	for _, tc := range []struct {
		faults  string
		why     Suspicion
		markets int
	}{
		{"none", "", open},
		{"gammaempty=1", SuspectEmpty, 0},
		{"gammacut=1", SuspectNoCursor, -1},
	} {
		f, err := sim.ParseFaults(tc.faults)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetFaults(f); err != nil {
			t.Fatal(err)
		}
		got, st, err := c.ListActive(context.Background())
		if tc.why == "" {
			if err != nil || !st.Complete || len(got) != tc.markets {
				t.Fatalf("%s: %d markets, complete %v, %v; want %d, complete", tc.faults, len(got), st.Complete, err, tc.markets)
			}
			continue
		}
		if !errors.Is(err, ErrSuspect) || st.Complete || st.Suspect != tc.why {
			t.Fatalf("%s: err %v, stats %+v; want ErrSuspect (%s)", tc.faults, err, st, tc.why)
		}
		if tc.markets >= 0 && len(got) != tc.markets {
			t.Fatalf("%s: %d markets; want %d", tc.faults, len(got), tc.markets)
		}
		if tc.markets < 0 && (len(got) == 0 || len(got) >= open) {
			t.Fatalf("%s: %d markets; want a cut-short listing (0 < n < %d)", tc.faults, len(got), open)
		}
	}
}

// TestListActiveOffsetShiftAgainstSim pins issue 12 defect 10 against the simulator:
// with keyset paging unavailable and markets closing between offset pages, a listing
// reported complete must hold every market still open, and some walks must manage to
// repair the shifts rather than all giving up.
func TestListActiveOffsetShiftAgainstSim(t *testing.T) {
	s := testrig.Sim(t, sim.Config{Seed: 6, Markets: 400, Manual: true, Epoch: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)})
	f, err := sim.ParseFaults("gammanokeyset=1,gammashift=0.3")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetFaults(f); err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{BaseURL: s.GammaURL(), PageLimit: 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	complete, repaired := 0, 0
	for walk := 0; walk < 15; walk++ {
		got, st, err := c.ListActive(context.Background())
		if st.Mode != ModeOffset {
			t.Fatalf("walk %d: mode %s; want offset", walk, st.Mode)
		}
		if err != nil {
			if !errors.Is(err, ErrPartial) {
				t.Fatalf("walk %d: %v", walk, err)
			}
			continue
		}
		complete++
		if st.Warnings[WarnOffsetShift] > 0 {
			repaired++
		}
		listed := make(map[string]bool, len(got))
		for _, m := range got {
			listed[m.ConditionID] = true
		}
		for _, m := range s.Markets() {
			if !m.Closed && m.EnableOrderBook && !listed[m.ConditionID] {
				t.Fatalf("walk %d: complete listing of %d markets misses open market %s", walk, len(got), m.ID)
			}
		}
	}
	if st := s.Stats(); st.GammaShifts == 0 || repaired == 0 {
		t.Fatalf("%d shifts, %d complete walks of which %d repaired a shift; want shifts and repairs", st.GammaShifts, complete, repaired)
	}
	t.Logf("%d complete walks (%d repaired a shift), %d shifts injected", complete, repaired, s.Stats().GammaShifts)
}
