// Package gamma is the client for Polymarket's Gamma REST API, the source of
// truth for which markets exist and which of them have a live order book.
//
// The engine's lifecycle controller calls [Client.ListActive] every discovery
// interval. It walks GET /markets/keyset (cursor paging, limit ≤ 100) and falls
// back to GET /markets (offset paging, capped by the venue near offset 2000)
// when the keyset endpoint is unavailable. Every market object is decoded on
// its own and validated, so one malformed market is skipped and counted, never
// a failed page:
//
//	c, err := gamma.New(gamma.Config{Logger: log})
//	markets, stats, err := c.ListActive(ctx)
//	if err != nil {
//		// markets is valid but incomplete: do not expire what is missing.
//		// errors.Is(err, gamma.ErrSuspect): the listing reached its end but
//		// looks cut short (stats.Suspect says why); ErrPartial: paging
//		// stopped early; otherwise a request failed.
//	}
//
// Gamma encodes clobTokenIds and outcomes as JSON arrays inside JSON strings
// ("decode twice"); [DecodeMarket] turns them into slices and checks the
// invariants the rest of the engine relies on (see [Reason]).
//
// Concurrency: a [Client] is safe for concurrent use by any number of
// goroutines once New returns; it holds no per-call state. Each call's
// [DiscoverStats] belongs to its caller. The client starts no goroutines of its
// own; idle keep-alive connections of the default transport are released by
// [Client.CloseIdleConnections].
package gamma
