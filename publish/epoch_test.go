package publish

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/polyfeed/polyfeed/internal/natsd"
	"github.com/polyfeed/polyfeed/internal/poll"
	"github.com/polyfeed/polyfeed/internal/sim"
)

// TestEpochRisesAcrossRestarts: a second publisher on the same streams
// starts every asset at an epoch above the first one's, even when the
// stream holds an epoch from the future.
func TestEpochRisesAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	future := time.Now().Add(time.Hour).UnixMilli()
	var first map[string][]int64
	var firstIDs []string
	for run := 0; run < 2; run++ {
		t.Run(fmt.Sprint("run", run), func(t *testing.T) {
			r := newRig(t, rigConfig{
				sim:  sim.Config{Seed: 15, Markets: 4, Rate: 200},
				nats: natsd.Config{DataDir: dir},
			})
			r.waitValid()
			msgs := r.readStream(EventsStream(DefaultPrefix))
			got := r.epochs(msgs)
			if run == 0 {
				first, firstIDs = got, r.ids
				// A book from the future, as a clock-skewed publisher
				// would leave it, for one asset.
				js, _ := jetstream.New(r.nc)
				id := firstIDs[0]
				m := &nats.Msg{Subject: Subject(DefaultPrefix, TypeBook, id), Header: nats.Header{}}
				m.Header.Set(jetstream.MsgIDHeader, msgID(id, future, 1))
				m.Data = fmt.Appendf(nil, `{"v":1,"type":"book","asset_id":%q,"market":"","epoch":%d,"seq":1,"ts_ms":1,"bids":[],"asks":[],"tick_size":"0.01","valid":false}`, id, future)
				if _, err := js.PublishMsg(context.Background(), m); err != nil {
					t.Fatal(err)
				}
				return
			}
			_ = r.waitTruth()
			for _, id := range r.ids {
				es := got[id]
				if len(es) < 2 {
					t.Fatalf("asset %s: epochs %v; want the first run's and a new one", id, es)
				}
				newest := es[len(es)-1]
				if newest <= first[id][0] {
					t.Errorf("asset %s: new epoch %d not above the first run's %d", id, newest, first[id][0])
				}
			}
			if es := got[firstIDs[0]]; es[len(es)-1] <= future {
				t.Errorf("asset %s: new epoch %d not above the stream's %d", firstIDs[0], es[len(es)-1], future)
			}
		})
	}
}

// TestYieldToHigherEpoch: a book with a higher epoch for an asset appears
// on the stream (another publisher took it); ours stops publishing it and
// keeps publishing the others.
func TestYieldToHigherEpoch(t *testing.T) {
	r := newRig(t, rigConfig{
		sim:  sim.Config{Seed: 16, Markets: 4, Rate: 400},
		nats: natsd.Config{Memory: true},
		pub:  func(c *Config) { c.BookEvery = 5 },
	})
	r.waitValid()
	id := r.ids[0]
	o, _ := r.pub.owners.Load(id)
	higher := o.epoch + 1
	m := &nats.Msg{Subject: Subject(DefaultPrefix, TypeBook, id), Header: nats.Header{}, Data: []byte(`{}`)}
	m.Header.Set(jetstream.MsgIDHeader, msgID(id, higher, 1))
	if err := r.nc.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	poll.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		if st := r.pub.Stats(); st.Yielded != 1 {
			return fmt.Errorf("yielded %d assets; want 1", st.Yielded)
		}
		return nil
	})
	count := func() (mine, others int) {
		for _, sm := range r.readStream(EventsStream(DefaultPrefix)) {
			if sm.Asset == id && sm.Epoch == o.epoch {
				mine++
			} else if sm.Asset != id {
				others++
			}
		}
		return
	}
	// Messages queued before the yield may still land: wait until ours stop.
	mine0, others0 := -1, 0
	poll.For(t, 10*time.Second, 300*time.Millisecond, func() error {
		m, o := count()
		if m != mine0 {
			mine0, others0 = m, o
			return fmt.Errorf("asset %s: still %d messages of ours", id, m)
		}
		return nil
	})
	time.Sleep(time.Second) // what must not happen needs time to not happen
	mine1, others1 := count()
	if mine1 != mine0 {
		t.Errorf("asset %s: %d more messages after yielding", id, mine1-mine0)
	}
	if others1 <= others0 {
		t.Errorf("other assets: no new messages (%d then %d)", others0, others1)
	}
}

// TestClosedIsLast: an expired market's assets get status closed, and
// nothing after it, while the venue still sends their events.
func TestClosedIsLast(t *testing.T) {
	r := newRig(t, rigConfig{
		sim:  sim.Config{Seed: 17, Markets: 4, Rate: 400},
		nats: natsd.Config{Memory: true},
	})
	r.waitValid()
	m := r.markets[0]
	r.pub.MarketExpired(m)
	poll.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		if st := r.pub.Stats(); st.Closed != uint64(len(m.AssetIDs)) {
			return fmt.Errorf("closed %d assets; want %d", st.Closed, len(m.AssetIDs))
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond)
	r.sim.Pause()
	last := map[string]streamMsg{}
	for _, sm := range r.readStream(EventsStream(DefaultPrefix)) {
		last[sm.Asset] = sm
	}
	for _, id := range m.AssetIDs {
		if l := last[id]; l.Type != TypeStatus || l.State != StateClosed {
			t.Errorf("asset %s: last message %s/%s; want status closed", id, l.Type, l.State)
		}
	}
	rebuild(t, DefaultPrefix, r.readStream(EventsStream(DefaultPrefix))) // fails on anything after closed
}
