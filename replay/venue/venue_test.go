package venue

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

// makeRecording records a live engine against a simulator with churn,
// socket closes and bad frames for d.
func makeRecording(t *testing.T, d time.Duration) string {
	t.Helper()
	faults, err := sim.ParseFaults("close=1006@2s,malformed=0.01")
	if err != nil {
		t.Fatal(err)
	}
	s := testrig.Sim(t, sim.Config{Seed: 61, Markets: 40, Rate: 1500, ChurnPerMinute: 120, Faults: faults})
	defer testrig.Stop(t, "simulator", s) // now: the replay phase needs no live venue
	dir := t.TempDir()
	w, err := record.New(record.Config{Dir: dir, Logger: testrig.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	testrig.Start(t, "recorder", w)
	cfg := enginetest.Loopback(s.WSURL(), s.GammaURL())
	cfg.Workers, cfg.AssetsPerConn, cfg.DisableRecycling, cfg.Tap = 2, 30, true, enginetap.New(w)
	cfg.Lifecycle = fastLifecycle(500 * time.Millisecond)
	live := enginetest.Start(t, cfg)
	time.Sleep(d) // record d of live trading, on purpose
	testrig.Stop(t, "engine", live)
	testrig.Stop(t, "recorder", w)
	if st := w.Stats(); st.Frames == 0 || st.Dropped != 0 {
		t.Fatalf("recording %+v", st)
	}
	return dir
}

// TestServeRecording: polyfeed's engine run against a recording served as
// a venue (Gamma listing and WebSocket) ends with books equal, level for
// level, to the recording's replay.
func TestServeRecording(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	dir := makeRecording(t, 5*time.Second)

	v, err := New(Config{Dir: dir, Speed: 4, Logger: testrig.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	testrig.Start(t, "replayed venue", v)
	cfg := enginetest.Loopback(v.WSURL(), v.GammaURL())
	cfg.Workers, cfg.AssetsPerConn, cfg.DisableRecycling = 2, 25, true
	cfg.Lifecycle = fastLifecycle(300 * time.Millisecond)
	cfg.Lifecycle.DiscoveryInterval = 200 * time.Millisecond
	client := enginetest.Start(t, cfg)

	select {
	case <-v.Done():
	case <-time.After(60 * time.Second):
		t.Fatalf("replay not done: %+v", v.Stats())
	}
	// The end state: every asset of the last listing that the replay holds
	// a valid book for has the same book in the client.
	var ids []string
	for _, m := range v.Listing() {
		ids = append(ids, m.AssetIDs...)
	}
	slices.Sort(ids)
	ctx := context.Background()
	compared := 0
	poll.For(t, 30*time.Second, 100*time.Millisecond, func() error {
		compared = 0
		for _, id := range ids {
			want, ok, err := v.Book(ctx, id)
			if err != nil {
				return err
			}
			if !ok || !want.Valid {
				continue
			}
			got, ok, err := client.Book(ctx, id, 0)
			if err != nil || !ok || !got.Valid {
				e, _ := client.Registry().Get(id)
				return fmt.Errorf("client book %s… missing (%v) or invalid (%v); registry %+v; venue %+v; lifecycle %+v", id[:10], ok, got.Valid, e, v.Stats(), client.Stats().Lifecycle)
			}
			if !slices.Equal(got.Bids, want.Bids) || !slices.Equal(got.Asks, want.Asks) || got.TickSize != want.TickSize {
				return fmt.Errorf("client book %s… differs from the replay", id[:10])
			}
			compared++
		}
		if compared == 0 {
			return errors.New("nothing to compare")
		}
		return nil
	})
	st := v.Stats()
	if st.FramesSent == 0 || st.ClientsTotal == 0 {
		t.Fatalf("venue %+v", st)
	}
	t.Logf("%d books equal; venue %+v", compared, st)
}

// fastLifecycle discovers, expires and cleans up in a fraction of a second,
// keeping expired markets for grace.
func fastLifecycle(grace time.Duration) markets.Config {
	return markets.Config{DiscoveryInterval: 300 * time.Millisecond, ExpiryInterval: 100 * time.Millisecond,
		CleanupInterval: 100 * time.Millisecond, CleanupGrace: grace}
}
