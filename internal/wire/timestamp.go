package wire

import "unsafe"

// rawTimestamp captures the timestamp value as sent. The venue sends a string
// of Unix milliseconds; a bare JSON number is accepted too (and counted), so
// the field cannot be a plain string: sonic would reject the number with a
// type mismatch. Implementing json.Unmarshaler costs sonic a few ns and no
// allocation, and it hands us a slice of the frame, so text aliases it.
type rawTimestamp struct {
	text string // the digits: string contents or number literal
	form tsForm
}

type tsForm uint8

const (
	tsAbsent tsForm = iota // key absent or null
	tsString
	tsNumber
	tsOther // object, array, bool, or a string with escapes
)

// UnmarshalJSON records b without validating it; conversion does that, so
// the error can name the event.
func (t *rawTimestamp) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0 || string(b) == "null":
		*t = rawTimestamp{}
	case b[0] == '"' && len(b) >= 2:
		body := b[1 : len(b)-1]
		*t = rawTimestamp{text: unsafe.String(unsafe.SliceData(body), len(body)), form: tsString}
		for _, c := range body {
			if c == '\\' {
				t.form = tsOther
			}
		}
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		*t = rawTimestamp{text: unsafe.String(&b[0], len(b)), form: tsNumber}
	default:
		*t = rawTimestamp{text: unsafe.String(&b[0], len(b)), form: tsOther}
	}
	return nil
}

// parseMillis parses a non-negative decimal integer of at most 18 digits
// (enough for any millisecond time until the year 33 million, and small
// enough that it cannot overflow int64).
func parseMillis(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var v int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}
