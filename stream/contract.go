package stream

import (
	"errors"
	"fmt"
	"strings"
)

// Version is the wire contract version this package speaks: the "v" field of every
// message and the second token of every subject.
const Version = 1

// DefaultPrefix is the subject prefix polyfeed publishes under unless told otherwise.
const DefaultPrefix = "polyfeed"

// Message types: the third subject token and the "type" field.
const (
	TypeBook   = "book"
	TypeDelta  = "delta"
	TypeTrade  = "trade"
	TypeTick   = "tick"
	TypeStatus = "status"
)

// Status states carried by a status message.
const (
	StatusStale  = "stale"
	StatusLive   = "live"
	StatusClosed = "closed"
)

// Sides of a delta change or a trade.
const (
	SideBuy  = "BUY"
	SideSell = "SELL"
)

// ValidatePrefix reports whether prefix is one subject token of letters, digits, '_'
// or '-', as the contract requires.
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return errors.New("cannot use prefix: empty")
	}
	for i := 0; i < len(prefix); i++ {
		c := prefix[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("cannot use prefix %q: byte %q is not a letter, digit, '_' or '-'", prefix, c)
		}
	}
	return nil
}

// Subject returns the subject of one message type for one asset:
// <prefix>.v1.<type>.<asset_id>. Either of typ and asset may be "*" or asset ">" to
// build a filter.
func Subject(prefix, typ, asset string) string {
	return prefix + ".v1." + typ + "." + asset
}

// AllSubjects is the filter matching every message: <prefix>.v1.>, the subjects the
// events stream owns.
func AllSubjects(prefix string) string { return prefix + ".v1.>" }

// BookSubjects is the filter matching every book: <prefix>.v1.book.>, the subjects the
// books stream sources.
func BookSubjects(prefix string) string { return prefix + ".v1.book.>" }

// EventsStream names the stream that owns every subject: <PREFIX>_EVENTS.
func EventsStream(prefix string) string { return strings.ToUpper(prefix) + "_EVENTS" }

// BooksStream names the stream that keeps the latest book per asset: <PREFIX>_BOOKS.
func BooksStream(prefix string) string { return strings.ToUpper(prefix) + "_BOOKS" }

// MsgID is the Nats-Msg-Id a publisher sets for deduplication: <asset>:<epoch>:<seq>.
func MsgID(asset string, epoch, seq int64) string {
	return fmt.Sprintf("%s:%d:%d", asset, epoch, seq)
}

// parseSubject splits <prefix>.v1.<type>.<asset> and reports whether subject has that
// shape under prefix.
func parseSubject(prefix, subject string) (typ, asset string, ok bool) {
	rest, ok := strings.CutPrefix(subject, prefix+".v1.")
	if !ok {
		return "", "", false
	}
	typ, asset, ok = strings.Cut(rest, ".")
	if !ok || typ == "" || asset == "" || strings.Contains(asset, ".") {
		return "", "", false
	}
	return typ, asset, true
}
