package engine

import (
	"sync"
	"sync/atomic"
)

// inboundQueue is the router's multi-producer inbound queue (the seed's
// "async_queue"): frames and control requests that arrive while another
// goroutine is routing wait here, and whoever routes next takes everything
// queued in one swap (router.go: the routing role).
//
// Why not a channel: frames are data, their bytes must be copied out of gws's
// reused read buffer, and the router wants them in bulk. Producers copy into
// one growing arena under a short mutex (one lock per frame, never per event);
// the router swaps the arena for an empty spare, so in steady state nothing
// allocates and the router holds the lock only for the swap.
//
// The arena is bounded by maxBytes. A producer that finds it full waits
// (blocking that socket's reader) and the wait is counted in stalls: this
// happens only when the whole engine is saturated, and it is visible.
type inboundQueue struct {
	mu       sync.Mutex
	notFull  sync.Cond // signalled after a swap
	cur      *frameBatch
	spare    *frameBatch
	maxBytes int
	closed   bool

	// frames is what the routing role's holder checks when it lets go
	// (router.release): counted after the record is in the arena.
	frames atomic.Int64 // frames and control requests queued now (depth)
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

// Arenas grow to the largest burst they take (the startup dump: several MiB)
// and would keep that memory for good. An emptied arena larger than these
// bounds is let go once the queue is back to a trickle (the batch just taken
// is under an eighth of its size); the next pushes grow a small one again.
// The allocation happens once per burst, never in steady state.
const (
	keepArenaBytes = 1 << 20
	keepArenaRecs  = 1 << 12
)

// release drops b's emptied arena if it is large and the queue's load, as
// shown by the batch now being taken, is far below it.
func (b *frameBatch) release(now *frameBatch) {
	if c := cap(b.data); c > keepArenaBytes && len(now.data) < c/8 {
		b.data = nil
	}
	if c := cap(b.recs); c > keepArenaRecs && len(now.recs) < c/8 {
		b.recs = nil
	}
}

func newInboundQueue(maxBytes int) *inboundQueue {
	q := &inboundQueue{
		cur:      &frameBatch{},
		spare:    &frameBatch{},
		maxBytes: maxBytes,
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
	return true
}

// swap returns everything queued, or nil if nothing is. The returned batch
// belongs to the caller (the routing role's holder) until its next swap.
func (q *inboundQueue) swap() *frameBatch {
	q.mu.Lock()
	if len(q.cur.recs) == 0 {
		q.mu.Unlock()
		return nil
	}
	b := q.cur
	q.spare.reset()
	q.spare.release(b)
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
