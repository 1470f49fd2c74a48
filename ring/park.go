package ring

import "runtime"

// The consumer waits in three stages, cheapest wake-up first:
//
//  1. spin: re-check the ring spinChecks times. A hop between cores costs
//     ~80 ns, so an item published while the consumer spins is seen at that
//     floor, with no scheduler involved.
//  2. yield: runtime.Gosched between yieldChecks re-checks, giving the core
//     to other goroutines (on a 2-core machine the producer may need it).
//  3. park: block on the wake channel until Publish or done. Waking a parked
//     goroutine costs tens of microseconds when the machine is busy
//     (DESIGN.md), but an idle consumer then burns no CPU at all.
//
// The budgets are small on purpose: spinning longer only helps when the next
// item is a few microseconds away, and steals the core otherwise.
const (
	spinChecks  = 256
	yieldChecks = 4
)

// Parking protocol and why no wake-up is lost.
//
// Consumer (Wait, park stage):      Producer (Publish):
//
//	C1 sleeping.Store(1)              P1 tail.Store(stage)
//	C2 load tail; items? -> return    P2 if sleeping.Load() == 1:
//	C3 block on wake or done          P3     non-blocking send on wake
//
// Go's sync/atomic operations are sequentially consistent: all of them
// appear in one total order that respects each goroutine's program order.
// Take a Publish whose items the consumer must not miss. Either
//   - P1 comes before C2 in that order: C2 sees the new tail and Wait
//     returns without blocking; or
//   - C2 comes before P1: then C1 < C2 < P1 < P2, so P2 sees sleeping == 1
//     and P3 puts a token in wake (buffered: the send never blocks, and if a
//     token is already there one is enough), so C3 returns.
// Both cannot miss each other; this is the store-then-load (Dekker) pattern
// that needs the full fence of a sequentially consistent store, which is why
// a cheaper release/acquire scheme would be wrong here.
//
// Producers only pay the channel operation when sleeping is 1, i.e. at most
// around each park, never per item: P2 is a plain load on amd64, and the
// CompareAndSwap in notify makes sure only one Publish sends per park.
//
// A token can be stale: the producer may send after C2 already found items,
// or after done fired. Wait therefore treats a wake-up as a hint and
// re-checks the ring, parking again if it is empty.

// Wait blocks until at least one published item is available or a successor
// is linked by Resize (true), or done is closed (false). It returns true at once if items are already available,
// even if done is closed, so a consumer drains what it was given before it
// stops. A nil done waits for items only. Consumer only.
func (q *SPSC[T]) Wait(done <-chan struct{}) bool {
	for range spinChecks {
		if q.ready() || q.next.Load() != nil {
			return true
		}
	}
	for range yieldChecks {
		runtime.Gosched()
		if q.ready() || q.next.Load() != nil {
			return true
		}
	}
	for {
		if q.beforePark != nil {
			q.beforePark()
		}
		q.sleeping.Store(1)                    // C1
		if q.ready() || q.next.Load() != nil { // C2 (a successor is work too: Next)
			q.sleeping.Store(0)
			return true
		}
		q.parks++
		select { // C3
		case <-q.wake:
		case <-done:
			q.sleeping.Store(0)
			return false
		}
		q.sleeping.Store(0) // usually already 0: notify cleared it
		if q.ready() || q.next.Load() != nil {
			return true
		}
	}
}

// ready reports whether a published item is waiting, refreshing the
// consumer's cached tail only when the cache says empty. Consumer only.
func (q *SPSC[T]) ready() bool {
	h := q.head.Load()
	if h != q.tailCache {
		return true
	}
	q.tailCache = q.tail.Load()
	return h != q.tailCache
}

// notify wakes the parked consumer. The CompareAndSwap lets exactly one of
// several Publish calls racing with one park pay for the send.
func (q *SPSC[T]) notify() {
	if q.sleeping.CompareAndSwap(1, 0) {
		select {
		case q.wake <- struct{}{}:
		default: // a token is already pending; one wakes the consumer
		}
	}
}
