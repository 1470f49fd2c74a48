// Package engine keeps a live L2 order book for every active Polymarket market: it discovers
// markets, spreads their assets over a pool of WebSocket connections, routes every event to the
// worker that owns the asset's book, retires expired markets and recycles sick connections.
//
// Concurrency: each component documents its own contract in its type comment. The Registry may
// be read and mutated from any number of goroutines; its readers never wait for its writers.
package engine
