package wire

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"unsafe"

	"github.com/bytedance/sonic/decoder"
)

// Decoder turns frames into events, reusing its buffers from frame to frame.
// Create it with NewDecoder. It must be used by one goroutine at a time and
// must not be copied.
type Decoder struct {
	json *decoder.Decoder // sonic, Reset per object
	raw  rawEvent         // the object being converted, reset per object

	// Output buffers, truncated per frame; events slice into them.
	events  []Event
	levels  []Level
	changes []PriceChange
	infos   []MarketInfo
	strs    []string

	errs    []error // this frame's errors, at most maxErrors
	dropped int     // errors beyond maxErrors in this frame

	stats        DecoderStats
	unknownTypes map[string]*uint64 // counts by event_type; keys owned, see countUnknown
}

// maxErrors bounds the detailed errors one frame reports; the rest are
// summarised, so a garbage array cannot make Decode allocate without bound.
const maxErrors = 8

var pretouch sync.Once

// NewDecoder returns a Decoder. The first call also compiles sonic's decoder
// for the raw event type, so the first frame does not pay for it.
func NewDecoder() *Decoder {
	pretouch.Do(func() {
		// A failure only means sonic compiles lazily on first use.
		_ = decoder.Pretouch(reflect.TypeFor[rawEvent]())
	})
	j := decoder.NewDecoder("")
	// Venue keys are lower-case; exact matching is stricter and cheaper.
	j.SetOptions(decoder.OptionCaseSensitive)
	return &Decoder{json: j}
}

// IsPong reports whether frame is the keepalive answer PONG (surrounding
// whitespace allowed). PONG is plain text, not JSON.
func IsPong(frame []byte) bool {
	i := skipSpace(frame, 0)
	return len(frame)-i >= 4 && string(frame[i:i+4]) == "PONG" && skipSpace(frame, i+4) == len(frame)
}

// Decode parses one text frame: a JSON object, a JSON array of objects, or
// PONG (no events, nil error).
//
// The events and every slice and string in them alias d's buffers and frame:
// they are valid only until the next Decode, and only while frame is not
// modified.
//
// Objects of an unknown kind are skipped and counted, without error. A bad
// element (or a bad change inside a price_change) is skipped and reported in
// err while the others are still returned; err is nil, one *Error, or an
// errors.Join of them (see Errors). JSON that is broken mid-array stops the
// frame there: the elements before it are returned.
//
// hot path: allocates nothing in steady state for well-formed frames.
func (d *Decoder) Decode(frame []byte) ([]Event, error) {
	d.begin()
	i := skipSpace(frame, 0)
	if i == len(frame) {
		d.frameError(ErrEmptyFrame, -1)
		return nil, d.err()
	}
	if IsPong(frame) {
		d.stats.Pongs++
		return nil, nil
	}
	s := unsafe.String(&frame[0], len(frame))
	switch s[i] {
	case '{':
		// Junk after a complete object is reported; the object, already
		// validated, is still delivered (as after an array's ']').
		if end, ok := d.element(s, i, -1); ok {
			d.trailer(frame, end)
		}
	case '[':
		d.array(s, i+1)
	default:
		d.frameError(ErrNotJSON, i)
	}
	return d.events, d.err()
}

// begin empties the output buffers for a new frame.
func (d *Decoder) begin() {
	d.events = d.events[:0]
	d.levels = d.levels[:0]
	d.changes = d.changes[:0]
	d.infos = d.infos[:0]
	d.strs = d.strs[:0]
	d.errs = d.errs[:0]
	d.dropped = 0
	d.stats.Frames++
}

// array decodes the elements of an array frame one by one, starting just
// after its '['. One element at a time keeps a single raw struct hot in
// cache and lets a bad element be skipped without losing the others.
func (d *Decoder) array(s string, i int) {
	b := unsafe.Slice(unsafe.StringData(s), len(s))
	i = skipSpace(b, i)
	if i < len(s) && s[i] == ']' {
		d.trailer(b, i+1)
		return
	}
	for idx := 0; ; idx++ {
		if i >= len(s) {
			d.frameError(ErrSyntax, i)
			return
		}
		end, ok := d.element(s, i, idx)
		if !ok {
			return // broken JSON: the rest of the frame cannot be located
		}
		i = skipSpace(b, end)
		switch {
		case i >= len(s):
			d.frameError(ErrSyntax, i)
			return
		case s[i] == ',':
			i = skipSpace(b, i+1)
		case s[i] == ']':
			d.trailer(b, i+1)
			return
		default:
			d.frameError(ErrSyntax, i)
			return
		}
	}
}

