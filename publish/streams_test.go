package publish

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestStreamLayout: the streams are what docs/STREAM.md's table says, and
// creating them again (a restart) changes nothing and fails nothing.
func TestStreamLayout(t *testing.T) {
	nc := memoryNATS(t)
	ctx := context.Background()
	for range 2 {
		p, err := New(Config{Conn: nc, Workers: 1, Prefix: "pf-x", Storage: jetstream.MemoryStorage, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Start(ctx); err != nil {
			t.Fatalf("Start: %v", err)
		}
		if err := p.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	js, _ := jetstream.New(nc)
	ev, err := js.Stream(ctx, "PF-X_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	bk, err := js.Stream(ctx, "PF-X_BOOKS")
	if err != nil {
		t.Fatal(err)
	}
	e, b := ev.CachedInfo().Config, bk.CachedInfo().Config
	if !slices.Equal(e.Subjects, []string{"pf-x.v1.>"}) || e.MaxAge != 10*time.Minute || e.MaxBytes != 1<<30 ||
		!e.AllowDirect || e.Discard != jetstream.DiscardOld || e.Duplicates != DefaultDuplicates {
		t.Errorf("EVENTS config %+v", e)
	}
	if len(b.Subjects) != 0 || len(b.Sources) != 1 || b.Sources[0].Name != "PF-X_EVENTS" ||
		b.Sources[0].FilterSubject != "pf-x.v1.book.>" || b.MaxMsgsPerSubject != 1 || !b.AllowDirect || b.MaxAge != time.Hour {
		t.Errorf("BOOKS config %+v", b)
	}
}

// TestDuplicatesBounds: the duplicate window, which the server holds in
// memory for every message (docs/STREAM.md, Memory of the embedded
// server), is refused below AckTimeout (the publisher's one duplicate, a
// batch's last message asked again, would escape it) and above the
// events' max age (JetStream refuses it); the default sits between.
func TestDuplicatesBounds(t *testing.T) {
	for _, tc := range []struct {
		dup, ack time.Duration
		ok       bool
	}{
		{0, 0, true}, // defaults: 30 s against 5 s and 10 min
		{time.Second, 0, false},
		{time.Second, 500 * time.Millisecond, true},
		{DefaultEventsMaxAge, 0, true},
		{DefaultEventsMaxAge + time.Second, 0, false},
	} {
		c := Config{Workers: 1, Duplicates: tc.dup, AckTimeout: tc.ack}
		err := c.fill()
		bad := err != nil && strings.Contains(err.Error(), "duplicate window")
		if bad == tc.ok {
			t.Errorf("Duplicates %v, AckTimeout %v: %v; want ok=%v", tc.dup, tc.ack, err, tc.ok)
		}
	}
	if DefaultDuplicates < DefaultAckTimeout || DefaultDuplicates > DefaultEventsMaxAge {
		t.Errorf("default window %v outside [%v, %v]", DefaultDuplicates, DefaultAckTimeout, DefaultEventsMaxAge)
	}
}
