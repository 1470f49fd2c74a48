package wire

import (
	"errors"
	"strconv"
	"strings"
)

// Causes wrapped by *Error; test them with errors.Is.
var (
	ErrEmptyFrame = errors.New("empty frame")
	ErrNotJSON    = errors.New("not a JSON object or array")
	ErrSyntax     = errors.New("malformed JSON")
	ErrTrailing   = errors.New("data after the JSON value")
	ErrWrongType  = errors.New("wrong JSON type")
	ErrMissing    = errors.New("missing")
	ErrSide       = errors.New("not BUY or SELL")
	ErrTimestamp  = errors.New("not Unix milliseconds")
	ErrNegative   = errors.New("negative")
)

// Error describes one part of a frame that Decode skipped: the whole frame,
// one element of an array frame, or one change of a price_change. Decode
// returns a single *Error or an errors.Join of several (see Errors).
//
// AssetID and Market say which book may now be stale because an update was
// lost; they are copies and stay valid after the next Decode.
type Error struct {
	Kind    Kind   // KindUnknown when the kind was not known yet
	Index   int    // element index in an array frame; -1 for an object frame
	Offset  int    // byte offset of bad JSON in the frame; -1 for value errors
	AssetID string // asset the skipped part was about, when known
	Market  string // condition id, when known
	Field   string // e.g. "price_changes[1].size"; empty for JSON-level errors
	Value   string // the offending value (truncated), when quoted is set
	Err     error  // the cause: one of the Err* values or a fixed.Err* value

	quoted bool // Value is meaningful (it may legitimately be empty)
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("cannot decode ")
	switch {
	case e.Kind != KindUnknown:
		b.WriteString(e.Kind.String())
		if e.Index >= 0 {
			b.WriteString(" (element ")
			b.WriteString(strconv.Itoa(e.Index))
			b.WriteByte(')')
		}
	case e.Index >= 0:
		b.WriteString("element ")
		b.WriteString(strconv.Itoa(e.Index))
	default:
		b.WriteString("frame")
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
		if e.quoted {
			b.WriteByte(' ')
			b.WriteString(strconv.Quote(e.Value))
		}
	}
	if e.Offset >= 0 {
		b.WriteString(" at offset ")
		b.WriteString(strconv.Itoa(e.Offset))
	}
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("unknown error")
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Errors returns every *Error in err, the value Decode returned; nil for nil.
func Errors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		switch x := err.(type) {
		case nil:
		case *Error:
			out = append(out, x)
		case interface{ Unwrap() []error }:
			for _, e := range x.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	return out
}

// maxValue bounds how much of a bad value an Error keeps.
const maxValue = 64

// clipID keeps an asset or condition id whole, so callers can act on it
// (invalidate that book); ids longer than any real one (78 digits, or 0x+64
// hex) are garbage and are clipped like values.
func clipID(s string) string {
	if len(s) > maxID {
		return clip(s)
	}
	return strings.Clone(s)
}

// maxID is longer than every real asset id and condition id.
const maxID = 100

func clip(s string) string {
	if len(s) > maxValue {
		return strings.Clone(s[:maxValue]) + "..."
	}
	return strings.Clone(s)
}
