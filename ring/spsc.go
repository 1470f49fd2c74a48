// Package ring provides SPSC, a bounded lock-free single-producer
// single-consumer queue that carries events from polyfeed's router to one
// worker.
//
// Concurrency: exactly one goroutine (the producer) may call TryStage,
// Publish, TryPush, Free and Resize; exactly one goroutine (the consumer) may
// call TryPop, PopBatch, Wait and Next. Len, Cap, Successor and Pending may be
// called from any goroutine.
// The producer and the consumer may be the same goroutine.
//
// The producer stages items privately and makes them visible with one
// atomic store per Publish, so a batch (for example every event decoded
// from one socket frame) costs one fenced store instead of one per item.
// An idle consumer parks in Wait and costs no CPU; Publish touches the wake
// channel only when the consumer is actually parked.
//
//	q := ring.New[Event](1024)
//	// producer
//	for _, ev := range events {
//		if !q.TryStage(ev) {
//			// full: apply the backpressure policy (drop and count, or retry)
//		}
//	}
//	q.Publish()
//	// consumer
//	buf := make([]Event, 64)
//	for q.Wait(done) {
//		n := q.PopBatch(buf)
//		handle(buf[:n])
//	}
package ring

import (
	"math/bits"
	"sync/atomic"
)

// cacheLine is the padding between fields written by different cores. 128
// rather than 64 bytes because Intel's spatial prefetcher pulls 64-byte lines
// in pairs, so neighbours within 128 bytes still interfere; the cost is under
// 1 KiB per ring.
const cacheLine = 128

// maxCapacity keeps the rounded capacity representable as an int.
const maxCapacity = 1 << (bits.UintSize - 2)

// SPSC is a bounded lock-free single-producer single-consumer FIFO queue.
//
// Only one goroutine may produce (TryStage, Publish, TryPush, Free) and only
// one may consume (TryPop, PopBatch, Wait) at a time; Len and Cap are safe
// from any goroutine. An SPSC must be created with New and must not be
// copied.
//
// Items staged by TryStage are invisible to the consumer until Publish. A
// popped slot is zeroed so the ring does not keep pointers in T alive for the
// garbage collector.
type SPSC[T any] struct {
	// Read-only after New, read by both sides.
	buf  []T
	mask uint64
	wake chan struct{} // see park.go

	// Every group below sits on its own cache line(s). A full line of
	// padding on each side keeps groups apart whatever the allocation's
	// alignment.
	_ [cacheLine]byte

	// tail: items [0, tail) are published. Written by the producer on
	// Publish, read by the consumer when its cached copy runs dry.
	tail atomic.Uint64
	_    [cacheLine]byte

	// Producer-private: stage is the next slot to write (tail <= stage);
	// headCache is the last head the producer saw, so a producer that is
	// not near full never reads the consumer's line.
	stage     uint64
	headCache uint64
	_         [cacheLine]byte

	// head: items [0, head) are consumed. Written by the consumer on every
	// pop, read by the producer only when its cached copy says full.
	head atomic.Uint64
	_    [cacheLine]byte

	// Consumer-private: the last tail the consumer saw.
	tailCache uint64
	parks     uint64 // times the consumer blocked on wake; tests read it
	// beforePark, if set (tests only), runs in Wait after the last empty
	// check and before the consumer announces sleep: the window in which a
	// Publish finds no sleeper and sends nothing.
	beforePark func()
	_          [cacheLine]byte

	// sleeping is 1 while the consumer is parked or about to park. Written
	// by the consumer only around parking, loaded by every Publish: it
	// stays shared (cheap to load) in the producer's cache while the
	// consumer is busy.
	sleeping atomic.Uint32
	_        [cacheLine]byte

	// next is the successor linked by Resize (resize.go); nil until then.
	next atomic.Pointer[SPSC[T]]
}

