package engine

import (
	"sync"
	"sync/atomic"
	"time"
)

// inboundQueue is the router's multi-producer inbound queue (the seed's
// "async_queue"): every connection's read goroutine appends whole frames, the
// router takes everything queued in one swap.
//
// Why not a channel: frames are data, their bytes must be copied out of gws's
// reused read buffer, and the router wants them in bulk. Producers copy into
// one growing arena under a short mutex (one lock per frame, never per event);
// the router swaps the arena for an empty spare, so in steady state nothing
// allocates and the router holds the lock only for the swap.
//
// The arena is bounded by maxBytes. A producer that finds it full waits
// (blocking that socket's reader) and the wait is counted in stalls: the
// router is the only consumer and never blocks on workers for long, so this
// happens only when the whole engine is saturated, and it is visible.
type inboundQueue struct {
	mu       sync.Mutex
	notFull  sync.Cond // signalled by the router after a swap
	cur      *frameBatch
	spare    *frameBatch
	maxBytes int
	closed   bool

	// Router parking: the router sets sleeping before it re-checks the queue
	// and blocks on wake; producers send on wake (non-blocking) only when
	// sleeping is set, so waking costs nothing while the router is busy.
	sleeping atomic.Bool
	wake     chan struct{} // buffer 1: a pending wake-up is never lost

	// idle bounds the router's park; reused across parks (router only) so
	// parking allocates nothing: at a few thousand frames/s the router parks
	// between most frames, and a timer per park was most of the engine's
	// steady-state allocations.
	idle *time.Timer

	frames atomic.Int64 // frames queued now (depth)
	bytes  atomic.Int64 // bytes queued now
	stalls atomic.Int64 // producer waits for space
}

// frameRec locates one frame in a batch's arena, or carries a control request.
type frameRec struct {
	connID int64
	off    int
	n      int
	recv   int64
	ctl    *control
}

type frameBatch struct {
	data []byte
	recs []frameRec
}

func (b *frameBatch) reset() {
	b.data = b.data[:0]
	b.recs = b.recs[:0]
}

func newInboundQueue(maxBytes int) *inboundQueue {
	q := &inboundQueue{
		cur:      &frameBatch{},
		spare:    &frameBatch{},
		maxBytes: maxBytes,
		wake:     make(chan struct{}, 1),
	}
	q.notFull.L = &q.mu
	return q
}

// push copies frame into the queue. It returns false if the queue is closed.
// Safe for concurrent use by any number of producers. // hot path
func (q *inboundQueue) push(connID int64, frame []byte, recv int64) bool {
	q.mu.Lock()
	for !q.closed && len(q.cur.data) > 0 && len(q.cur.data)+len(frame) > q.maxBytes {
		q.stalls.Add(1)
		q.notFull.Wait()
	}
	if q.closed {
		q.mu.Unlock()
		return false
	}
	off := len(q.cur.data)
	q.cur.data = append(q.cur.data, frame...)
	q.cur.recs = append(q.cur.recs, frameRec{connID: connID, off: off, n: len(frame), recv: recv})
	q.mu.Unlock()
	q.frames.Add(1)
	q.bytes.Add(int64(len(frame)))
	q.signal()
	return true
}

// pushControl queues a control request behind every frame already queued.
func (q *inboundQueue) pushControl(c *control) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	q.cur.recs = append(q.cur.recs, frameRec{ctl: c})
	q.mu.Unlock()
	q.frames.Add(1)
	q.signal()
	return true
}

func (q *inboundQueue) signal() {
	if q.sleeping.Load() {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// take returns everything queued, waiting up to idle for something to arrive.
// The returned batch belongs to the router until the next take. It returns
// nil when the queue is empty after the wait.
func (q *inboundQueue) take(done <-chan struct{}, idle time.Duration) *frameBatch {
	if b := q.swap(); b != nil {
		return b
	}
	// Spin briefly: a burst usually continues within microseconds.
	for range 64 {
		if b := q.swap(); b != nil {
			return b
		}
	}
	q.sleeping.Store(true)
	defer q.sleeping.Store(false)
	// Re-check after announcing sleep: a producer that appended before it saw
	// sleeping=true has its frame visible to this swap (both go through mu).
	if b := q.swap(); b != nil {
		return b
	}
	// Go 1.23 timers: Reset and Stop leave no stale tick in C.
	if q.idle == nil {
		q.idle = time.NewTimer(idle)
	} else {
		q.idle.Reset(idle)
	}
	select {
	case <-q.wake:
	case <-done:
	case <-q.idle.C:
	}
	q.idle.Stop()
	return q.swap()
}

func (q *inboundQueue) swap() *frameBatch {
	q.mu.Lock()
	if len(q.cur.recs) == 0 {
		q.mu.Unlock()
		return nil
	}
	b := q.cur
	q.spare.reset()
	q.cur, q.spare = q.spare, b
	q.notFull.Broadcast()
	q.mu.Unlock()
	q.frames.Add(-int64(len(b.recs)))
	q.bytes.Add(-int64(len(b.data)))
	return b
}

// close wakes blocked producers; later pushes are refused.
func (q *inboundQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.notFull.Broadcast()
	q.mu.Unlock()
}
