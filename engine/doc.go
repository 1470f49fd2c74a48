// Package engine keeps a live, correct L2 order book for every active
// Polymarket market: it discovers markets on Gamma, spreads their assets over
// a pool of market-channel WebSockets, routes every event to the worker that
// owns the asset's book, retires expired markets, and recycles sick or
// polluted connections without losing an event.
//
// # Using it
//
//	app, err := engine.New(engine.Config{
//		Handler: func(worker int) engine.Handler {
//			return engine.HandlerFunc(func(ev *engine.Event, b *book.Book) {
//				if bid, ok := b.BestBid(); ok { /* ... */ _ = bid }
//			})
//		},
//	})
//	if err != nil { ... }
//	err = app.Run(ctx) // starts, waits for SIGINT/SIGTERM or ctx, stops
//
// # The data path
//
//	conn 1..N (gws) ──frame──▶ inbound queue ──▶ router ──xxhash(asset)──▶ SPSC ring w ──▶ worker w
//	                                                                                   books[asset] ← event
//	                                                                                   Handler(w).OnEvent
//
// Routing is a role held by one goroutine at a time: the connection that
// delivers a frame while nobody routes routes it itself; one that finds the
// role taken copies its frame into the router's inbound queue and returns
// (connections never wait for a worker), and the holder routes it before
// letting go. Whoever holds the role decodes (sonic, via internal/wire),
// splits multi-asset price_changes and stages compact items into
// per-worker rings, so every ring has exactly one producer at a time;
// per-asset order is preserved end to end. Each worker owns its books
// outright and calls its own Handler; without a Handler, or with one that
// implements NonBlocking, a parked worker's items are applied by the
// routing goroutine under the worker's consumer role instead of waking it.
// Rings start small and grow for a burst; a full ring at Config.RingSize
// drops (counted) and invalidates that asset's book until a fresh snapshot,
// which the engine requests.
//
// # Concurrency
//
//   - App: Start, Stop and Run are serialised; Stats, Healthy, Ready, Book,
//     AddMarket, FrameSink and Latencies are safe from any goroutine at any
//     time (the admin HTTP server calls them concurrently).
//   - A Handler is called by one goroutine at a time per worker: its
//     worker's, or, for a NonBlocking handler whose worker is parked, the
//     goroutine that routed the event. It must not keep the *Event or
//     *book.Book beyond OnEvent, and must not block for long.
//     A Handler that also implements Ticker gets OnTick about every
//     TickPeriod in the same way, between two events, with all of the
//     worker's books (for work that has no event: idle books).
//   - Books are never touched from outside their worker: Book, removals and
//     migrations travel the data path as control requests and are answered
//     by the worker between two events.
//   - The control plane lives in sub-packages, each documenting its own
//     contract: engine/assets (the registry: any number of readers and
//     writers; readers never wait for writers), engine/venue (Conn, Pool),
//     engine/markets (Lifecycle) and engine/recycle (Recycler). Beside
//     them, engine/tap is what a recorder sees (Config.Tap); above the
//     engine, engine/metrics exports an App to Prometheus.
package engine
