package engine

// NonBlocking is an optional interface a Handler implements to promise that
// its OnEvent, and its OnTick if it is a Ticker, never block: no I/O, no
// channel operation that may wait, no lock another goroutine may hold for
// long, and a bounded amount of work per call.
//
// The engine may then call such a handler on the goroutine that routed the
// event (a socket reader, or the router goroutine for ticks and controls)
// while its worker is parked, instead of waking the worker: at the venue's
// real rates that saves a goroutine wake-up per frame and most of the
// frame-to-handler latency (PERFORMANCE.md §8). Calls stay one at a time per
// worker, in venue order per asset, and the handler still must not keep
// the *Event or *book.Book after it returns. With locked or pinned workers
// or HandOffFrames, every handler runs on its worker's goroutine.
//
// A handler that can block must not implement NonBlocking: it would hold
// up a socket reader, and with it every asset on that socket.
type NonBlocking interface {
	Handler
	NonBlocking()
}

// inlineable reports whether h may run on the routing goroutine: the
// engine's own no-op handler, or one that promises not to block.
func inlineable(h Handler) bool {
	switch h.(type) {
	case nopHandler, NonBlocking:
		return true
	}
	return false
}
