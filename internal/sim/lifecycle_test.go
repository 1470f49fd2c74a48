package sim

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestStopReleasesEverything: Stop with open, subscribed sockets and a running driver leaves
// no goroutine behind and is idempotent.
func TestStopReleasesEverything(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f, _ := ParseFaults("stall=socket:0.5@1h,close=1011@1h")
	s, err := New(Config{Seed: 3, Markets: 20, Rate: 20000, Faults: f})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err == nil {
		t.Fatal("second Start accepted")
	}
	var clients []*wsClient
	for i := 0; i < 3; i++ {
		c := dial(t, s)
		c.subscribe(t, bookAssets(s), true)
		clients = append(clients, c)
	}
	waitFor(t, "events", func() bool { return s.Stats().Sent["price_change"] > 100 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	for _, c := range clients {
		c.closeCode(t) // every client saw its socket end
	}
}

func TestConfigValidation(t *testing.T) {
	for _, cfg := range []Config{
		{Markets: -1}, {Rate: -5}, {Tick: 1500 * time.Microsecond}, {ChurnPerMinute: -1},
		{ResolvedDropRate: 2}, {MaxQueueBytes: 10}, {Faults: Faults{CloseCode: 1234, CloseAfter: time.Second}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}
