package stream

import "time"

// tracker applies the contract's consumer rules to every asset's book. It knows
// nothing of NATS: the consumer feeds it messages and, when it asks, books fetched
// from the books stream. Only the consumer's run goroutine calls it.
type tracker struct {
	assets       map[string]*asset
	c            *counters
	refetchEvery time.Duration
	// live is false while the consumer replays the look-back window: an asset that
	// has not had a book yet then waits for its first book in the window instead of
	// fetching one.
	live bool
}

// asset is the rules' state for one asset.
type asset struct {
	book  Book
	epoch int64 // highest epoch seen
	// synced: a book of epoch was applied and every message since, in order.
	synced bool
	// hadBook: some book was ever applied (from either stream).
	hadBook bool
	// high is the highest seq seen in epoch, applied or not. A book below it is
	// old (it would move the book backwards); a book from the books stream repairs
	// an out-of-sync asset only if it reaches high-1.
	high      int64
	nextFetch time.Time
	closedAt  time.Time // when the book last became Closed
}

// verdict is what handle tells the consumer to do after one message.
type verdict struct {
	a       *asset
	changed bool // the book or its state changed: call the handler
	fetch   bool // fetch this asset's last book from the books stream, then offer it
}

func newTracker(c *counters, refetchEvery time.Duration) *tracker {
	return &tracker{assets: make(map[string]*asset), c: c, refetchEvery: refetchEvery}
}

func (t *tracker) get(id, market string) *asset {
	a := t.assets[id]
	if a == nil {
		a = &asset{book: Book{Asset: id, Market: market, State: Syncing, Reason: "joining"}}
		t.assets[id] = a
	}
	return a
}

// handle applies one message from the events stream by the contract's rules.
func (t *tracker) handle(m *Message, now time.Time) verdict {
	a := t.get(m.Asset, m.Market)
	v := verdict{a: a}
	if m.Epoch < a.epoch {
		t.c.ignored.Add(1)
		return v
	}
	if m.Epoch > a.epoch {
		if a.epoch != 0 {
			t.c.epochChanges.Add(1)
		}
		a.epoch = m.Epoch
		a.high = 0
		a.nextFetch = time.Time{}
		if a.synced {
			a.synced = false
			a.book.State, a.book.Reason = Syncing, "new epoch"
			v.changed = true
		}
	}
	old := m.Seq < a.high || a.synced && m.Seq == a.high
	if m.Seq > a.high {
		a.high = m.Seq
	}
	if m.Type == TypeBook {
		if old {
			t.c.ignored.Add(1)
			return v
		}
		t.applyBook(a, m)
		v.changed = true
		return v
	}
	if !a.synced {
		return t.unsynced(a, m, now, v)
	}
	if m.Seq <= a.book.Seq {
		t.c.ignored.Add(1)
		return v
	}
	if m.Seq > a.book.Seq+1 {
		t.c.gaps.Add(1)
		t.desync(a, "gap")
		v.changed = true
		return t.unsynced(a, m, now, v)
	}
	switch m.Type {
	case TypeDelta:
		for _, ch := range m.Changes {
			a.book.apply(ch)
		}
		if !a.book.bestMatches(m) {
			t.c.mismatches.Add(1)
			t.desync(a, "best price mismatch")
			v.changed = true
			return t.unsynced(a, m, now, v)
		}
	case TypeTrade:
		a.book.Last = Trade{Price: m.Price, Size: m.Size, Side: m.Side, TsMs: m.TsMs}
	case TypeTick:
		a.book.TickSize = m.TickSize
	case TypeStatus:
		switch m.State {
		case StatusStale:
			t.c.staleNotices.Add(1)
			a.book.State, a.book.Reason = Stale, m.Reason
		case StatusClosed:
			t.c.closed.Add(1)
			a.book.State, a.book.Reason = Closed, m.Reason
			a.closedAt = now
		}
		// live is informational: only a valid book ends a stale state.
	}
	a.book.Market = m.Market
	a.book.Seq, a.book.TsMs = m.Seq, m.TsMs
	t.c.applied.Add(1)
	v.changed = true
	return v
}

// unsynced handles a non-book message for an asset without a usable book: it waits
// for the asset's first book while replaying the window, otherwise it asks for a
// fetch from the books stream at most once per refetchEvery. With a fetch the
// consumer, not handle, decides whether the message ends up applied or ignored.
func (t *tracker) unsynced(a *asset, m *Message, now time.Time, v verdict) verdict {
	if !a.hadBook && !t.live || now.Before(a.nextFetch) {
		t.c.ignored.Add(1)
		return v
	}
	a.nextFetch = now.Add(t.refetchEvery)
	v.fetch = true
	return v
}

func (t *tracker) desync(a *asset, reason string) {
	a.synced = false
	a.book.State, a.book.Reason = Syncing, reason
}

func (t *tracker) applyBook(a *asset, m *Message) {
	a.book.reset(m)
	a.synced, a.hadBook = true, true
	a.high = max(a.high, m.Seq)
	a.nextFetch = time.Time{}
	if m.Valid {
		a.book.State, a.book.Reason = Live, ""
	} else {
		t.c.staleNotices.Add(1)
		a.book.State, a.book.Reason = Stale, "book not valid"
	}
	t.c.applied.Add(1)
}

// offer gives an unsynced asset a book from the books stream. It is taken when it is
// of a higher epoch, or of the same epoch and reaches the newest message seen
// (high-1), so that message and the ones after it apply on top.
func (t *tracker) offer(a *asset, m *Message) bool {
	if a.synced {
		return false
	}
	ok := m.Epoch > a.epoch || m.Epoch == a.epoch && m.Seq >= a.high-1
	if !ok {
		t.c.resyncMisses.Add(1)
		return false
	}
	if m.Epoch > a.epoch {
		if a.epoch != 0 {
			t.c.epochChanges.Add(1)
		}
		a.epoch, a.high = m.Epoch, 0
	}
	t.applyBook(a, m)
	t.c.resyncs.Add(1)
	return true
}

// forget drops the assets whose book is Closed since before cutoff. A later
// message of such an asset (a new epoch: the market is tracked again) starts it
// afresh.
func (t *tracker) forget(cutoff time.Time) {
	for id, a := range t.assets {
		if a.book.State == Closed && a.closedAt.Before(cutoff) {
			delete(t.assets, id)
			t.c.forgotten.Add(1)
		}
	}
}

// missed counts a fetch that found no book or failed.
func (t *tracker) missed() { t.c.resyncMisses.Add(1) }
