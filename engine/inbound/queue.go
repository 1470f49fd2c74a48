// Package inbound is the router's multi-producer inbound queue (the seed's
// "async_queue"): frames and control requests that arrive while another
// goroutine is routing wait here, and whoever routes next takes everything
// queued in one swap (engine/router.go: the routing role).
//
// Why not a channel: frames are data, their bytes must be copied out of gws's
// reused read buffer, and the router wants them in bulk. Producers copy into
// one growing arena under a short mutex (one lock per frame, never per event);
// the router swaps the arena for an empty spare, so in steady state nothing
// allocates and the router holds the lock only for the swap.
//
// The arena is bounded by maxBytes. A producer that finds it full waits
// (blocking that socket's reader) and the wait is counted in Stalls: this
// happens only when the whole engine is saturated, and it is visible.
//
// Concurrency: Push, PushControl, Close and the counters are safe for any
// number of goroutines; Swap is for one consumer at a time (the routing
// role's holder), which owns the returned batch until its next Swap.
package inbound

import (
	"sync"
	"sync/atomic"
)

// Queue holds frames and control requests of type C (the router's *control)
// in arrival order. C's zero value marks a frame record, so a control request
// must not be the zero value (a nil pointer).
type Queue[C any] struct {
	mu       sync.Mutex
	notFull  sync.Cond // signalled after a swap
	cur      *Batch[C]
	spare    *Batch[C]
	maxBytes int
	closed   bool

	// frames is what the routing role's holder checks when it lets go
	// (router.release) and before it routes a frame of its own
	// (router.drainQueued). It changes only under mu, together with the
	// arena, so it never hides a queued record: a count taken outside the
	// lock after one's Push returned it. Counted after the unlock, a record
	// already swapped out could leave the count below the records still
	// queued, and a producer that then took the role would route its next
	// frame ahead of its own queued one (one asset's events reordered).
	frames atomic.Int64 // frames and control requests queued now (depth)
	bytes  atomic.Int64 // bytes queued now
	stalls atomic.Int64 // producer waits for space
}

// Rec locates one frame in a batch's arena, or carries a control request.
type Rec[C any] struct {
	ConnID int64
	Off    int
	N      int
	Recv   int64 // receive time, Unix nanoseconds
	Ctl    C     // a control request, or C's zero value for a frame
}

// Batch is what one Swap takes: the frames' bytes and their records.
type Batch[C any] struct {
	Data []byte
	Recs []Rec[C]
}

// Frame returns rec's bytes, valid until the consumer's next Swap.
func (b *Batch[C]) Frame(rec *Rec[C]) []byte { return b.Data[rec.Off : rec.Off+rec.N] }

func (b *Batch[C]) reset() {
	b.Data = b.Data[:0]
	b.Recs = b.Recs[:0]
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
func (b *Batch[C]) release(now *Batch[C]) {
	if c := cap(b.Data); c > keepArenaBytes && len(now.Data) < c/8 {
		b.Data = nil
	}
	if c := cap(b.Recs); c > keepArenaRecs && len(now.Recs) < c/8 {
		b.Recs = nil
	}
}

// New returns a queue whose arena holds at most maxBytes of frames (a
// single larger frame is still taken when the arena is empty).
func New[C any](maxBytes int) *Queue[C] {
	q := &Queue[C]{
		cur:      &Batch[C]{},
		spare:    &Batch[C]{},
		maxBytes: maxBytes,
	}
	q.notFull.L = &q.mu
	return q
}

// Push copies frame into the queue. It returns false if the queue is closed.
// Safe for concurrent use by any number of producers. // hot path
func (q *Queue[C]) Push(connID int64, frame []byte, recv int64) bool {
	q.mu.Lock()
	for !q.closed && len(q.cur.Data) > 0 && len(q.cur.Data)+len(frame) > q.maxBytes {
		q.stalls.Add(1)
		q.notFull.Wait()
	}
	if q.closed {
		q.mu.Unlock()
		return false
	}
	off := len(q.cur.Data)
	q.cur.Data = append(q.cur.Data, frame...)
	q.cur.Recs = append(q.cur.Recs, Rec[C]{ConnID: connID, Off: off, N: len(frame), Recv: recv})
	q.frames.Add(1)
	q.bytes.Add(int64(len(frame)))
	q.mu.Unlock()
	return true
}

// PushControl queues a control request behind every frame already queued.
// It returns false if the queue is closed.
func (q *Queue[C]) PushControl(c C) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	q.cur.Recs = append(q.cur.Recs, Rec[C]{Ctl: c})
	q.frames.Add(1)
	q.mu.Unlock()
	return true
}

// Swap returns everything queued, or nil if nothing is. The returned batch
// belongs to the caller (the routing role's holder) until its next Swap.
func (q *Queue[C]) Swap() *Batch[C] {
	q.mu.Lock()
	if len(q.cur.Recs) == 0 {
		q.mu.Unlock()
		return nil
	}
	b := q.cur
	q.spare.reset()
	q.spare.release(b)
	q.cur, q.spare = q.spare, b
	q.frames.Add(-int64(len(b.Recs)))
	q.bytes.Add(-int64(len(b.Data)))
	q.notFull.Broadcast()
	q.mu.Unlock()
	return b
}

// Close wakes blocked producers; later pushes are refused.
func (q *Queue[C]) Close() {
	q.mu.Lock()
	q.closed = true
	q.notFull.Broadcast()
	q.mu.Unlock()
}

// Frames is the number of frames and control requests queued now.
func (q *Queue[C]) Frames() int64 { return q.frames.Load() }

// Bytes is the number of frame bytes queued now.
func (q *Queue[C]) Bytes() int64 { return q.bytes.Load() }

// Stalls counts the producers' waits for space since the queue was made.
func (q *Queue[C]) Stalls() int64 { return q.stalls.Load() }
