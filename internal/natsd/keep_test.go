package natsd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/polyfeed/polyfeed/internal/fulldisk"
	"github.com/polyfeed/polyfeed/internal/poll"
)

// startWithStream starts a server storing in dir, with one file stream
// "T" on t.> holding n messages.
func startWithStream(t *testing.T, dir string, n int) (*Server, jetstream.JetStream) {
	t.Helper()
	s, err := New(Config{DataDir: dir, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(context.Background()) })
	nc, err := s.Conn()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := js.CreateStream(cctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := js.Publish(cctx, "t.x", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	return s, js
}

// publishes reports whether the stream "T" stores a message now.
func publishes(js jetstream.JetStream) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := js.Publish(ctx, "t.x", []byte("again"))
	return err
}

// TestJetStreamComesBack: the server turns JetStream off the way it does
// when a write finds the disk full (ShutdownJetStream, from
// handleOutOfSpace). Without the keeper it would stay off; with it,
// JetStream comes back with the stream and its messages, and the outage is
// counted.
func TestJetStreamComesBack(t *testing.T) {
	s, js := startWithStream(t, t.TempDir(), 3)
	if err := s.srv.ShutdownJetStream(); err != nil {
		t.Fatal(err)
	}
	if s.srv.JetStreamEnabled() {
		t.Fatal("JetStream still on after ShutdownJetStream")
	}
	poll.For(t, 15*time.Second, 50*time.Millisecond, func() error {
		if st := s.Stats(); st.JetStreamOutages != 1 || st.JetStreamRestarts != 1 || st.JetStreamDown {
			return fmt.Errorf("stats %+v: want one outage, one restart, up", st)
		}
		return publishes(js)
	})
	if n, err := testutil.GatherAndCount(registry(s), "polyfeed_nats_jetstream_restarts_total"); err != nil || n != 1 {
		t.Errorf("metrics: %d restart series, %v", n, err)
	}
	if err := testutil.CollectAndCompare(s.Collector(), strings.NewReader(`
# HELP polyfeed_nats_jetstream_restarts_total Times JetStream was restarted after such an outage.
# TYPE polyfeed_nats_jetstream_restarts_total counter
polyfeed_nats_jetstream_restarts_total 1
`), "polyfeed_nats_jetstream_restarts_total"); err != nil {
		t.Error(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	str, err := js.Stream(ctx, "T")
	if err != nil {
		t.Fatal(err)
	}
	info, err := str.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs < 4 { // the three before, and at least one after
		t.Errorf("stream holds %d messages after the restart; want the 3 from before and the new ones", info.State.Msgs)
	}
}

// TestJetStreamComesBackAfterFullDisk fills a real file system (a 256 MiB
// tmpfs; needs root to mount, skipped otherwise): the stream's write fails
// and it refuses every message after, the keeper waits while the disk stays
// full, and restarts JetStream once a file is removed; the stream stores
// messages again.
func TestJetStreamComesBackAfterFullDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a tmpfs and fills it; runs without -short")
	}
	dir := fulldisk.Mount(t, "256m") // TestJetStreamComesBack covers the keeper without root
	s, js := startWithStream(t, filepath.Join(dir, "nats"), 3)

	// Fill the disk, leaving less than the stream's next block needs.
	filler, err := fulldisk.Fill(dir, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	big := []byte(strings.Repeat("x", 32<<10))
	poll.For(t, 20*time.Second, 10*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := js.Publish(ctx, "t.x", big); err == nil {
			return errors.New("the stream still stores messages")
		}
		return nil
	})
	// Still full: it stays down, and is not restarted only to fail again.
	time.Sleep(jsRetryEvery + 2*jsCheckEvery) // one retry period: nothing to poll for
	if st := s.Stats(); !st.JetStreamDown || st.JetStreamOutages != 1 || st.JetStreamRestarts != 0 {
		t.Fatalf("stats %+v with the disk still full: want down, one outage, no restart", st)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	poll.For(t, 20*time.Second, 50*time.Millisecond, func() error {
		if st := s.Stats(); st.JetStreamDown {
			return fmt.Errorf("stats %+v: want up", st)
		}
		return publishes(js)
	})
	if st := s.Stats(); st.JetStreamOutages != 1 || st.JetStreamRestarts != 1 {
		t.Errorf("stats %+v: want one outage and one restart", st)
	}
}

func registry(s *Server) *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(s.Collector())
	return r
}

// TestBackoff: an outage right after a restart doubles the wait up to its
// cap; a stable minute starts over.
func TestBackoff(t *testing.T) {
	var b backoff
	t0 := time.Unix(1_000_000, 0)
	if b.outage(t0) || b.wait != jsRetryEvery {
		t.Fatalf("first outage: repeat or wait %v; want a first, %v", b.wait, jsRetryEvery)
	}
	now := t0
	want := jsRetryEvery
	for range 10 {
		now = now.Add(b.wait)
		b.back(now)
		now = now.Add(time.Second) // fails again at once
		want = min(2*want, jsRetryMax)
		if !b.outage(now) || b.wait != want {
			t.Fatalf("repeat outage: wait %v; want a repeat, %v", b.wait, want)
		}
	}
	if b.wait != jsRetryMax {
		t.Fatalf("wait %v after ten repeats; want the cap %v", b.wait, jsRetryMax)
	}
	b.back(now)
	if b.outage(now.Add(jsStableAfter)) || b.wait != jsRetryEvery {
		t.Fatalf("after a stable minute: wait %v; want a first outage, %v", b.wait, jsRetryEvery)
	}
}
