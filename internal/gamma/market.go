package gamma

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/bytedance/sonic"

	"github.com/polyfeed/polyfeed/fixed"
)

// Market is one Gamma market, decoded and validated. TokenIDs[i] is the CLOB
// token (the WS asset id) of Outcomes[i].
type Market struct {
	ID              string // Gamma market id
	ConditionID     string // 0x + 64 hex; the WS "market" field
	Question        string
	Slug            string
	TokenIDs        []string
	Outcomes        []string
	EndDate         time.Time // zero when absent, null or unreadable
	Active          bool      // stays true on closed markets: Closed decides
	Closed          bool
	Archived        bool
	AcceptingOrders bool // false while trading is paused; the book still exists
	EnableOrderBook bool
	NegRisk         bool
	TickSize        fixed.Point // orderPriceMinTickSize; zero when absent or unreadable
}

// InvalidMarketError is why DecodeMarket rejected a market.
type InvalidMarketError struct {
	ID     string // Gamma id, when it could be read
	Reason Reason
	Detail string // what exactly was wrong, for humans
}

func (e *InvalidMarketError) Error() string {
	s := "cannot accept market"
	if e.ID != "" {
		s += " " + strconv.Quote(e.ID)
	}
	s += ": " + string(e.Reason)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// rawMarket holds the fields the engine uses, undecoded, so each is checked
// on its own and a wrong type in one field names that field.
type rawMarket struct {
	ID              json.RawMessage `json:"id"`
	ConditionID     json.RawMessage `json:"conditionId"`
	Question        json.RawMessage `json:"question"`
	Slug            json.RawMessage `json:"slug"`
	ClobTokenIDs    json.RawMessage `json:"clobTokenIds"`
	Outcomes        json.RawMessage `json:"outcomes"`
	EndDate         json.RawMessage `json:"endDate"`
	Active          json.RawMessage `json:"active"`
	Closed          json.RawMessage `json:"closed"`
	Archived        json.RawMessage `json:"archived"`
	AcceptingOrders json.RawMessage `json:"acceptingOrders"`
	EnableOrderBook json.RawMessage `json:"enableOrderBook"`
	NegRisk         json.RawMessage `json:"negRisk"`
	TickSize        json.RawMessage `json:"orderPriceMinTickSize"`
}

// warnings is the set of Warning a kept market raised.
type warnings uint8

const (
	wBadEndDate warnings = 1 << iota
	wBadTickSize
	wMissingTickSize
	wBadText
)

func (w warnings) each(f func(Warning)) {
	for bit, name := range [...]Warning{WarnBadEndDate, WarnBadTickSize, WarnMissingTickSize, WarnBadText} {
		if w&(1<<bit) != 0 {
			f(name)
		}
	}
}

// DecodeMarket decodes one Gamma market object and validates it for
// subscription. A rejected market comes back as far as it was decoded (Closed
// is set, for example) with an *InvalidMarketError naming the Reason.
// Malformed input never panics.
func DecodeMarket(data []byte) (Market, error) {
	m, _, err := decodeMarket(data)
	return m, err
}

func decodeMarket(data []byte) (Market, warnings, error) {
	var m Market
	var r rawMarket
	if err := unmarshal(data, &r); err != nil {
		return m, 0, &InvalidMarketError{Reason: ReasonMalformed, Detail: err.Error()}
	}
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return m, 0, &InvalidMarketError{Reason: ReasonMalformed, Detail: "null"}
	}
	reject := func(reason Reason, format string, args ...any) (Market, warnings, error) {
		return m, 0, &InvalidMarketError{ID: m.ID, Reason: reason, Detail: fmt.Sprintf(format, args...)}
	}

	id, ok := decodeID(r.ID)
	if !ok {
		return reject(ReasonMissingID, "id %s", describe(r.ID))
	}
	m.ID = id

	for _, f := range [...]struct {
		name string
		raw  json.RawMessage
		dst  *bool
	}{
		{"active", r.Active, &m.Active},
		{"closed", r.Closed, &m.Closed},
		{"archived", r.Archived, &m.Archived},
		{"acceptingOrders", r.AcceptingOrders, &m.AcceptingOrders},
		{"enableOrderBook", r.EnableOrderBook, &m.EnableOrderBook},
		{"negRisk", r.NegRisk, &m.NegRisk},
	} {
		v, ok := decodeBool(f.raw)
		if !ok {
			return reject(ReasonBadFlag, "%s %s", f.name, describe(f.raw))
		}
		*f.dst = v
	}
	if m.Closed {
		// Keep a readable condition id: the caller ends a closed market it tracks.
		if cond, ok := decodeString(r.ConditionID); ok && isConditionID(cond) {
			m.ConditionID = cond
		}
		return reject(ReasonClosed, "")
	}
	if !m.EnableOrderBook {
		return reject(ReasonNoOrderBook, "enableOrderBook %s", describe(r.EnableOrderBook))
	}

	var w warnings
	cond, ok := decodeString(r.ConditionID)
	switch {
	case !ok || cond == "":
		return reject(ReasonMissingConditionID, "conditionId %s", describe(r.ConditionID))
	case !isConditionID(cond):
		return reject(ReasonBadConditionID, "conditionId %q", clip(cond))
	}
	m.ConditionID = cond

	tokens, err := decodeStringList(r.ClobTokenIDs)
	switch {
	case err != nil:
		return reject(ReasonBadTokenIDs, "clobTokenIds: %v", err)
	case len(tokens) == 0:
		return reject(ReasonMissingTokenIDs, "clobTokenIds %s", describe(r.ClobTokenIDs))
	}
	for i, t := range tokens {
		if !isTokenID(t) {
			return reject(ReasonBadTokenID, "clobTokenIds[%d] %q", i, clip(t))
		}
		for _, u := range tokens[:i] {
			if t == u {
				return reject(ReasonDuplicateTokenID, "clobTokenIds[%d] %q repeated", i, clip(t))
			}
		}
	}
	m.TokenIDs = tokens

	outcomes, err := decodeStringList(r.Outcomes)
	if err != nil {
		return reject(ReasonBadOutcomes, "outcomes: %v", err)
	}
	if len(outcomes) != len(tokens) {
		return reject(ReasonOutcomeMismatch, "%d outcomes for %d token ids", len(outcomes), len(tokens))
	}
	m.Outcomes = outcomes

	// Everything below is advisory: problems are warnings, the market stays.
	if m.Question, ok = decodeString(r.Question); !ok {
		w |= wBadText
	}
	if m.Slug, ok = decodeString(r.Slug); !ok {
		w |= wBadText
	}
	if s, ok := decodeString(r.EndDate); !ok {
		w |= wBadEndDate
	} else if s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			w |= wBadEndDate
		} else {
			m.EndDate = t
		}
	}
	switch tick, present, ok := decodeTick(r.TickSize); {
	case !present:
		w |= wMissingTickSize
	case !ok:
		w |= wBadTickSize
	default:
		m.TickSize = tick
	}
	return m, w, nil
}

