// Package book keeps the L2 order book of one Polymarket asset (token): the
// resting size at each price on the bid and ask side, the tick size, the last
// trade, and whether the book can be trusted.
//
// # Concurrency
//
// A Book is owned by exactly one goroutine, the worker of the asset's shard.
// No method is safe for concurrent use and none takes a lock: the owner
// applies events and may let a handler it calls synchronously read the book.
// Anything a method returns (Level, Trade, the slice filled by Levels) is a
// copy and may be kept or passed to other goroutines.
//
// # Usage
//
//	b := book.New(assetID)
//	b.ApplySnapshot(ev.Bids, ev.Asks, ev.Timestamp) // any level order; marks b valid
//	if err := b.Set(book.Bid, price, size); err != nil {
//		rejected++ // count, never log per event
//	}
//	b.Stamp(ev.Timestamp)
//	if !b.MatchesBest(change.BestBid, change.BestAsk) {
//		b.Invalidate() // diverged from the venue: wait for the next snapshot
//	}
//	bid, ok := b.BestBid()
//
// Prices are any positive fixed.Point; the package does not assume the
// venue's (0,1) range or its tick grid. Updates allocate nothing once a side
// has held as many levels as it holds now.
package book
