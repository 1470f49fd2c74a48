package sim

import (
	"github.com/polyfeed/polyfeed/fixed"
)

// span is a byte range of Server.buf.
type span struct{ off, end int }

// msg is one rendered message about to be fanned out. A price_change is rendered as head,
// one entry per token and tail, so a socket holding only one token of the market gets only
// that token's entry (mask says which tokens the message concerns).
type msg struct {
	kind      kind
	m         *market
	mask      uint8
	custom    bool // only for sockets subscribed with custom_feature_enabled
	broadcast bool // to every custom-feature socket, subscribed to the market or not
	head      span
	ent       [2]span
	tail      span
}

// tickLocked generates one tick: churn, then Rate*Tick messages from randomly picked live
// markets, then flushes every socket touched. Called with s.mu held.
func (s *Server) tickLocked() {
	s.tickNo++
	s.nowMs = s.epochMs + s.tickNo*s.tickMs
	s.faults = *s.faultsPtr.Load()
	s.churnLocked()
	s.rateAcc += s.ratePerTickMilli
	n := s.rateAcc / 1000
	s.rateAcc %= 1000
	s.budget += n
	for s.budget > 0 && len(s.live) > 0 {
		m := s.live[s.sched.intn(len(s.live))]
		s.stepMarket(m)
	}
	if len(s.live) == 0 {
		s.budget = 0
	}
	s.flushTouchedLocked()
}

// stepMarket generates the next event(s) of m from its own PRNG stream.
func (s *Server) stepMarket(m *market) {
	// The one-sided fault draws from the stream only while it is on or m is one-sided,
	// so runs without it stay identical.
	if (s.faults.OneSidedRate > 0 || m.oneSided) && s.oneSidedStep(m) {
		s.checkTick(m)
		return
	}
	if m.rng.intn(100) < 90 || !s.trade(m) {
		s.priceChange(m)
	}
	s.checkTick(m)
}

// refillRate is the probability per event that a one-sided market gets a level back.
const refillRate = 0.05

// oneSidedStep applies the onesided fault to m: a two-sided market may lose a whole side,
// one price_change per removed level (YES side, NO mirrored), the last one showing the
// venue's empty-side sentinel; a one-sided market may get one level back next to the
// other side's best. It reports whether it generated the step.
func (s *Server) oneSidedStep(m *market) bool {
	r := &m.rng
	yes := &m.tokens[0].book
	if !m.oneSided {
		if !r.chance(s.faults.OneSidedRate) {
			return false
		}
		side := r.intn(2)
		prices := s.scratch[0][:0]
		prices = append(prices, yes.sides[side]...)
		s.scratch[0] = prices
		for _, l := range prices {
			m.setLevel(side, l.Price, 0)
			s.emitPriceChange(m, side, l.Price, 0)
		}
		m.oneSided = true
		s.oneSided++
		return true
	}
	if !r.chance(refillRate) {
		return false
	}
	empty := sideBid
	if yes.depth(sideAsk) == 0 {
		empty = sideAsk
	}
	other := yes.best(1 - empty)
	price := other - m.tick
	if empty == sideAsk {
		price = other + m.tick
	}
	if price < m.tick || price > one-m.tick {
		return false // the other side sits at the edge of the range: no room yet
	}
	size := randSize(r)
	m.setLevel(empty, price, size)
	s.emitPriceChange(m, empty, price, size)
	m.oneSided = false
	return true
}

// priceChange resizes, adds or deletes one YES level (and its NO mirror). Invariants kept:
// every price on the tick grid in [tick, 1-tick], bid < ask, and a side with levels keeps at
// least one (only the onesided fault empties a side, and only it refills one).
func (s *Server) priceChange(m *market) {
	r := &m.rng
	yes := &m.tokens[0].book
	side := r.intn(2)
	if yes.depth(side) == 0 {
		side = 1 - side // one-sided market: change the side it has
	}
	oldBid, oldAsk := yes.best(sideBid), yes.top(sideAsk)
	d := yes.depth(side)
	op := r.intn(100)
	var price, size fixed.Point
	switch {
	case d > 1 && (d >= maxDepth || op >= 80):
		price = yes.sides[side][r.intn(d)].Price
	case d > 0 && op < 45:
		k := r.intn(min(d, 5))
		if side == sideBid {
			k = d - 1 - k
		}
		price, size = yes.sides[side][k].Price, randSize(r)
	default:
		size = randSize(r)
		step := m.tick * fixed.Point(r.intn(6))
		if side == sideBid {
			price = oldBid - step
			if r.chance(0.3) {
				price = oldBid + m.tick
			}
			if price >= oldAsk {
				price = oldAsk - m.tick
			}
			price = max(price, m.tick)
		} else {
			price = oldAsk + step
			if r.chance(0.3) {
				price = oldAsk - m.tick
			}
			if price <= oldBid {
				price = oldBid + m.tick
			}
			price = min(price, one-m.tick)
		}
	}
	m.setLevel(side, price, size)
	s.emitPriceChange(m, side, price, size)
	if (yes.best(sideBid) != oldBid || yes.top(sideAsk) != oldAsk) && r.chance(0.5) {
		for _, t := range m.tokens {
			mg := s.begin(kindBestBidAsk, m, 1<<t.idx)
			mg.custom = true
			s.buf = appendBestBidAsk(s.buf, t, s.nowMs)
			s.end(mg)
		}
	}
}