// isNull reports an absent field or a JSON null.
func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

// decodeID accepts a non-empty string or, defensively, a JSON integer.
func decodeID(raw json.RawMessage) (string, bool) {
	if len(raw) > 0 && raw[0] >= '0' && raw[0] <= '9' {
		if _, err := strconv.ParseUint(string(raw), 10, 64); err != nil {
			return "", false
		}
		return string(raw), true
	}
	s, ok := decodeString(raw)
	return s, ok && s != ""
}

// decodeString accepts a string; absent or null is "" (ok).
func decodeString(raw json.RawMessage) (string, bool) {
	if isNull(raw) {
		return "", true
	}
	var s string
	if err := unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// decodeBool accepts true/false, null or absent (false), and the strings
// "true"/"false" in case a proxy stringifies.
func decodeBool(raw json.RawMessage) (bool, bool) {
	switch string(raw) {
	case "", "null", "false", `"false"`:
		return false, true
	case "true", `"true"`:
		return true, true
	}
	return false, false
}

// decodeStringList decodes Gamma's string-encoded array ("[\"a\", \"b\"]"):
// decode the JSON string, then the array inside it. A real JSON array is
// accepted too. Absent, null, "" and "null" yield an empty list.
func decodeStringList(raw json.RawMessage) ([]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	inner := []byte(raw)
	if raw[0] == '"' {
		var s string
		if err := unmarshal(raw, &s); err != nil {
			return nil, err
		}
		inner = []byte(s)
		if len(bytes.TrimSpace(inner)) == 0 {
			return nil, nil
		}
	}
	var list []string
	if err := unmarshal(inner, &list); err != nil {
		return nil, fmt.Errorf("cannot decode %q: %w", clip(string(inner)), err)
	}
	return list, nil
}

// decodeTick reads orderPriceMinTickSize, a JSON number (or a decimal string).
func decodeTick(raw json.RawMessage) (tick fixed.Point, present, ok bool) {
	if isNull(raw) {
		return 0, false, false
	}
	text := []byte(raw)
	if raw[0] == '"' {
		var s string
		if err := unmarshal(raw, &s); err != nil {
			return 0, true, false
		}
		text = []byte(s)
	}
	p, err := fixed.Parse(text)
	if err != nil || p <= 0 || p >= fixed.FromInt(1) {
		return 0, true, false
	}
	return p, true, true
}

// isConditionID checks 0x + 64 hex digits (a bytes32).
func isConditionID(s string) bool {
	if len(s) != 66 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') {
		return false
	}
	for i := 2; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// maxTokenDigits is the length of the largest uint256 (2^256-1 has 78 digits).
const maxTokenDigits = 78

// isTokenID checks a canonical decimal: digits only, no leading zero, at most
// 78 digits. The venue echoes token ids verbatim as WS asset ids, so a
// non-canonical spelling would subscribe to a book no frame is routed to.
func isTokenID(s string) bool {
	if s == "" || len(s) > maxTokenDigits || s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// describe names a raw field value for an error detail, clipped.
func describe(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "absent"
	}
	return clip(string(raw))
}

func clip(s string) string {
	const max = 80
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// unmarshal is sonic configured to behave as encoding/json does (strings
// copied and checked), at a fraction of its cost: a listing of the venue's
// markets is megabytes of JSON every discovery period, and encoding/json
// was most of an idle engine's CPU (BenchmarkDecodeListing).
// FuzzDecodeMarketMatchesStdlib and FuzzPageMatchesStdlib hold the two to
// the same results on valid JSON.
var unmarshal = sonic.ConfigStd.Unmarshal

// unmarshalChecked decodes a whole response body. encoding/json's scanner
// checks every byte first: sonic lets an invalid escape through inside a
// value it skips or keeps raw, and a page is accepted or refused whole, with
// encoding/json's error. Its parts (the markets) are then valid JSON.
func unmarshalChecked(data []byte, v any) error {
	if !json.Valid(data) {
		return json.Unmarshal(data, v) // its syntax error
	}
	return unmarshal(data, v)
}
