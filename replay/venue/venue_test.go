package venue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/engine"
	"github.com/polyfeed/polyfeed/engine/markets"
	"github.com/polyfeed/polyfeed/engine/venue"
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

func mustStart(t *testing.T, a *engine.App) {
	t.Helper()
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func stop(t *testing.T, f func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f(ctx); err != nil {
		t.Errorf("cannot stop: %v", err)
	}
}

// makeRecording records a live engine against a simulator with churn,
// socket closes and bad frames for d.
func makeRecording(t *testing.T, d time.Duration) string {
	t.Helper()
	faults, err := sim.ParseFaults("close=1006@2s,malformed=0.01")
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(sim.Config{Seed: 61, Markets: 40, Rate: 1500, ChurnPerMinute: 120, Faults: faults})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer stop(t, s.Stop)
	dir := t.TempDir()
	w, err := record.New(record.Config{Dir: dir, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	live, err := engine.New(engine.Config{WSURL: s.WSURL(), GammaURL: s.GammaURL(), Workers: 2, AssetsPerConn: 30,
		DisableRecycling: true, Tap: enginetap.New(w), Logger: quietLogger(),
		Lifecycle: markets.Config{DiscoveryInterval: 300 * time.Millisecond, ExpiryInterval: 100 * time.Millisecond,
			CleanupInterval: 100 * time.Millisecond, CleanupGrace: 500 * time.Millisecond},
		Conn: venue.ConnConfig{BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	mustStart(t, live)
	time.Sleep(d)
	stop(t, live.Stop)
	stop(t, w.Stop)
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

	v, err := New(Config{Dir: dir, Speed: 4, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer stop(t, v.Stop)
	client, err := engine.New(engine.Config{WSURL: v.WSURL(), GammaURL: v.GammaURL(), Workers: 2, AssetsPerConn: 25,
		DisableRecycling: true, Logger: quietLogger(),
		Lifecycle: markets.Config{DiscoveryInterval: 200 * time.Millisecond, ExpiryInterval: 100 * time.Millisecond,
			CleanupInterval: 100 * time.Millisecond, CleanupGrace: 300 * time.Millisecond},
		Conn: venue.ConnConfig{BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	mustStart(t, client)
	defer stop(t, client.Stop)

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
	checkFor(t, 30*time.Second, 100*time.Millisecond, func() error {
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
