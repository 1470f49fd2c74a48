package sim

import (
	"fmt"
	"strconv"
	"time"

	"github.com/polyfeed/polyfeed/fixed"
)

// Market is the public description of one simulated market (what Gamma lists).
type Market struct {
	ID              string
	ConditionID     string
	Question        string
	Slug            string
	TokenIDs        []string // CLOB token ids; index i pairs with Outcomes[i]
	Outcomes        []string
	EndDate         time.Time
	Closed          bool
	EnableOrderBook bool
	NegRisk         bool
	TickSize        fixed.Point
}

const (
	tickCoarse = fixed.Point(10_000) // 0.01
	tickFine   = fixed.Point(1_000)  // 0.001
	one        = fixed.Point(fixed.Scale)
	maxDepth   = 15
)

// token is one CLOB asset: the YES (index 0) or NO (index 1) side of a binary market.
type token struct {
	id        string
	m         *market
	idx       int
	book      truthBook
	lastTrade fixed.Point
}

// sub is one socket's subscription to a market: mask has bit i set when the socket holds
// token i; stall has bit i set when that asset is stalled on this socket (fault).
type sub struct {
	s           *socket
	mask, stall uint8
}

// market is owned by the generator; every field is guarded by Server.mu.
type market struct {
	idNum       int64
	id          string
	conditionID string
	questionID  string
	question    string
	slug        string
	outcomes    [2]string
	tokens      [2]*token
	createdMs   int64
	endMs       int64
	closed      bool
	enableBook  bool
	negRisk     bool
	tick        fixed.Point
	winner      int
	oneSided    bool // lost a whole side (onesided fault); the YES book has one empty side
	rng         rng
	subs        []sub
	liveIdx     int // index in Server.live; -1 when not generating
}

// newMarket builds a market deterministically from the seed and its numeric id.
func newMarket(seed uint64, idNum int64, seq int, cfg *Config, createdMs, endMs int64) *market {
	m := &market{idNum: idNum, id: strconv.FormatInt(idNum, 10), createdMs: createdMs, endMs: endMs, liveIdx: -1}
	m.rng = newRNG(seed, uint64(idNum))
	r := &m.rng
	m.conditionID = "0x" + hexDigits(r, 64)
	m.questionID = "0x" + hexDigits(r, 64)
	m.question = fmt.Sprintf("Will simulated event %d resolve Yes?", idNum)
	m.slug = fmt.Sprintf("sim-event-%d", idNum)
	m.outcomes = [2]string{"Yes", "No"}
	if idNum%3 == 0 {
		m.outcomes = [2]string{"Up", "Down"}
		m.question = fmt.Sprintf("Simulated asset %d Up or Down?", idNum)
	}
	m.enableBook = cfg.NoBookEvery < 0 || seq%cfg.NoBookEvery != cfg.NoBookEvery-1
	m.negRisk = r.chance(0.1)
	for i := range m.tokens {
		m.tokens[i] = &token{id: decimalDigits(r, 77), m: m, idx: i}
	}
	// Initial mid anywhere in (0.02, 0.98): some markets start in the fine-tick zone.
	mid := fixed.Point(20_000 + r.intn(960_000))
	m.tick = tickCoarse
	if mid < 40_000 || mid > 960_000 {
		m.tick = tickFine
	}
	mid = mid / m.tick * m.tick
	bid := mid - m.tick*fixed.Point(r.intn(2))
	ask := mid + m.tick*fixed.Point(1+r.intn(2))
	for n := 3 + r.intn(8); n > 0 && bid >= m.tick; n-- {
		m.setLevel(sideBid, bid, randSize(r))
		bid -= m.tick * fixed.Point(1+r.intn(3))
	}
	for n := 3 + r.intn(8); n > 0 && ask <= one-m.tick; n-- {
		m.setLevel(sideAsk, ask, randSize(r))
		ask += m.tick * fixed.Point(1+r.intn(3))
	}
	m.tokens[0].lastTrade = mid
	m.tokens[1].lastTrade = one - mid
	return m
}

// setLevel sets a level of the YES book and the mirrored level of the NO book: a YES bid at
// p is a NO ask at 1-p, as on the venue, so the two books always agree.
func (m *market) setLevel(side int, price, size fixed.Point) {
	m.tokens[0].book.set(side, price, size)
	m.tokens[1].book.set(1-side, one-price, size)
}

// randSize is a size in [0.01, 5000.00] in cents.
func randSize(r *rng) fixed.Point { return fixed.Point(1+r.intn(500_000)) * 10_000 }

func hexDigits(r *rng, n int) string {
	const hexd = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = hexd[r.intn(16)]
	}
	return string(b)
}

func decimalDigits(r *rng, n int) string {
	b := make([]byte, n)
	b[0] = byte('1' + r.intn(9))
	for i := 1; i < n; i++ {
		b[i] = byte('0' + r.intn(10))
	}
	return string(b)
}

func (m *market) export() Market {
	return Market{
		ID: m.id, ConditionID: m.conditionID, Question: m.question, Slug: m.slug,
		TokenIDs: []string{m.tokens[0].id, m.tokens[1].id},
		Outcomes: []string{m.outcomes[0], m.outcomes[1]},
		EndDate:  time.UnixMilli(m.endMs).UTC(), Closed: m.closed,
		EnableOrderBook: m.enableBook, NegRisk: m.negRisk, TickSize: m.tick,
	}
}
