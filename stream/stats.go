package stream

import "sync/atomic"

// Stats are a consumer's counters since Start. Every field only grows.
type Stats struct {
	Received     uint64 // messages read from the events stream (for the selected assets)
	Applied      uint64 // messages applied to a book, books from the books stream included
	Ignored      uint64 // duplicates, older seqs, lower epochs, messages before an asset's first book
	Gaps         uint64 // seq jumps within an epoch
	Mismatches   uint64 // deltas whose best_bid/best_ask disagreed with the book after applying them
	Resyncs      uint64 // books taken from the books stream to repair a gap or join an asset
	ResyncMisses uint64 // books fetched from the books stream that could not repair (too old, none, or fetch failed)
	EpochChanges uint64 // an asset moved to a higher epoch
	StaleNotices uint64 // stale statuses and books with valid false
	Closed       uint64 // closed statuses
	Forgotten    uint64 // closed books dropped after Config.ForgetClosed
	DecodeErrors uint64 // messages that broke the contract (bad JSON, fields, subject)
	Restarts     uint64 // times the events consumer was opened again: after an error, on a recreated stream, or when it stopped delivering (its node lost)
}

// counters is Stats with atomics: the run goroutine writes, anyone reads.
type counters struct {
	received, applied, ignored, gaps, mismatches, resyncs, resyncMisses   atomic.Uint64
	epochChanges, staleNotices, closed, forgotten, decodeErrors, restarts atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Received:     c.received.Load(),
		Applied:      c.applied.Load(),
		Ignored:      c.ignored.Load(),
		Gaps:         c.gaps.Load(),
		Mismatches:   c.mismatches.Load(),
		Resyncs:      c.resyncs.Load(),
		ResyncMisses: c.resyncMisses.Load(),
		EpochChanges: c.epochChanges.Load(),
		StaleNotices: c.staleNotices.Load(),
		Closed:       c.closed.Load(),
		Forgotten:    c.forgotten.Load(),
		DecodeErrors: c.decodeErrors.Load(),
		Restarts:     c.restarts.Load(),
	}
}
