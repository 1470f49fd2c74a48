package ring

import "sync/atomic"

// Chain is the consumer's view of a ring that may be resized under it: it
// pops from the ring it holds and moves on to the successor linked by Resize
// once that ring is drained. Consumer methods (PopBatch) need one consumer
// at a time; Pending, Len and Ring are safe from any goroutine.
type Chain[T any] struct {
	cur atomic.Pointer[SPSC[T]]
}

// NewChain returns a chain that starts at q.
func NewChain[T any](q *SPSC[T]) *Chain[T] {
	c := &Chain[T]{}
	c.cur.Store(q)
	return c
}

// Ring returns the ring the consumer is on now.
func (c *Chain[T]) Ring() *SPSC[T] { return c.cur.Load() }

// PopBatch pops up to len(dst) items, following the chain. Consumer only. // hot path
func (c *Chain[T]) PopBatch(dst []T) int {
	q := c.cur.Load()
	for {
		if n := q.PopBatch(dst); n > 0 {
			return n
		}
		next := q.Next()
		if next == nil {
			return 0
		}
		q = next
		c.cur.Store(q)
	}
}

// Pending reports whether the consumer has work (an item, or a successor
// to move to). Any goroutine; exact on the consumer's.
func (c *Chain[T]) Pending() bool { return c.cur.Load().Pending() }

// Len is the number of items queued over the whole chain. Any goroutine
// (a snapshot): counting only the newest ring made a busy consumer look idle
// while it drained the ring before.
func (c *Chain[T]) Len() int {
	n := 0
	for q := c.cur.Load(); q != nil; q = q.Successor() {
		n += q.Len()
	}
	return n
}