// New returns an empty ring holding at least capacity items: capacity is
// rounded up to a power of two, and to at least 2. It panics if capacity is
// less than 1 or too large to allocate, as make does for a bad length.
func New[T any](capacity int) *SPSC[T] {
	if capacity < 1 || capacity > maxCapacity {
		panic("ring: capacity out of range")
	}
	n := 2
	if capacity > 2 {
		n = 1 << bits.Len(uint(capacity-1))
	}
	return &SPSC[T]{
		buf:  make([]T, n),
		mask: uint64(n - 1),
		wake: make(chan struct{}, 1), // one pending wake-up is all a single consumer needs
	}
}

// TryStage writes v into the next free slot without making it visible to the
// consumer; Publish does that. It reports false, leaving the ring unchanged,
// if the ring is full (staged items count as used). Producer only.
func (q *SPSC[T]) TryStage(v T) bool { // hot path
	s := q.stage
	if s-q.headCache > q.mask {
		q.headCache = q.head.Load()
		if s-q.headCache > q.mask {
			return false
		}
	}
	q.buf[s&q.mask] = v
	q.stage = s + 1
	return true
}

// Publish makes every staged item visible to the consumer with one atomic
// store, and wakes the consumer if it is parked in Wait. Publishing nothing
// is free. Producer only.
func (q *SPSC[T]) Publish() { // hot path
	s := q.stage
	if s == q.tail.Load() { // the producer's own field: no other writer
		return
	}
	q.tail.Store(s)
	if q.sleeping.Load() != 0 { // see park.go for why this cannot miss a sleeper
		q.notify()
	}
}

// TryPush is TryStage followed by Publish. Pushing items one at a time costs
// a fenced store each; stage a batch and Publish once where possible.
// Producer only.
func (q *SPSC[T]) TryPush(v T) bool {
	if !q.TryStage(v) {
		return false
	}
	q.Publish()
	return true
}

// Free returns how many more items the producer can stage right now. The
// consumer only ever frees slots, so at least Free() further TryStage calls
// will succeed. A producer that finds the ring full should wait until Free
// covers its next batch rather than retry slot by slot: each retry reads the
// consumer's cache line, which then moves between the cores for every item.
// Producer only.
func (q *SPSC[T]) Free() int {
	q.headCache = q.head.Load()
	return len(q.buf) - int(q.stage-q.headCache)
}

// TryPop removes and returns the oldest published item. It reports false if
// no published item is available. Each successful call does one atomic
// store; PopBatch amortises it. Consumer only.
func (q *SPSC[T]) TryPop() (T, bool) { // hot path
	var zero T
	h := q.head.Load() // the consumer's own field: no other writer
	if h == q.tailCache {
		q.tailCache = q.tail.Load()
		if h == q.tailCache {
			return zero, false
		}
	}
	i := h & q.mask
	v := q.buf[i]
	q.buf[i] = zero
	q.head.Store(h + 1)
	return v, true
}

// PopBatch moves up to len(dst) published items, oldest first, into dst and
// returns how many it moved, with one atomic store for the whole batch.
// Consumer only.
func (q *SPSC[T]) PopBatch(dst []T) int { // hot path
	h := q.head.Load()
	avail := q.tailCache - h
	if avail < uint64(len(dst)) {
		q.tailCache = q.tail.Load()
		avail = q.tailCache - h
	}
	n := min(avail, uint64(len(dst)))
	if n == 0 {
		return 0
	}
	i := h & q.mask
	first := min(n, uint64(len(q.buf))-i) // up to the end of buf, then wrap
	copy(dst, q.buf[i:i+first])
	clear(q.buf[i : i+first])
	if rest := n - first; rest > 0 {
		copy(dst[first:n], q.buf[:rest])
		clear(q.buf[:rest])
	}
	q.head.Store(h + n)
	return int(n)
}

// Len returns the number of published, not yet popped items. Staged items
// are not counted. From a goroutine other than the consumer it is a snapshot
// that may already be stale.
func (q *SPSC[T]) Len() int {
	h := q.head.Load() // head first: head <= tail at every instant, so tail-h cannot underflow
	t := q.tail.Load()
	// Between the two loads the consumer may pop and the producer refill,
	// so a third party can see more than Cap; clamp.
	return int(min(t-h, uint64(len(q.buf))))
}

// Cap returns the number of slots, the rounded-up capacity given to New.
func (q *SPSC[T]) Cap() int { return len(q.buf) }
