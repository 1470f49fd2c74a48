package cluster

import (
	"context"
	"errors"
	"testing"
	"time"
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
