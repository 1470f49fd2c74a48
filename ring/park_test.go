package ring

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/internal/poll"
)

// waitFor polls cond every millisecond until it holds, failing the test after
// a deadline generous enough for a loaded machine.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, 30*time.Second, what, cond)
}

// parked reports whether the consumer has announced it is going to sleep and
// no wake token is pending: it is blocked or about to block in Wait.
func (q *SPSC[T]) parked() bool { return q.sleeping.Load() == 1 && len(q.wake) == 0 }

// startWait runs q.Wait(done) in a goroutine and returns its result channel.
func startWait[T any](q *SPSC[T], done <-chan struct{}) <-chan bool {
	res := make(chan bool, 1)
	go func() { res <- q.Wait(done) }()
	return res
}

func result(t *testing.T, res <-chan bool) bool {
	t.Helper()
	select {
	case ok := <-res:
		return ok
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return")
		return false
	}
}

func TestWaitReturnsAtOnceWhenReady(t *testing.T) {
	q := New[int](4)
	q.TryPush(1)
	closed := make(chan struct{})
	close(closed)
	if !q.Wait(closed) {
		t.Fatal("Wait with a published item and done closed = false; want true (drain first)")
	}
	if !q.Wait(nil) {
		t.Fatal("Wait with a published item = false")
	}
}

func TestWaitFalseWhenDoneClosed(t *testing.T) {
	q := New[int](4)
	closed := make(chan struct{})
	close(closed)
	if q.Wait(closed) {
		t.Fatal("Wait on an empty ring with done closed = true")
	}
	if q.sleeping.Load() != 0 {
		t.Fatal("Wait returned with sleeping still set: the next Publish would pay for a wake-up")
	}
}

func TestWaitWokenByPublish(t *testing.T) {
	defer goleak.VerifyNone(t)
	q := New[int](4)
	res := startWait(q, nil)
	waitFor(t, "the consumer to park", q.parked)
	if !q.TryPush(42) {
		t.Fatal("TryPush = false")
	}
	if !result(t, res) {
		t.Fatal("Wait = false after Publish; want true")
	}
	if v, ok := q.TryPop(); !ok || v != 42 {
		t.Fatalf("TryPop() = %d, %v; want 42, true", v, ok)
	}
}

func TestWaitStagedDoesNotWake(t *testing.T) {
	defer goleak.VerifyNone(t)
	q := New[int](4)
	done := make(chan struct{})
	res := startWait(q, done)
	waitFor(t, "the consumer to park", q.parked)
	q.TryStage(1)
	if len(q.wake) != 0 {
		t.Fatal("TryStage sent a wake-up; only Publish may")
	}
	q.Publish()
	if !result(t, res) {
		t.Fatal("Wait = false after Publish; want true")
	}
	close(done)
}

func TestWaitUnblocksOnDone(t *testing.T) {
	defer goleak.VerifyNone(t)
	q := New[int](4)
	done := make(chan struct{})
	res := startWait(q, done)
	waitFor(t, "the consumer to park", q.parked)
	close(done)
	if result(t, res) {
		t.Fatal("Wait = true after done closed on an empty ring")
	}
	if q.sleeping.Load() != 0 {
		t.Fatal("sleeping still set after Wait returned")
	}
}

// TestWaitIgnoresStaleToken: a wake token left from an earlier race must not
// make Wait report items on an empty ring.
func TestWaitIgnoresStaleToken(t *testing.T) {
	defer goleak.VerifyNone(t)
	q := New[int](4)
	q.wake <- struct{}{}
	done := make(chan struct{})
	res := startWait(q, done)
	// Parked with the token consumed: Wait woke, re-checked and parked again.
	waitFor(t, "the consumer to consume the stale token and park again", q.parked)
	select {
	case ok := <-res:
		t.Fatalf("Wait returned %v on an empty ring with a stale token", ok)
	default:
	}
	close(done)
	if result(t, res) {
		t.Fatal("Wait = true on an empty ring")
	}
}

// TestWaitRechecksAfterAnnouncing publishes in the one window a careless
// park would lose: after the consumer's last empty check, before it sets
// sleeping. Publish sees no sleeper and sends nothing, so only the re-check
// after announcing can find the item.
func TestWaitRechecksAfterAnnouncing(t *testing.T) {
	defer goleak.VerifyNone(t)
	q := New[int](4)
	q.beforePark = func() {
		if q.Len() == 0 {
			q.TryPush(7) // same goroutine as the consumer: still one producer
		}
	}
	done := make(chan struct{})
	defer close(done)
	if !result(t, startWait(q, done)) {
		t.Fatal("Wait = false; want true")
	}
	if len(q.wake) != 0 {
		t.Fatal("Publish sent a wake-up although nobody was asleep")
	}
	if v, ok := q.TryPop(); !ok || v != 7 {
		t.Fatalf("TryPop() = %d, %v; want 7, true", v, ok)
	}
}

// TestNoLostWakeup bounces one item between two goroutines over two rings,
// each side blocking in Wait, for many cycles. The sender publishes at
// varying moments of the receiver's Wait: right away (spin stage), after a
// few yields, or once the receiver has announced it is going to sleep
// (the re-check window and the blocked state). A lost wake-up leaves one side
// blocked until the deadline closes done, and fails the test.
func TestNoLostWakeup(t *testing.T) {
	cycles := 200_000
	if testing.Short() || raceEnabled {
		cycles = 20_000
	}
	ping, pong := New[int](2), New[int](2)
	done := make(chan struct{})
	var once sync.Once
	stop := func() { once.Do(func() { close(done) }) }
	timer := time.AfterFunc(time.Minute, stop)
	defer timer.Stop()

	// send publishes v on to, timed by mode relative to the peer's Wait.
	send := func(to *SPSC[int], v, mode int) {
		switch mode {
		case 0: // immediately
		case 1: // after a few yields: lands in the spin or yield stage
			for range v % 5 {
				runtime.Gosched()
			}
		default: // once the peer announced sleep: the re-check window or blocked
			for !to.parked() {
				select {
				case <-done:
					return
				default:
				}
				runtime.Gosched()
			}
		}
		to.TryPush(v)
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()
	wg.Add(1)
	go func() { // echo side
		defer wg.Done()
		rng := rand.New(rand.NewPCG(7, 8))
		for range cycles {
			if !ping.Wait(done) {
				return
			}
			v, _ := ping.TryPop()
			send(pong, v, rng.IntN(3))
		}
	}()

	rng := rand.New(rand.NewPCG(9, 10))
	for i := range cycles {
		send(ping, i, rng.IntN(3))
		if !pong.Wait(done) {
			t.Fatalf("lost wake-up: cycle %d of %d got no reply before the deadline", i, cycles)
		}
		if v, ok := pong.TryPop(); !ok || v != i {
			t.Fatalf("cycle %d: reply = %d, %v; want %d, true", i, v, ok, i)
		}
	}
	wg.Wait()
	// The forced-park cycles must really have blocked, or this test proved nothing.
	if ping.parks == 0 || pong.parks == 0 {
		t.Fatalf("parks: ping %d, pong %d; want both > 0", ping.parks, pong.parks)
	}
	t.Logf("%d cycles; parks: ping %d, pong %d", cycles, ping.parks, pong.parks)
}
