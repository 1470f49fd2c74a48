package engine

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/engine/venue"
	"github.com/polyfeed/polyfeed/internal/poll"
	"github.com/polyfeed/polyfeed/internal/sim"
	"github.com/polyfeed/polyfeed/internal/testrig"
)

// TestAppHealthInEachState walks an App through new → running → no data →
// stopped and checks Healthy and Ready (with their reasons) in each state,
// and that Stats renders with the lifecycle and recycler switched off.
func TestAppHealthInEachState(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	s := testrig.Sim(t, sim.Config{Seed: 4, Markets: 20, Rate: 500})
	a, err := New(Config{
		WSURL: s.WSURL(), GammaURL: s.GammaURL(), Workers: 2,
		DisableLifecycle: true, DisableRecycling: true,
		DataStaleAfter: 300 * time.Millisecond,
		Pool:           venue.PoolConfig{Interval: 20 * time.Millisecond, MaxWait: 20 * time.Millisecond},
		Logger:         testrig.Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := func(what string, gotOK bool, reason string, wantOK bool, wantReason string) {
		t.Helper()
		if gotOK != wantOK || !strings.Contains(reason, wantReason) {
			t.Errorf("%s = %v %q; want %v containing %q", what, gotOK, reason, wantOK, wantReason)
		}
	}
	ok, why := a.Healthy()
	want("Healthy before Start", ok, why, false, "new")
	ok, why = a.Ready()
	want("Ready before Start", ok, why, false, "new")
	if st := a.Stats(); st.Running || st.State != "new" {
		t.Errorf("Stats before Start: running %v state %q", st.Running, st.State)
	}

	ctx := context.Background()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err == nil {
		t.Error("second Start succeeded")
	}
	ok, why = a.Healthy()
	want("Healthy running, nothing subscribed", ok, why, true, "")
	ok, why = a.Ready()
	want("Ready running", ok, why, true, "")

	ids := addSimMarkets(a, s)
	waitAllValid(t, a, ids, 30*time.Second)
	ok, why = a.Healthy()
	want("Healthy with data flowing", ok, why, true, "")

	// The venue goes quiet: subscribed assets, no data for DataStaleAfter.
	s.Pause()
	poll.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		if ok, _ := a.Healthy(); ok {
			return errString("still healthy without data")
		}
		return nil
	})
	ok, why = a.Healthy()
	want("Healthy without data", ok, why, false, "no market data")
	ok, why = a.Ready()
	want("Ready without data", ok, why, true, "") // serving, just unhealthy
	s.Resume()
	poll.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		if ok, why := a.Healthy(); !ok {
			return errString(why)
		}
		return nil
	})

	st := a.Stats()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"running":true`, `"registry"`, `"pool"`, `"router"`, `"workers"`, `"queue_depths"`, `"worker_0"`, `"async_queue"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("stats JSON lacks %s", key)
		}
	}
	for _, key := range []string{`"lifecycle"`, `"recycler"`} {
		if strings.Contains(string(b), key) {
			t.Errorf("stats JSON has %s although it is disabled", key)
		}
	}
	if st.Workers.AliveCount != 2 || !st.Workers.IsHealthy || st.Registry.Subscribed != len(ids) {
		t.Errorf("stats: alive %d healthy %v subscribed %d; want 2 true %d", st.Workers.AliveCount, st.Workers.IsHealthy, st.Registry.Subscribed, len(ids))
	}

	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := a.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	if err := a.Stop(stopCtx); err != nil {
		t.Errorf("second Stop = %v; want nil (idempotent)", err)
	}
	ok, why = a.Healthy()
	want("Healthy after Stop", ok, why, false, "stopped")
	ok, why = a.Ready()
	want("Ready after Stop", ok, why, false, "stopped")
	if st := a.Stats(); st.Running || st.Workers.AliveCount != 0 {
		t.Errorf("Stats after Stop: running %v alive %d", st.Running, st.Workers.AliveCount)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// TestNewRejectsBadConfig: an App that cannot be built from its Config
// returns a configuration error instead of starting half-configured.
func TestNewRejectsBadConfig(t *testing.T) {
	for _, c := range []Config{
		{Workers: -1},
		{AssetsPerConn: 501},
		{WSURL: "http://not-a-websocket"},
		{GammaURL: "ftp://x"},
		{RingSize: 3},
	} {
		if _, err := New(c); err == nil || !strings.Contains(err.Error(), "cannot configure engine") {
			t.Errorf("New(%+v) = %v; want a configuration error", c, err)
		}
	}
}
