package publish

import "sync/atomic"

// bell wakes the one sender when any worker's handler publishes into its
// queue. The sender owns one SPSC ring per worker, and a ring's own Wait
// parks on that ring alone; the bell lets one goroutine sleep on all of
// them.
//
// The protocol is the ring's (ring/park.go has the argument in full): the
// sender stores sleeping = 1 and then looks at every queue once more; a
// handler publishes (a sequentially consistent store of the ring's tail)
// and then loads sleeping. Go's atomics are sequentially consistent, so one
// of the two sees the other and no wake-up is lost. A handler pays one
// atomic load per flush, and a channel send only when the sender is parked:
// the CompareAndSwap lets one of several handlers racing with one park
// send. A token may be stale (the sender found work before it blocked), so
// the sender treats a ring as a hint and looks at the queues again.
type bell struct {
	sleeping atomic.Int32
	_        [60]byte // written at every park, read by every flush: its own cache line
	ch       chan struct{}
}

func newBell() *bell { return &bell{ch: make(chan struct{}, 1)} }

// ring wakes the sender if it is parked (any handler).
func (b *bell) ring() {
	if b.sleeping.Load() != 0 && b.sleeping.CompareAndSwap(1, 0) {
		select {
		case b.ch <- struct{}{}:
		default: // a token is already waiting; one wakes the sender
		}
	}
}
