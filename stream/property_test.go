package stream

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/polyfeed/polyfeed/fixed"
)

// model is a publisher's true book for one asset and the messages it sent.
type model struct {
	r          *rand.Rand
	epoch, seq int64
	bids, asks map[fixed.Point]fixed.Point
	msgs       []Message
	truth      map[[2]int64][2][]Level // (epoch, seq) -> bids, asks after it
}

func (m *model) side(buy bool) map[fixed.Point]fixed.Point {
	if buy {
		return m.bids
	}
	return m.asks
}

func sortedLevels(side map[fixed.Point]fixed.Point, desc bool) []Level {
	out := make([]Level, 0, len(side))
	for p, s := range side {
		out = append(out, Level{p, s})
	}
	slices.SortFunc(out, func(a, b Level) int {
		if desc {
			return cmpPoint(b.Price, a.Price)
		}
		return cmpPoint(a.Price, b.Price)
	})
	return out
}

func (m *model) emit(msg Message) {
	m.seq++
	msg.Asset, msg.Market, msg.Epoch, msg.Seq, msg.TsMs = "a", "m", m.epoch, m.seq, m.seq
	m.msgs = append(m.msgs, msg)
	m.truth[[2]int64{m.epoch, m.seq}] = [2][]Level{sortedLevels(m.bids, true), sortedLevels(m.asks, false)}
}

func (m *model) book() {
	m.emit(Message{Type: TypeBook, Bids: sortedLevels(m.bids, true), Asks: sortedLevels(m.asks, false),
		TickSize: fixed.MustParse("0.001"), Valid: true})
}

func (m *model) delta() {
	var changes []Change
	for range 1 + m.r.IntN(3) {
		buy := m.r.IntN(2) == 0
		price := fixed.Point(500_000 - 1000*(1+m.r.Int64N(30)))
		if !buy {
			price = fixed.Point(500_000 + 1000*(1+m.r.Int64N(30)))
		}
		size := fixed.Point(0)
		if m.r.IntN(3) != 0 {
			size = fixed.Point(10_000 * (1 + m.r.Int64N(1000)))
		}
		side := SideSell
		if buy {
			side = SideBuy
		}
		if size == 0 {
			delete(m.side(buy), price)
		} else {
			m.side(buy)[price] = size
		}
		changes = append(changes, Change{Side: side, Price: price, Size: size})
	}
	msg := Message{Type: TypeDelta, Changes: changes}
	if b := sortedLevels(m.bids, true); len(b) > 0 {
		msg.BestBid, msg.HasBestBid = b[0].Price, true
	}
	if a := sortedLevels(m.asks, false); len(a) > 0 {
		msg.BestAsk, msg.HasBestAsk = a[0].Price, true
	}
	m.emit(msg)
}

// TestRulesProperty: a publisher's messages reach the tracker with drops, duplicates,
// stale redeliveries and an epoch change; fetches get the latest book published so
// far (what the books stream holds). Whenever the tracker calls an asset synced, its
// book equals the truth at its (epoch, seq); after the last book it equals the end.
func TestRulesProperty(t *testing.T) {
	for seed := range uint64(50) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { rulesProperty(t, seed) })
	}
}

func rulesProperty(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 99))
	m := &model{r: r, epoch: 100, bids: map[fixed.Point]fixed.Point{}, asks: map[fixed.Point]fixed.Point{},
		truth: map[[2]int64][2][]Level{}}
	m.book()
	for i := range 600 {
		switch {
		case i == 300:
			m.epoch, m.seq = 200, 0 // a restart: new epoch, starting with a book
			m.book()
		case r.IntN(40) == 0:
			m.book()
		case r.IntN(15) == 0:
			m.emit(Message{Type: TypeTrade, Price: 500_000, Size: 1_000_000, Side: SideBuy})
		default:
			m.delta()
		}
	}
	m.book()

	var c counters
	tr := newTracker(&c, time.Second)
	tr.live = r.IntN(2) == 0
	now := time.Unix(0, 0)
	latestBook := func(upTo int) *Message {
		for i := upTo; i >= 0; i-- {
			if m.msgs[i].Type == TypeBook {
				return &m.msgs[i]
			}
		}
		return nil
	}
	var topEpoch, topSeq int64 // the newest (epoch, seq) delivered
	check := func(step int) {
		a := tr.assets["a"]
		if a == nil || !a.synced {
			return
		}
		if a.book.Epoch != topEpoch || a.book.Seq < topSeq {
			t.Fatalf("step %d: synced at %d:%d although %d:%d was delivered", step, a.book.Epoch, a.book.Seq, topEpoch, topSeq)
		}
		want, ok := m.truth[[2]int64{a.book.Epoch, a.book.Seq}]
		if !ok {
			t.Fatalf("step %d: synced at unknown epoch %d seq %d", step, a.book.Epoch, a.book.Seq)
		}
		if !slices.Equal(a.book.bids, want[0]) || !slices.Equal(a.book.asks, want[1]) {
			t.Fatalf("step %d: synced at %d:%d but book differs from truth\n got %v %v\nwant %v %v",
				step, a.book.Epoch, a.book.Seq, a.book.bids, a.book.asks, want[0], want[1])
		}
	}
	deliver := func(i, published int) {
		msg := m.msgs[i]
		seen := func(m *Message) {
			if m.Epoch > topEpoch || m.Epoch == topEpoch && m.Seq > topSeq {
				topEpoch, topSeq = m.Epoch, m.Seq
			}
		}
		seen(&msg)
		now = now.Add(2 * time.Second)
		v := tr.handle(&msg, now)
		if v.fetch {
			if b := latestBook(published); b != nil && tr.offer(v.a, b) {
				seen(b)
				tr.handle(&msg, now)
			}
		}
		check(i)
	}
	for i := range m.msgs {
		switch p := r.IntN(100); {
		case p < 6 && i != len(m.msgs)-1: // lost
		case p < 10: // duplicated
			deliver(i, i)
			deliver(i, i)
		case p < 13 && i > 0: // an old message (maybe of the old epoch) redelivered, then this one
			deliver(r.IntN(i), i)
			deliver(i, i)
		default:
			deliver(i, i)
		}
	}
	a := tr.assets["a"]
	if !a.synced || a.book.Epoch != 200 || a.book.Seq != m.seq {
		t.Fatalf("not synced at the end: synced %v at %d:%d, want 200:%d", a.synced, a.book.Epoch, a.book.Seq, m.seq)
	}
	if c.epochChanges.Load() == 0 {
		t.Error("no epoch change counted")
	}
}
