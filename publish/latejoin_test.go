package publish

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/polyfeed/polyfeed/internal/natsd"
	"github.com/polyfeed/polyfeed/internal/sim"
)

// TestLateJoiner follows docs/STREAM.md's late-joiner recipe, with the
// book period shortened to 1 s: replay EVENTS from a little more than one
// period back, start each asset at its first book, take the assets with
// no book in that window from BOOKS, and end equal to the truth.
func TestLateJoiner(t *testing.T) {
	r := newRig(t, rigConfig{
		sim:  sim.Config{Seed: 20, Markets: 10, Rate: 800},
		nats: natsd.Config{Memory: true},
		pub:  func(c *Config) { c.BookMaxAge = time.Second },
	})
	r.waitValid()
	time.Sleep(3 * time.Second) // the late joiner arrives
	from := time.Now().Add(-1500 * time.Millisecond)
	r.sim.Pause()
	js, err := jetstream.New(r.nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bs, err := js.Stream(ctx, BooksStream(DefaultPrefix))
	if err != nil {
		t.Fatal(err)
	}
	checkFor(t, 30*time.Second, 300*time.Millisecond, func() error {
		msgs := r.readStreamFrom(EventsStream(DefaultPrefix), from)
		seeded := map[string]*refBook{}
		withBook := map[string]bool{}
		for _, m := range msgs {
			if m.Type == TypeBook {
				withBook[m.Asset] = true
			}
		}
		fromBooks := 0
		for _, id := range r.ids {
			if withBook[id] {
				continue
			}
			raw, err := bs.GetLastMsgForSubject(ctx, Subject(DefaultPrefix, TypeBook, id))
			if err != nil {
				return fmt.Errorf("asset %s: no book in the window and none in BOOKS: %v", id, err)
			}
			var m streamMsg
			if err := json.Unmarshal(raw.Data, &m); err != nil {
				t.Fatal(err)
			}
			m.subject, m.msgID = raw.Subject, raw.Header.Get(jetstream.MsgIDHeader)
			seeded = rebuildOnto(t, DefaultPrefix, seeded, []streamMsg{m})
			fromBooks++
		}
		books := rebuildOnto(t, DefaultPrefix, seeded, msgs)
		if err := r.equalTruth(books); err != nil {
			return fmt.Errorf("%w (%d of %d assets from BOOKS)", err, fromBooks, len(r.ids))
		}
		return nil
	})
}
