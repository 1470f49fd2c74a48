package publish

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/polyfeed/polyfeed/internal/natsd"
	"github.com/polyfeed/polyfeed/internal/poll"
	"github.com/polyfeed/polyfeed/internal/sim"
)

// TestStreamEqualsTruth: through a real engine and a real server, every
// asset's stream, replayed by the consumer rules, ends equal to the
// simulator's books, with no gap; BOOKS holds each asset's latest book.
func TestStreamEqualsTruth(t *testing.T) {
	r := newRig(t, rigConfig{
		sim:  sim.Config{Seed: 11, Markets: 12, Rate: 800},
		nats: natsd.Config{Memory: true},
	})
	r.waitValid()
	time.Sleep(time.Second) // let the simulator's churn of levels run
	books := r.waitTruth()
	for id, rb := range books {
		if rb.gaps != 0 {
			t.Errorf("asset %s: %d gaps in a healthy run", id, rb.gaps)
		}
	}
	st := r.pub.Stats()
	if st.Dropped != 0 || st.Published == 0 || st.Connection != "CONNECTED" || !st.Ready {
		t.Errorf("stats %+v; want published, none dropped, connected", st)
	}
	// BOOKS: one message per asset, by direct get of the last by subject.
	js, err := jetstream.New(r.nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bs, err := js.Stream(ctx, BooksStream(DefaultPrefix))
	if err != nil {
		t.Fatal(err)
	}
	poll.For(t, 10*time.Second, 100*time.Millisecond, func() error {
		info, err := bs.Info(ctx)
		if err != nil {
			return err
		}
		if info.State.Msgs != uint64(len(r.ids)) {
			return errorf("BOOKS holds %d messages; want %d (one per asset)", info.State.Msgs, len(r.ids))
		}
		return nil
	})
	for _, id := range r.ids[:3] {
		m, err := bs.GetLastMsgForSubject(ctx, Subject(DefaultPrefix, TypeBook, id))
		if err != nil {
			t.Fatalf("direct get of %s's book: %v", id, err)
		}
		if asset, _, _, ok := parseMsgID(m.Header.Get(jetstream.MsgIDHeader)); !ok || asset != id {
			t.Errorf("BOOKS message for %s has id %q", id, m.Header.Get(jetstream.MsgIDHeader))
		}
	}
}