// trailer reports anything but whitespace after the closing ']'.
func (d *Decoder) trailer(b []byte, i int) {
	if j := skipSpace(b, i); j != len(b) {
		d.frameError(ErrTrailing, j)
	}
}

// element decodes the JSON value at s[start:] as one event object and
// converts it. It returns where the value ended and false when the JSON is
// broken (so the caller cannot continue after it).
func (d *Decoder) element(s string, start, idx int) (end int, ok bool) {
	r := &d.raw
	r.reset()
	d.json.Reset(s[start:])
	err := d.json.Decode(r)
	end = start + d.json.Pos()
	p := r.finish(err != nil)
	if err == nil && s[start] == '{' {
		d.convert(r, p, idx)
		return end, true
	}
	e := &Error{Index: idx, Offset: -1, Err: ErrSyntax}
	var mt *decoder.MismatchTypeError
	var se decoder.SyntaxError
	switch {
	case err == nil:
		// null decodes into a struct as a no-op; it is still not an event.
		ok = true
		e.Offset = start
		e.Err = fmt.Errorf("%w: got %s, want object", ErrWrongType, jsonType(s, start))
	case errors.As(err, &mt):
		// sonic skipped the mistyped value and decoded the rest, so the
		// kind and ids are known; the value itself is lost.
		ok = true
		at := start + mt.Pos
		e.Offset = at
		e.Kind, _ = classify(r, p)
		e.AssetID, e.Market = clipID(r.AssetID), clipID(r.Market)
		e.Field = keyBefore(s, at)
		e.Err = fmt.Errorf("%w: got %s", ErrWrongType, jsonType(s, at))
		if at == start {
			e.Err = fmt.Errorf("%w: got %s, want object", ErrWrongType, jsonType(s, at))
		} else if e.Field != "" {
			e.Err = fmt.Errorf("%w: got %s, want %s", ErrWrongType, jsonType(s, at), wantType(e.Field))
		}
	case errors.As(err, &se):
		e.Offset = start + se.Pos
	default:
		e.Offset = start
		e.Err = fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	d.fail(e)
	return end, ok
}

// fail records a skipped part of the frame.
func (d *Decoder) fail(e *Error) {
	d.stats.Malformed++
	if len(d.errs) >= maxErrors {
		d.dropped++
		return
	}
	d.errs = append(d.errs, e)
}

func (d *Decoder) frameError(cause error, offset int) {
	d.fail(&Error{Index: -1, Offset: offset, Err: cause})
}

// err builds Decode's error from this frame's errors.
func (d *Decoder) err() error {
	switch {
	case len(d.errs) == 0:
		return nil
	case len(d.errs) == 1 && d.dropped == 0:
		return d.errs[0]
	}
	errs := append([]error(nil), d.errs...)
	if d.dropped > 0 {
		errs = append(errs, fmt.Errorf("cannot decode frame: %d more parts skipped", d.dropped))
	}
	return errors.Join(errs...)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// keyBefore returns the object key whose value starts at s[at], or "" when
// the value is not directly behind a key (for example an array element).
func keyBefore(s string, at int) string {
	i := at - 1
	for i >= 0 && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t') {
		i--
	}
	if i < 0 || s[i] != ':' {
		return ""
	}
	i--
	for i >= 0 && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t') {
		i--
	}
	if i < 1 || s[i] != '"' {
		return ""
	}
	end := i
	for i--; i >= 0 && s[i] != '"'; i-- {
	}
	if i < 0 {
		return ""
	}
	return clip(s[i+1 : end])
}

// wantType is the JSON type the raw structs expect for key k.
func wantType(k string) string {
	switch k {
	case "bids", "asks", "buys", "sells", "price_changes", "changes", "assets_ids", "outcomes", "tags":
		return "array"
	case "event_message":
		return "object"
	case "active":
		return "bool"
	case "timestamp":
		return "string"
	}
	return "string"
}

func jsonType(s string, at int) string {
	if at < 0 || at >= len(s) {
		return "nothing"
	}
	switch c := s[at]; {
	case c == '"':
		return "string"
	case c == '{':
		return "object"
	case c == '[':
		return "array"
	case c == 't' || c == 'f':
		return "bool"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "number"
	}
	return "invalid"
}
