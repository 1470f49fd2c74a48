package publish

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/engine"
	"github.com/polyfeed/polyfeed/fixed"
	"github.com/polyfeed/polyfeed/internal/natsd"
	"github.com/polyfeed/polyfeed/internal/poll"
)

// TestSenderServesEveryWorker: one sender drains the queues of several
// workers whose handlers publish at once and in trickles with pauses (so
// the sender parks between them and only the bell can wake it); every
// message is stored and acknowledged, none dropped, and the sender stops.
func TestSenderServesEveryWorker(t *testing.T) {
	const workers, assets, events = 4, 5, 150
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
	p, err := New(Config{Conn: nc, Workers: workers, Storage: jetstream.MemoryStorage, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = p.Stop(ctx)
		}
	}()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() { // worker w: the only caller of its handler
			defer wg.Done()
			h := p.handlers[w]
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			books := make([]*book.Book, assets)
			evs := make([]engine.Event, assets)
			for k := range books {
				id := fmt.Sprintf("%d%076d", w+1, k)
				books[k] = book.New(id)
				books[k].ApplySnapshot([]book.Level{{Price: 400_000, Size: fixed.FromInt(10)}}, []book.Level{{Price: 600_000, Size: fixed.FromInt(10)}}, 1)
				evs[k] = engine.Event{Kind: engine.EventBook, AssetID: id, Market: "m", Timestamp: 1}
				h.OnEvent(&evs[k], books[k])
				evs[k].Kind, evs[k].Side, evs[k].Price = engine.EventLevel, book.Bid, 400_000
			}
			for i := range events {
				k := i % assets
				evs[k].Size = fixed.FromInt(int64(10 + i%7))
				_ = books[k].Set(evs[k].Side, evs[k].Price, evs[k].Size)
				h.OnEvent(&evs[k], books[k])
				if rng.IntN(4) == 0 { // a pause: the sender drains and parks
					time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
				}
			}
		}()
	}
	wg.Wait()
	want := uint64(workers * (assets + events))
	poll.For(t, 30*time.Second, 5*time.Millisecond, func() error {
		if st := p.Stats(); st.Queued != want || st.Published != want || st.PendingAcks != 0 {
			return fmt.Errorf("stats %+v; want %d queued and published, none pending", st, want)
		}
		return nil
	})
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, EventsStream(DefaultPrefix))
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != want {
		t.Errorf("EVENTS holds %d messages; want %d", info.State.Msgs, want)
	}
	if st := p.Stats(); st.Dropped != 0 {
		t.Errorf("%d dropped in a healthy run", st.Dropped)
	}
	stopped = true
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}
