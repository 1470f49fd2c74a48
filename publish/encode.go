package publish

import (
	"strconv"
	"unicode/utf8"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/fixed"
)

// Message types (the <type> token of the subject and the "type" field).
const (
	TypeBook   = "book"
	TypeDelta  = "delta"
	TypeTrade  = "trade"
	TypeTick   = "tick"
	TypeStatus = "status"
)

// Status states.
const (
	StateStale  = "stale"
	StateLive   = "live"
	StateClosed = "closed"
)

// Version is the wire contract's version: the "v" field and the subject's
// second token.
const Version = 1

// MaxEpoch is the largest epoch a JavaScript number holds exactly.
const MaxEpoch = 1<<53 - 1

// envelope is what every message starts with.
type envelope struct {
	typ    string
	asset  string
	market string
	epoch  int64
	seq    uint64
	ts     int64 // venue ms
}

// The encoders append one message to dst: a hand-written JSON writer, so a
// message costs no reflection and no allocation beyond dst's growth, and
// prices and sizes are written as exact decimal strings from fixed.Point.

func appendEnvelope(dst []byte, e *envelope) []byte {
	dst = append(dst, `{"v":1,"type":"`...)
	dst = append(dst, e.typ...)
	dst = append(dst, `","asset_id":`...)
	dst = appendString(dst, e.asset)
	dst = append(dst, `,"market":`...)
	dst = appendString(dst, e.market)
	dst = append(dst, `,"epoch":`...)
	dst = strconv.AppendInt(dst, e.epoch, 10)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, e.seq, 10)
	dst = append(dst, `,"ts_ms":`...)
	return strconv.AppendInt(dst, e.ts, 10)
}

// appendBook writes a book message; levels is scratch space for b's levels.
func appendBook(dst []byte, e *envelope, b *book.Book, levels []book.Level) ([]byte, []book.Level) {
	dst = appendEnvelope(dst, e)
	dst = append(dst, `,"bids":`...)
	levels = b.Levels(book.Bid, levels[:0])
	dst = appendLevels(dst, levels)
	dst = append(dst, `,"asks":`...)
	levels = b.Levels(book.Ask, levels[:0])
	dst = appendLevels(dst, levels)
	dst = append(dst, `,"tick_size":`...)
	dst = appendPoint(dst, b.TickSize())
	dst = append(dst, `,"valid":`...)
	dst = strconv.AppendBool(dst, b.Valid())
	return append(dst, '}'), levels
}

func appendLevels(dst []byte, ls []book.Level) []byte {
	dst = append(dst, '[')
	for i, l := range ls {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '[')
		dst = appendPoint(dst, l.Price)
		dst = append(dst, ',')
		dst = appendPoint(dst, l.Size)
		dst = append(dst, ']')
	}
	return append(dst, ']')
}

// appendDelta writes a delta of one level change, with the book's own best
// bid and ask after applying it.
func appendDelta(dst []byte, e *envelope, side book.Side, price, size fixed.Point, b *book.Book) []byte {
	dst = appendEnvelope(dst, e)
	dst = append(dst, `,"changes":[["`...)
	dst = append(dst, sideName(side)...)
	dst = append(dst, `",`...)
	dst = appendPoint(dst, price)
	dst = append(dst, ',')
	dst = appendPoint(dst, size)
	dst = append(dst, `]],"best_bid":`...)
	dst = appendBest(dst, b, book.Bid)
	dst = append(dst, `,"best_ask":`...)
	dst = appendBest(dst, b, book.Ask)
	return append(dst, '}')
}

func appendBest(dst []byte, b *book.Book, side book.Side) []byte {
	l, ok := b.Best(side)
	if !ok {
		return append(dst, "null"...)
	}
	return appendPoint(dst, l.Price)
}

func appendTrade(dst []byte, e *envelope, side book.Side, price, size fixed.Point) []byte {
	dst = appendEnvelope(dst, e)
	dst = append(dst, `,"price":`...)
	dst = appendPoint(dst, price)
	dst = append(dst, `,"size":`...)
	dst = appendPoint(dst, size)
	dst = append(dst, `,"side":"`...)
	dst = append(dst, sideName(side)...)
	return append(dst, `"}`...)
}

func appendTick(dst []byte, e *envelope, tick fixed.Point) []byte {
	dst = appendEnvelope(dst, e)
	dst = append(dst, `,"tick_size":`...)
	dst = appendPoint(dst, tick)
	return append(dst, '}')
}

func appendStatus(dst []byte, e *envelope, state, reason string) []byte {
	dst = appendEnvelope(dst, e)
	dst = append(dst, `,"state":`...)
	dst = appendString(dst, state)
	dst = append(dst, `,"reason":`...)
	dst = appendString(dst, reason)
	return append(dst, '}')
}

// sideName maps the book's sides onto the venue's words: bids are BUY.
func sideName(s book.Side) string {
	if s == book.Ask {
		return "SELL"
	}
	return "BUY"
}

// appendPoint writes p as a JSON string of its shortest exact decimal form.
func appendPoint(dst []byte, p fixed.Point) []byte {
	dst = append(dst, '"')
	dst = p.AppendText(dst)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string. Ids come from the venue; anything
// JSON cannot carry raw is escaped, invalid UTF-8 becomes U+FFFD.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