// trade takes liquidity at the YES best bid (taker SELL) or ask (taker BUY), then sends
// last_trade_price and fresh snapshots of both tokens, as the venue does after trades.
// It reports false when no level can trade without emptying a side.
func (s *Server) trade(m *market) bool {
	r := &m.rng
	yes := &m.tokens[0].book
	takerBuy := r.intn(2) == 1
	lside, tside := sideBid, sideAsk
	if takerBuy {
		lside, tside = sideAsk, sideBid
	}
	levels := yes.sides[lside]
	if len(levels) == 0 {
		return false
	}
	lvl := levels[len(levels)-1]
	if lside == sideAsk {
		lvl = levels[0]
	}
	avail := lvl.Size
	if len(levels) == 1 {
		avail = lvl.Size / 2
	}
	cents := int(avail / 10_000)
	if cents < 1 {
		return false
	}
	qty := fixed.Point(1+r.intn(cents)) * 10_000
	m.setLevel(lside, lvl.Price, lvl.Size-qty)
	m.tokens[0].lastTrade = lvl.Price
	m.tokens[1].lastTrade = one - lvl.Price
	omit := r.chance(s.cfg.OmitTypeRate)
	mg := s.begin(kindLastTrade, m, 1)
	s.buf = appendLastTrade(s.buf, m.tokens[0], tside, lvl.Price, qty, s.nowMs, omit)
	s.end(mg)
	for _, t := range m.tokens {
		s.emitBook(m, t, r)
	}
	return true
}

func (s *Server) emitBook(m *market, t *token, r *rng) {
	omit, bs := r.chance(s.cfg.OmitTypeRate), r.chance(s.cfg.BuysSellsRate)
	mg := s.begin(kindBook, m, 1<<t.idx)
	s.buf = appendBook(s.buf, t, s.nowMs, omit, bs)
	s.end(mg)
}

// emitPriceChange sends the YES change and its NO mirror, in one message (both tokens, as
// the venue often does) or as two consecutive messages.
func (s *Server) emitPriceChange(m *market, side int, price, size fixed.Point) {
	r := &m.rng
	both := r.chance(0.6)
	for i := 0; i < 2; i++ {
		if i == 1 && both {
			break
		}
		mask := uint8(1) << i
		if both {
			mask = 3
		}
		omit := r.chance(s.cfg.OmitTypeRate)
		mg := s.begin(kindPriceChange, m, mask)
		s.buf = append(s.buf, '{')
		s.buf = appendType(s.buf, kindPriceChange, omit)
		s.buf = appendStr(s.buf, "market", m.conditionID)
		s.buf = appendKey(s.buf, "price_changes")
		s.buf = append(s.buf, '[')
		mg.head.end = len(s.buf)
		for k := 0; k < 2; k++ {
			if mask&(1<<k) == 0 {
				continue
			}
			off := len(s.buf)
			if k == 0 {
				s.buf = appendChange(s.buf, m.tokens[0], side, price, size)
			} else {
				s.buf = appendChange(s.buf, m.tokens[1], 1-side, one-price, size)
			}
			mg.ent[k] = span{off, len(s.buf)}
		}
		mg.tail.off = len(s.buf)
		s.buf = append(s.buf, ']', ',')
		s.buf = appendTS(s.buf, s.nowMs)
		s.buf = closeObj(s.buf)
		mg.tail.end = len(s.buf)
		s.deliver(mg)
	}
}

