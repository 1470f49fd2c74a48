package testrig

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/internal/sim"
)

// part records what the rig does to it.
type part struct {
	name    string
	log     *[]string
	stopErr error
}

func (p *part) Start(context.Context) error { *p.log = append(*p.log, "start "+p.name); return nil }
func (p *part) Stop(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		return errors.New("stop without a deadline")
	}
	*p.log = append(*p.log, "stop "+p.name)
	return p.stopErr
}

// TestStartStopsInReverseAtCleanup: parts stop when the test ends, the last
// started first, each with a bounded context.
func TestStartStopsInReverseAtCleanup(t *testing.T) {
	var log []string
	t.Run("inner", func(t *testing.T) {
		Start(t, "a", &part{name: "a", log: &log})
		Start(t, "b", &part{name: "b", log: &log})
		if want := []string{"start a", "start b"}; !slices.Equal(log, want) {
			t.Fatalf("log %v; want %v", log, want)
		}
	})
	if want := []string{"start a", "start b", "stop b", "stop a"}; !slices.Equal(log, want) {
		t.Fatalf("log %v; want %v", log, want)
	}
}

// TestStopErrorFailsTheTest: a Stop that fails is reported, not swallowed.
func TestStopErrorFailsTheTest(t *testing.T) {
	var log []string
	ft := &failRecorder{TB: t}
	Stop(ft, "broken", &part{name: "broken", log: &log, stopErr: errors.New("boom")})
	if !ft.failed {
		t.Fatal("a failed Stop did not fail the test")
	}
}

// failRecorder notes Errorf instead of failing the real test.
type failRecorder struct {
	testing.TB
	failed bool
}

func (f *failRecorder) Errorf(string, ...any) { f.failed = true }
func (f *failRecorder) Helper()               {}

// TestSimStartsAndStops: the simulator serves on loopback during the test and
// leaves no goroutine behind.
func TestSimStartsAndStops(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	var ids []string
	t.Run("inner", func(t *testing.T) {
		s := Sim(t, sim.Config{Seed: 1, Markets: 5, Manual: true, Epoch: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)})
		ids = LiveAssets(s)
		if s.WSURL() == "" || s.GammaURL() == "" {
			t.Fatal("simulator has no URLs")
		}
	})
	if len(ids) == 0 || !slices.IsSorted(ids) {
		t.Fatalf("live assets %v; want some, sorted", ids)
	}
}
