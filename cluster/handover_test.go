package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestWaitBook waits for a newer book of one asset: books of other assets,
// older epochs and other message types do not end the wait; the first newer
// book does; a cancelled wait returns its context's error.
func TestWaitBook(t *testing.T) {
	d := runNATS(t)
	nc := connect(t, d.url())
	type result struct {
		epoch uint64
		err   error
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan result, 1)
	go func() {
		e, err := WaitBook(ctx, nc, "polyfeed", "A", 100)
		done <- result{e, err}
	}()
	pub := connect(t, d.url())
	send := func(body string) {
		if err := pub.Publish(BookSubject("polyfeed", "A"), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	// The waiter subscribes asynchronously, so offer the sequence until it
	// answers; every round sends what must not end the wait before the book
	// that must.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var r result
wait:
	for {
		send(`{"v":1,"type":"book","asset_id":"A","epoch":100}`)  // not newer
		send(`{"v":1,"type":"delta","asset_id":"A","epoch":200}`) // not a book
		send(`{"v":1,"type":"book","asset_id":"B","epoch":300}`)  // another asset
		send(`not json`)                                          // garbage
		send(`{"v":1,"type":"book","asset_id":"A","epoch":101}`)  // the one
		select {
		case r = <-done:
			break wait
		case <-ctx.Done():
			t.Fatal("WaitBook did not return")
		case <-tick.C:
		}
	}
	if r.err != nil || r.epoch != 101 {
		t.Fatalf("WaitBook = %d, %v; want 101", r.epoch, r.err)
	}

	short, cancelShort := context.WithCancel(context.Background())
	cancelShort()
	if _, err := WaitBook(short, nc, "polyfeed", "A", 0); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled WaitBook = %v; want context.Canceled", err)
	}
}

// fakePublisher is a Publisher whose epochs the test sets.
type fakePublisher struct {
	mu       sync.Mutex
	epochs   map[string]uint64
	restarts []uint64 // the `above` of each Restart
}

func (p *fakePublisher) Epoch(asset string) (uint64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.epochs[asset]
	return e, ok
}

func (p *fakePublisher) Restart(_ string, above uint64) {
	p.mu.Lock()
	p.restarts = append(p.restarts, above)
	p.mu.Unlock()
}

func (p *fakePublisher) set(asset string, epoch uint64) {
	p.mu.Lock()
	p.epochs[asset] = epoch
	p.mu.Unlock()
}

// handoverRig is one member's handover tracker on a real server, with the
// claims it announces recorded.
type handoverRig struct {
	t      *testing.T
	nc     *nats.Conn
	pub    *fakePublisher
	hs     *handovers
	mu     sync.Mutex
	claims []map[string]uint64
}

func newHandoverRig(t *testing.T) *handoverRig {
	d := runNATS(t)
	createStreams(t, d.url(), 1)
	r := &handoverRig{t: t, nc: connect(t, d.url()), pub: &fakePublisher{epochs: map[string]uint64{}}}
	js, err := jetstream.New(r.nc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig("h", "a")
	cfg.Publisher = r.pub
	if err := cfg.fill(); err != nil {
		t.Fatal(err)
	}
	r.hs = newHandovers(r.nc, js, &cfg, func() {})
	r.hs.announce = func(_ string, epochs map[string]uint64) {
		r.mu.Lock()
		r.claims = append(r.claims, epochs)
		r.mu.Unlock()
	}
	t.Cleanup(r.hs.stop)
	return r
}

// book publishes a book of asset under epoch and waits until the handover
// of market has seen it.
func (r *handoverRig) book(market, asset string, epoch uint64) {
	r.t.Helper()
	b := fmt.Sprintf(`{"v":1,"type":"book","asset_id":%q,"market":%q,"epoch":%d,"seq":1,"ts_ms":1,"bids":[],"asks":[]}`, asset, market, epoch)
	if err := r.nc.Publish(BookSubject("polyfeed", asset), []byte(b)); err != nil {
		r.t.Fatal(err)
	}
	checkFor(r.t, 5*time.Second, 5*time.Millisecond, func() error {
		r.hs.mu.Lock()
		defer r.hs.mu.Unlock()
		h := r.hs.m[market]
		if h == nil || h.maxSeen[asset] < epoch {
			return fmt.Errorf("book %d of %s not seen yet", epoch, asset)
		}
		return nil
	})
}

// ended collects and reports whether the market's handover ended (done;
// none time out here).
func (r *handoverRig) ended(market string) bool {
	done, timedOut, _ := r.hs.collect(time.Now(), false)
	if len(timedOut) > 0 {
		r.t.Fatalf("handovers timed out: %v", timedOut)
	}
	return slices.Contains(done, market)
}

// TestHandoverOwnFirstBook: the snapshot of a market this member hands over
// came after the handover started, so its publisher publishes the first
// book (a new epoch, above any on the stream) while the handover waits. That
// book is ours: it must not end the handover, or we stop publishing under an
// epoch above the new publisher's, which then yields to it, and nobody
// publishes the asset (the start-up defect at 2,000 markets).
func TestHandoverOwnFirstBook(t *testing.T) {
	r := newHandoverRig(t)
	if err := r.hs.start(t.Context(), "M", []string{"A"}, time.Now(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	r.pub.set("A", 500) // our first epoch
	r.book("M", "A", 500)
	if r.ended("M") {
		t.Fatal("the handover ended on our own first book")
	}
	r.book("M", "A", 400) // the new publisher's, started before ours: below it
	if r.ended("M") {
		t.Fatal("the handover ended on a book below our epoch")
	}
	r.hs.reannounce(time.Now().Add(2 * time.Second))
	r.mu.Lock()
	last := r.claims[len(r.claims)-1]
	r.mu.Unlock()
	if last["A"] != 500 {
		t.Errorf("claim %v; want our epoch 500, for the new publisher to restart above", last)
	}
	r.book("M", "A", 501) // the new publisher restarted above ours
	if !r.ended("M") {
		t.Fatal("the handover did not end on the new publisher's book above ours")
	}
}

// TestHandoverOwnRestart: our epoch rose after the handover started (a
// restart a claim asked for landed on the engine's next tick); our book of
// the new epoch must not end the handover, nor may the new publisher's
// book that is above our old epoch only.
func TestHandoverOwnRestart(t *testing.T) {
	r := newHandoverRig(t)
	r.pub.set("A", 100)
	if err := r.hs.start(t.Context(), "M", []string{"A"}, time.Now(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	r.book("M", "A", 200) // the new publisher's
	r.pub.set("A", 300)   // our restart lands before the handover is collected
	r.book("M", "A", 300)
	if r.ended("M") {
		t.Fatal("the handover ended below our current epoch 300")
	}
	r.book("M", "A", 301)
	if !r.ended("M") {
		t.Fatal("the handover did not end on a book above our current epoch")
	}
}

// TestHandoverRestartInFlight: a claim made this member restart an asset
// just before the asset moved away; the publisher applies the restart on
// its next tick, so at first Epoch still shows the old epoch. The new
// publisher's book above the old epoch must not end the handover until the
// restarted epoch is known (its book would be above the new publisher's),
// and a second claim for the same epoch does not restart the asset again.
func TestHandoverRestartInFlight(t *testing.T) {
	r := newHandoverRig(t)
	cs := newClaims(r.nc, r.hs.cfg, func() {}, func(string, map[string]uint64) {})
	r.hs.restarting = cs.restarting
	r.pub.set("A", 100)
	cs.ask("A", 150, time.Now())
	cs.ask("A", 150, time.Now()) // another member's claim, same epoch
	if n := len(r.pub.restarts); n != 1 {
		t.Errorf("%d restarts for one epoch to overtake; want 1", n)
	}
	if err := r.hs.start(t.Context(), "M", []string{"A"}, time.Now(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	r.book("M", "A", 200) // the new publisher's, above our old epoch
	if r.ended("M") {
		t.Fatal("the handover ended while our restart was in flight")
	}
	r.pub.set("A", 250) // the restart landed
	if r.ended("M") {
		t.Fatal("the handover ended below our restarted epoch 250")
	}
	r.book("M", "A", 251)
	if !r.ended("M") {
		t.Fatal("the handover did not end on a book above our restarted epoch")
	}
}
