package ring

import (
	"runtime"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// One producer resizing the ring whenever it is full (growing) or empty and
// large (shrinking), one consumer following the links: every item arrives
// once, in order.
func TestResizeKeepsOrder(t *testing.T) {
	defer goleak.VerifyNone(t)
	total := 200_000
	if raceEnabled {
		total = 20_000
	}
	q := New[int](2)
	first := q
	var wg sync.WaitGroup
	wg.Add(1)
	var got, bad int
	go func() {
		defer wg.Done()
		c := first
		buf := make([]int, 7)
		want := 0
		for want < total {
			n := c.PopBatch(buf)
			if n == 0 {
				if nx := c.Next(); nx != nil {
					c = nx
					continue
				}
				c.Wait(nil)
				continue
			}
			for _, v := range buf[:n] {
				if v != want {
					bad++
				}
				want++
				got++
			}
		}
	}()
	grows, shrinks := 0, 0
	for i := range total {
		if !q.TryStage(i) {
			if q.Cap() < 1<<12 {
				q = q.Resize(q.Cap() * 2)
				grows++
			} else {
				q.Publish()
			}
			for !q.TryStage(i) {
				runtime.Gosched()
			}
		}
		if i%5 == 0 {
			q.Publish()
		}
		if i%1000 == 999 && q.Cap() > 4 && q.Len() == 0 {
			q = q.Resize(4)
			shrinks++
		}
	}
	q.Publish()
	wg.Wait()
	if got != total || bad != 0 {
		t.Fatalf("consumer got %d items, %d out of order; want %d in order", got, bad, total)
	}
	if grows == 0 {
		t.Fatal("the ring never grew: the test did not exercise Resize")
	}
	t.Logf("%d grows, %d shrinks", grows, shrinks)
}

// A consumer parked on the old ring wakes when the producer resizes it, and
// finds the successor only after the old ring is drained.
func TestResizeWakesParkedConsumer(t *testing.T) {
	defer goleak.VerifyNone(t)
	q := New[int](2)
	q.TryStage(1)
	n := q.Resize(8) // publishes 1 first
	if q.Next() != nil {
		t.Fatal("Next before the old ring is drained")
	}
	if !q.Pending() {
		t.Fatal("Pending false with an item published")
	}
	if v, ok := q.TryPop(); !ok || v != 1 {
		t.Fatalf("TryPop = %d, %v; want 1, true", v, ok)
	}
	if q.Next() != n || q.Successor() != n {
		t.Fatal("Next/Successor do not return the linked ring once drained")
	}
	if !q.Pending() || n.Pending() {
		t.Fatal("Pending: want true for a ring with a successor, false for an empty one without")
	}

	q2 := New[int](2)
	res := startWait(q2, nil)
	waitFor(t, "the consumer to park", q2.parked)
	q2.Resize(4)
	if !result(t, res) {
		t.Fatal("Wait returned false after Resize")
	}
}
