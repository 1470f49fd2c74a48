// Package publish streams the engine's books to NATS JetStream under the
// versioned wire contract of docs/STREAM.md (v1): one subject per message
// type and asset, <prefix>.v1.<type>.<asset_id>, JSON payloads, a per-asset
// epoch and seq so that consumers detect every gap.
//
// # Using it
//
//	p, err := publish.New(publish.Config{Conn: nc, Workers: 4})
//	if err != nil { ... }
//	if err := p.Start(ctx); err != nil { ... } // streams created or updated
//	app, err := engine.New(engine.Config{
//		Workers:         4,
//		Handler:         p.Handler,       // one Handler per worker
//		OnMarketExpired: p.MarketExpired, // status closed
//	})
//	... app.Run(ctx) ...
//	p.Stop(ctx) // after the engine stopped: flushes what is queued
//
// # Shape
//
//	worker 0 ──OnEvent/OnTick──▶ encode ──TryStage──▶ SPSC ring 0 ──┐
//	worker 1 ──OnEvent/OnTick──▶ encode ──TryStage──▶ SPSC ring 1 ──┼──▶ sender ──PublishMsg──▶ NATS
//	   ▲            (a bell wakes the sender when it is parked)      │   (one acknowledged batch per ≤256 msgs
//	   │                                                             │    or 5 ms, bounded unacknowledged messages)
//	   └──── inbox w: lost messages, higher epochs, closed ◀─────────┘   ack errors and timeouts, book watcher
//
// The handler runs for the engine worker that owns the book, on the
// worker's goroutine or, since it implements engine.NonBlocking, on the
// goroutine that routed the event while the worker is parked. It never waits:
// a message that does not fit its worker's queue, or that is encoded while
// NATS is unreachable, is dropped and counted, its seq stays used (consumers
// see the gap), and the asset owes a `stale` status and a fresh `book`,
// which the handler publishes on a later tick once NATS takes messages
// again. One sender goroutine serves every worker's queue, so a slow server
// stalls only the sender, never the engine. The sender publishes plain
// NATS messages and asks JetStream to acknowledge the last one of each
// batch (sender.go says why that covers the batch); only books and the
// messages it may publish a second time, to ask for an acknowledgement,
// carry Nats-Msg-Id. When the streams had to be made again, every asset
// gets a fresh book.
//
// # Concurrency
//
// New, Start and Stop are called once each by the owner, in that order;
// Stop must come after the engine stopped calling the handlers. Handler(w)
// returns worker w's engine.Handler (which also implements engine.Ticker
// and engine.NonBlocking), to be called for that worker only, one call at
// a time. MarketExpired, Stats and Collector are
// safe from any goroutine at any time.
package publish