// checkTick moves m to the 0.001 grid when its YES top reaches 0.04/0.96, and back to 0.01
// (levels snapped outward, then fresh snapshots) once it is clear of 0.06/0.94.
func (s *Server) checkTick(m *market) {
	yes := &m.tokens[0].book
	bb, ba := yes.best(sideBid), yes.top(sideAsk) // an empty side counts as 0 / 1: fine grid
	old := m.tick
	switch {
	case old == tickCoarse && (bb <= 40_000 || ba >= 960_000):
		m.tick = tickFine
	case old == tickFine && bb >= 60_000 && ba <= 940_000:
		m.tick = tickCoarse
		var lv [2][]Level
		for side := range lv {
			lv[side] = append(s.scratch[side][:0], yes.sides[side]...)
			s.scratch[side] = lv[side]
		}
		for _, t := range m.tokens {
			t.book.sides[0], t.book.sides[1] = t.book.sides[0][:0], t.book.sides[1][:0]
		}
		for side, levels := range lv {
			for _, l := range levels {
				p := l.Price / tickCoarse * tickCoarse // bids round down
				if side == sideAsk && p != l.Price {
					p += tickCoarse // asks round up, so the book cannot cross
				}
				if p < tickCoarse || p > one-tickCoarse {
					continue
				}
				m.setLevel(side, p, yes.size(side, p)+l.Size)
			}
		}
	default:
		return
	}
	omit := m.rng.chance(s.cfg.OmitTypeRate)
	for _, t := range m.tokens {
		mg := s.begin(kindTickSize, m, 1<<t.idx)
		s.buf = appendTickSize(s.buf, t, old, m.tick, s.nowMs, omit)
		s.end(mg)
	}
	if m.tick == tickCoarse {
		for _, t := range m.tokens {
			s.emitBook(m, t, &m.rng)
		}
	}
}

// begin starts rendering a single-piece message into s.buf.
func (s *Server) begin(k kind, m *market, mask uint8) *msg {
	s.buf = s.buf[:0]
	s.cur = msg{kind: k, m: m, mask: mask}
	return &s.cur
}

// end closes a single-piece message and fans it out.
func (s *Server) end(mg *msg) {
	mg.head = span{0, len(s.buf)}
	s.deliver(mg)
}

// deliver fans a rendered message out to its subscribers. Generated counts are per message;
// sent counts per message per socket.
func (s *Server) deliver(mg *msg) {
	s.generated[mg.kind]++
	s.budget--
	if mg.broadcast {
		for _, sk := range s.sockets {
			if sk.custom {
				sk.add(s, mg, 0)
			}
		}
		return
	}
	for _, sb := range mg.m.subs {
		if mg.custom && !sb.s.custom {
			continue
		}
		if eff := mg.mask & sb.mask &^ sb.stall; eff != 0 {
			sb.s.add(s, mg, eff)
		}
	}
}

// churnLocked closes every market whose end date has passed and, with churn on, creates the
// markets due by now.
func (s *Server) churnLocked() {
	for s.expHead < len(s.expiry) && s.expiry[s.expHead].endMs <= s.nowMs {
		s.closeMarketLocked(s.expiry[s.expHead])
		s.expiry[s.expHead] = nil
		s.expHead++
	}
	if s.expHead > 1024 && s.expHead*2 > len(s.expiry) {
		s.expiry = append(s.expiry[:0], s.expiry[s.expHead:]...)
		s.expHead = 0
	}
	for s.churnUs > 0 && s.nextChurnUs <= s.nowMs*1000 {
		createdMs := s.nextChurnUs / 1000
		s.nextChurnUs += s.churnUs
		m := s.addMarketLocked(createdMs, (createdMs*1000+int64(s.cfg.Markets)*s.churnUs)/1000)
		mg := s.begin(kindNewMarket, m, 0)
		mg.custom, mg.broadcast = true, true
		s.buf = appendMarketEvent(s.buf, m, s.nowMs, false)
		s.end(mg)
	}
}

func (s *Server) closeMarketLocked(m *market) {
	if m.closed {
		return
	}
	m.closed = true
	if i := m.liveIdx; i >= 0 {
		last := s.live[len(s.live)-1]
		s.live[i], last.liveIdx = last, i
		s.live = s.live[:len(s.live)-1]
		m.liveIdx = -1
	}
	yes := &m.tokens[0].book
	if yes.best(sideBid)+yes.top(sideAsk) < one {
		m.winner = 1
	}
	if m.enableBook && !s.churnRNG.chance(s.cfg.ResolvedDropRate) {
		mg := s.begin(kindResolved, m, 3)
		mg.custom = true
		s.buf = appendMarketEvent(s.buf, m, s.nowMs, true)
		s.end(mg)
	}
}

func (s *Server) addMarketLocked(createdMs, endMs int64) *market {
	m := newMarket(s.seed, s.nextID, len(s.markets), &s.cfg, createdMs, endMs)
	s.nextID++
	s.markets = append(s.markets, m)
	s.expiry = append(s.expiry, m)
	for _, t := range m.tokens {
		s.tokens[t.id] = t
	}
	if m.enableBook {
		m.liveIdx = len(s.live)
		s.live = append(s.live, m)
	}
	return m
}
