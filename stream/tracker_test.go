package stream

import (
	"testing"
	"time"

	"github.com/polyfeed/polyfeed/fixed"
)

func bookMsg(epoch, seq int64, valid bool, bids ...Level) *Message {
	return &Message{Type: TypeBook, Asset: "a", Market: "m", Epoch: epoch, Seq: seq, TsMs: 1,
		TickSize: fixed.MustParse("0.01"), Valid: valid, Bids: bids}
}

func deltaMsg(epoch, seq int64, side, price, size string, bestBid, bestAsk string) *Message {
	m := &Message{Type: TypeDelta, Asset: "a", Market: "m", Epoch: epoch, Seq: seq, TsMs: 2,
		Changes: []Change{{Side: side, Price: fixed.MustParse(price), Size: fixed.MustParse(size)}}}
	if bestBid != "" {
		m.BestBid, m.HasBestBid = fixed.MustParse(bestBid), true
	}
	if bestAsk != "" {
		m.BestAsk, m.HasBestAsk = fixed.MustParse(bestAsk), true
	}
	return m
}

func statusMsg(epoch, seq int64, state string) *Message {
	return &Message{Type: TypeStatus, Asset: "a", Market: "m", Epoch: epoch, Seq: seq, State: state, Reason: "r"}
}

func lv(p, s string) Level { return Level{fixed.MustParse(p), fixed.MustParse(s)} }

func TestTrackerRules(t *testing.T) {
	var c counters
	tr := newTracker(&c, time.Second)
	tr.live = true
	now := time.Unix(100, 0)
	step := func(m *Message) verdict { now = now.Add(2 * time.Second); return tr.handle(m, now) }

	// A delta before any book, once live, asks for a fetch.
	if v := step(deltaMsg(10, 3, SideBuy, "0.4", "1", "0.4", "")); !v.fetch || v.a.book.State != Syncing {
		t.Fatalf("delta before book: %+v", v)
	}
	// The books stream's book at seq 2 repairs it; seq 1 would not (needs 3-1).
	a := tr.assets["a"]
	if tr.offer(a, bookMsg(10, 1, true)) {
		t.Fatal("offer of a book older than need-1 accepted")
	}
	if !tr.offer(a, bookMsg(10, 2, true, lv("0.45", "5"))) || a.book.State != Live {
		t.Fatal("offer of book seq 2 refused")
	}
	if v := step(deltaMsg(10, 3, SideBuy, "0.46", "1", "0.46", "")); !v.changed || v.fetch {
		t.Fatalf("in-order delta: %+v", v)
	}
	if got := a.book.Bids(); len(got) != 2 || got[0] != lv("0.46", "1") {
		t.Fatalf("bids = %v", got)
	}
	// Duplicate: ignored.
	if v := step(deltaMsg(10, 3, SideBuy, "0.46", "0", "0.45", "")); v.changed {
		t.Fatal("duplicate applied")
	}
	// Gap: seq 5 after 3.
	if v := step(deltaMsg(10, 5, SideSell, "0.6", "1", "0.46", "0.6")); !v.fetch || a.book.State != Syncing || c.gaps.Load() != 1 {
		t.Fatalf("gap: %+v gaps=%d", v, c.gaps.Load())
	}
	// A book of the epoch resyncs.
	step(bookMsg(10, 6, true, lv("0.45", "5")))
	if a.book.State != Live || a.book.Seq != 6 {
		t.Fatalf("after book: %v seq %d", a.book.State, a.book.Seq)
	}
	// Lower epoch ignored.
	if v := step(bookMsg(9, 50, true)); v.changed || a.book.Epoch != 10 {
		t.Fatal("lower epoch applied")
	}
	// Stale status, then live status: still stale; then a valid book: live.
	step(statusMsg(10, 7, StatusStale))
	step(statusMsg(10, 8, StatusLive))
	if a.book.State != Stale || c.staleNotices.Load() != 1 {
		t.Fatalf("after stale+live: %v", a.book.State)
	}
	step(bookMsg(10, 9, true, lv("0.45", "5")))
	if a.book.State != Live {
		t.Fatalf("valid book did not end stale: %v", a.book.State)
	}
	// A book with valid false is stale.
	step(bookMsg(10, 10, false, lv("0.45", "5")))
	if a.book.State != Stale {
		t.Fatalf("invalid book: %v", a.book.State)
	}
	step(bookMsg(10, 11, true, lv("0.45", "5")))
	// Higher epoch delta: out of sync until a book of that epoch.
	if v := step(deltaMsg(11, 1, SideBuy, "0.3", "1", "0.45", "")); !v.fetch || a.book.State != Syncing || c.epochChanges.Load() != 1 {
		t.Fatalf("higher epoch: %+v %v", v, a.book.State)
	}
	if tr.offer(a, bookMsg(10, 12, true)) {
		t.Fatal("offer of a lower epoch accepted")
	}
	step(deltaMsg(10, 12, SideBuy, "0.3", "1", "0.45", "")) // old epoch: ignored
	step(bookMsg(11, 2, true, lv("0.44", "1")))
	if a.book.State != Live || a.book.Epoch != 11 || a.book.Bids()[0] != lv("0.44", "1") {
		t.Fatalf("new epoch book: %+v", a.book)
	}
	// A delta whose best prices disagree: mismatch, out of sync.
	if v := step(deltaMsg(11, 3, SideBuy, "0.43", "1", "0.43", "")); !v.fetch || c.mismatches.Load() != 1 {
		t.Fatalf("mismatch: %+v", v)
	}
	step(bookMsg(11, 4, true, lv("0.44", "1")))
	// Closed.
	step(statusMsg(11, 5, StatusClosed))
	if a.book.State != Closed || c.closed.Load() != 1 {
		t.Fatalf("closed: %v", a.book.State)
	}
}

func TestTrackerReplayWaitsForFirstBook(t *testing.T) {
	var c counters
	tr := newTracker(&c, time.Second)
	if v := tr.handle(deltaMsg(1, 4, SideBuy, "0.4", "1", "0.4", ""), time.Unix(1, 0)); v.fetch {
		t.Fatal("replay fetched before the window's first book")
	}
	tr.handle(bookMsg(1, 5, true), time.Unix(1, 0))
	if v := tr.handle(deltaMsg(1, 7, SideBuy, "0.4", "1", "0.4", ""), time.Unix(1, 0)); !v.fetch {
		t.Fatal("gap during replay after a book did not fetch")
	}
	// Refetch is paced.
	if v := tr.handle(deltaMsg(1, 8, SideBuy, "0.4", "1", "0.4", ""), time.Unix(1, 5e8)); v.fetch {
		t.Fatal("refetched within RefetchEvery")
	}
	if v := tr.handle(deltaMsg(1, 9, SideBuy, "0.4", "1", "0.4", ""), time.Unix(2, 1)); !v.fetch {
		t.Fatal("no refetch after RefetchEvery")
	}
}
