package sim

import (
	"strconv"

	"github.com/polyfeed/polyfeed/fixed"
)

// kind is the type of one generated message.
type kind uint8

const (
	kindBook kind = iota
	kindPriceChange
	kindLastTrade
	kindTickSize
	kindBestBidAsk
	kindNewMarket
	kindResolved
	numKinds
)

var kindNames = [numKinds]string{"book", "price_change", "last_trade_price", "tick_size_change",
	"best_bid_ask", "new_market", "market_resolved"}

// The append helpers below render venue JSON into reused buffers: the generator renders each
// message once, without allocating, and copies the bytes to every subscriber.

func appendKey(dst []byte, key string) []byte {
	dst = append(dst, '"')
	dst = append(dst, key...)
	return append(dst, '"', ':')
}

// appendStr appends "key":"value" for values known to need no escaping (ids, hex, digits).
func appendStr(dst []byte, key, val string) []byte {
	dst = appendKey(dst, key)
	dst = append(dst, '"')
	dst = append(dst, val...)
	return append(dst, '"', ',')
}

func appendPoint(dst []byte, key string, p fixed.Point) []byte {
	dst = appendKey(dst, key)
	dst = append(dst, '"')
	dst = p.AppendText(dst)
	return append(dst, '"', ',')
}

func appendTS(dst []byte, ms int64) []byte {
	dst = appendKey(dst, "timestamp")
	dst = append(dst, '"')
	dst = strconv.AppendInt(dst, ms, 10)
	return append(dst, '"', ',')
}

// appendJSONString appends s as a JSON string, escaping what JSON requires.
func appendJSONString(dst []byte, s string) []byte {
	const hexd = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// appendHash40 appends 40 hex digits derived from h.
func appendHash40(dst []byte, h uint64) []byte {
	const hexd = "0123456789abcdef"
	r := rng{s: h}
	for i := 0; i < 3; i++ {
		v := r.next()
		n := 16
		if i == 2 {
			n = 8
		}
		for k := 0; k < n; k++ {
			dst = append(dst, hexd[v&15])
			v >>= 4
		}
	}
	return dst
}

func closeObj(dst []byte) []byte {
	if n := len(dst); n > 0 && dst[n-1] == ',' {
		dst[n-1] = '}'
		return dst
	}
	return append(dst, '}')
}

func appendType(dst []byte, k kind, omit bool) []byte {
	if omit {
		return dst
	}
	return appendStr(dst, "event_type", kindNames[k])
}

func sideName(side int) string {
	if side == sideBid {
		return "BUY"
	}
	return "SELL"
}

// appendBook renders a full snapshot of t: bids ascending and asks descending, so the best of
// each side is last, as the venue sends them.
func appendBook(dst []byte, t *token, ms int64, omitType, buysSells bool) []byte {
	dst = append(dst, '{')
	dst = appendType(dst, kindBook, omitType)
	dst = appendStr(dst, "market", t.m.conditionID)
	dst = appendStr(dst, "asset_id", t.id)
	dst = appendTS(dst, ms)
	dst = appendKey(dst, "hash")
	dst = append(dst, '"')
	dst = appendHash40(dst, t.book.hash(0))
	dst = append(dst, '"', ',')
	bk, ak := "bids", "asks"
	if buysSells {
		bk, ak = "buys", "sells"
	}
	dst = appendKey(dst, bk)
	dst = append(dst, '[')
	for i, l := range t.book.sides[sideBid] {
		dst = appendLevel(dst, l, i > 0)
	}
	dst = append(dst, ']', ',')
	dst = appendKey(dst, ak)
	dst = append(dst, '[')
	asks := t.book.sides[sideAsk]
	for i := len(asks) - 1; i >= 0; i-- {
		dst = appendLevel(dst, asks[i], i < len(asks)-1)
	}
	dst = append(dst, ']', ',')
	dst = appendPoint(dst, "tick_size", t.m.tick)
	dst = appendPoint(dst, "last_trade_price", t.lastTrade)
	return closeObj(dst)
}

func appendLevel(dst []byte, l Level, comma bool) []byte {
	if comma {
		dst = append(dst, ',')
	}
	dst = append(dst, '{')
	dst = appendPoint(dst, "price", l.Price)
	dst = appendPoint(dst, "size", l.Size)
	return closeObj(dst)
}

// appendChange renders one price_changes[] entry of t after the change was applied.
func appendChange(dst []byte, t *token, side int, price, size fixed.Point) []byte {
	dst = append(dst, '{')
	dst = appendStr(dst, "asset_id", t.id)
	dst = appendPoint(dst, "price", price)
	dst = appendPoint(dst, "size", size)
	dst = appendStr(dst, "side", sideName(side))
	dst = appendKey(dst, "hash")
	dst = append(dst, '"')
	dst = appendHash40(dst, t.book.hash(1))
	dst = append(dst, '"', ',')
	dst = appendPoint(dst, "best_bid", t.book.top(sideBid))
	dst = appendPoint(dst, "best_ask", t.book.top(sideAsk))
	return closeObj(dst)
}

func appendLastTrade(dst []byte, t *token, side int, price, size fixed.Point, ms int64, omitType bool) []byte {
	dst = append(dst, '{')
	dst = appendType(dst, kindLastTrade, omitType)
	dst = appendStr(dst, "market", t.m.conditionID)
	dst = appendStr(dst, "asset_id", t.id)
	dst = appendStr(dst, "fee_rate_bps", "0")
	dst = appendPoint(dst, "price", price)
	dst = appendStr(dst, "side", sideName(side))
	dst = appendPoint(dst, "size", size)
	dst = appendTS(dst, ms)
	return closeObj(dst)
}

func appendTickSize(dst []byte, t *token, old, nw fixed.Point, ms int64, omitType bool) []byte {
	dst = append(dst, '{')
	dst = appendType(dst, kindTickSize, omitType)
	dst = appendStr(dst, "market", t.m.conditionID)
	dst = appendStr(dst, "asset_id", t.id)
	dst = appendPoint(dst, "old_tick_size", old)
	dst = appendPoint(dst, "new_tick_size", nw)
	dst = appendTS(dst, ms)
	return closeObj(dst)
}

func appendBestBidAsk(dst []byte, t *token, ms int64) []byte {
	bb, ba := t.book.top(sideBid), t.book.top(sideAsk)
	dst = append(dst, '{')
	dst = appendType(dst, kindBestBidAsk, false)
	dst = appendStr(dst, "market", t.m.conditionID)
	dst = appendStr(dst, "asset_id", t.id)
	dst = appendPoint(dst, "best_bid", bb)
	dst = appendPoint(dst, "best_ask", ba)
	dst = appendPoint(dst, "spread", ba-bb)
	dst = appendTS(dst, ms)
	return closeObj(dst)
}

func appendStrArray(dst []byte, key string, vals ...string) []byte {
	dst = appendKey(dst, key)
	dst = append(dst, '[')
	for i, v := range vals {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, v)
	}
	return append(dst, ']', ',')
}

