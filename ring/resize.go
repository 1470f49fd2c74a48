package ring

// Resizing a ring while it is in use.
//
// A ring cannot be resized in place while the consumer reads it, so Resize
// links a successor behind it instead: the producer publishes what it staged,
// links the successor and from then on produces only into it; the consumer
// drains the old ring, then follows the link (Next) and consumes from the
// successor. FIFO order holds because every item of the old ring was
// published before the link, and the consumer moves on only once the old
// ring is empty. The old ring becomes garbage once both sides have left it.
// The successor may be larger (a burst filled the ring) or smaller (the
// burst is over and its memory can go back).
//
// Why no item is lost at the switch: the producer's tail store (Publish)
// comes before its store of next; the consumer loads next before it
// re-checks the tail (Next). Go's atomics are sequentially consistent, so a
// consumer that sees the link also sees every item published into the old
// ring. A consumer parked in Wait is woken by Resize exactly as by Publish
// (park.go), with next playing the part of tail.

// Resize publishes everything staged in q, links a new empty ring of at
// least capacity slots behind q and returns it. The producer must use only
// the returned ring afterwards. Producer only.
func (q *SPSC[T]) Resize(capacity int) *SPSC[T] {
	q.Publish()
	n := New[T](capacity)
	q.next.Store(n)
	if q.sleeping.Load() != 0 {
		q.notify()
	}
	return n
}

// Next returns the successor linked by Resize once q holds no published
// item, and nil otherwise (nothing linked, or items still to pop from q).
// The consumer must use only the returned ring afterwards. Consumer only.
func (q *SPSC[T]) Next() *SPSC[T] {
	n := q.next.Load()
	if n == nil || q.ready() {
		return nil
	}
	return n
}

// Successor returns the ring linked behind q, or nil. Safe from any
// goroutine (for gauges such as the length of a whole chain).
func (q *SPSC[T]) Successor() *SPSC[T] { return q.next.Load() }

// Pending reports whether the consumer has work: a published item in q, or
// a successor to move to. Safe from any goroutine; from the consumer it is
// exact.
func (q *SPSC[T]) Pending() bool {
	return q.head.Load() != q.tail.Load() || q.next.Load() != nil
}
