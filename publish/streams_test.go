package publish

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/polyfeed/polyfeed/internal/natsd"
)

// TestStreamLayout: the streams are what docs/STREAM.md's table says, and
// creating them again (a restart) changes nothing and fails nothing.
func TestStreamLayout(t *testing.T) {
	srv, err := natsd.New(natsd.Config{Memory: true, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(ctx)
	nc, err := srv.Conn()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
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
		!e.AllowDirect || e.Discard != jetstream.DiscardOld || e.Duplicates != 2*time.Minute {
		t.Errorf("EVENTS config %+v", e)
	}
	if len(b.Subjects) != 0 || len(b.Sources) != 1 || b.Sources[0].Name != "PF-X_EVENTS" ||
		b.Sources[0].FilterSubject != "pf-x.v1.book.>" || b.MaxMsgsPerSubject != 1 || !b.AllowDirect || b.MaxAge != time.Hour {
		t.Errorf("BOOKS config %+v", b)
	}
}