// appendMarketEvent renders new_market (resolved false) or market_resolved (resolved true).
func appendMarketEvent(dst []byte, m *market, ms int64, resolved bool) []byte {
	k := kindNewMarket
	if resolved {
		k = kindResolved
	}
	dst = append(dst, '{')
	dst = appendType(dst, k, false)
	dst = appendStr(dst, "id", m.id)
	dst = appendStr(dst, "market", m.conditionID)
	dst = appendStrArray(dst, "assets_ids", m.tokens[0].id, m.tokens[1].id)
	if resolved {
		w := m.tokens[m.winner]
		dst = appendStr(dst, "winning_asset_id", w.id)
		dst = appendKey(dst, "winning_outcome")
		dst = appendJSONString(dst, m.outcomes[m.winner])
		dst = append(dst, ',')
	} else {
		dst = appendKey(dst, "question")
		dst = appendJSONString(dst, m.question)
		dst = append(dst, ',')
		dst = appendStr(dst, "slug", m.slug)
		dst = appendStrArray(dst, "outcomes", m.outcomes[0], m.outcomes[1])
		dst = append(dst, `"event_message":{"id":"`...)
		dst = strconv.AppendInt(dst, m.idNum, 10)
		dst = append(dst, `","ticker":"`...)
		dst = append(dst, m.slug...)
		dst = append(dst, `","slug":"`...)
		dst = append(dst, m.slug...)
		dst = append(dst, `","title":`...)
		dst = appendJSONString(dst, m.question)
		dst = append(dst, `},`...)
		dst = appendStr(dst, "condition_id", m.conditionID)
		dst = append(dst, `"active":true,`...)
		dst = appendStrArray(dst, "clob_token_ids", m.tokens[0].id, m.tokens[1].id)
		dst = appendPoint(dst, "order_price_min_tick_size", m.tick)
	}
	dst = appendStrArray(dst, "tags", "simulated")
	dst = appendTS(dst, ms)
	return closeObj(dst)
}

// wsHeader appends a server (unmasked) WebSocket frame header: FIN set, opcode op.
func wsHeader(dst []byte, op byte, n int) []byte {
	dst = append(dst, 0x80|op)
	switch {
	case n < 126:
		return append(dst, byte(n))
	case n <= 0xffff:
		return append(dst, 126, byte(n>>8), byte(n))
	}
	return append(dst, 127, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}
