package gamma

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bytedance/sonic"

	"github.com/polyfeed/polyfeed/fixed"
)

func TestDecodeMarketFixture(t *testing.T) {
	m, err := DecodeMarket(readFixture(t, "market.json"))
	if err != nil {
		t.Fatalf("DecodeMarket: %v", err)
	}
	want := Market{
		ID:          "1557558",
		ConditionID: "0x78443f961b9a65869dcb39359de9960165c7e5cbad0904eac7f29cd77872a63b",
		Question:    "Bitcoin Up or Down - March 12, 5:20AM-5:25AM ET",
		Slug:        "btc-updown-5m-1773307200",
		TokenIDs: []string{
			"104239898038807136052399800151408521467737075933964991162589336683346093173875",
			"71183960810705820955071415844881728181970340514894896943812046065452395013351",
		},
		Outcomes:        []string{"Up", "Down"},
		EndDate:         time.Date(2026, 3, 12, 9, 25, 0, 0, time.UTC),
		Active:          true,
		AcceptingOrders: true,
		EnableOrderBook: true,
		TickSize:        fixed.MustParse("0.01"),
	}
	if !marketEqual(m, want) {
		t.Fatalf("DecodeMarket(market.json) =\n%+v\nwant\n%+v", m, want)
	}
}

func marketEqual(a, b Market) bool {
	return a.ID == b.ID && a.ConditionID == b.ConditionID && a.Question == b.Question && a.Slug == b.Slug &&
		slices.Equal(a.TokenIDs, b.TokenIDs) && slices.Equal(a.Outcomes, b.Outcomes) && a.EndDate.Equal(b.EndDate) &&
		a.Active == b.Active && a.Closed == b.Closed && a.Archived == b.Archived && a.AcceptingOrders == b.AcceptingOrders &&
		a.EnableOrderBook == b.EnableOrderBook && a.NegRisk == b.NegRisk && a.TickSize == b.TickSize
}

// Every captured market is decoded: the open one is accepted, every closed
// one (legacy nulls included) is rejected as closed, still decoded that far.
func TestDecodeMarketAllFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/market*.json")
	if err != nil || len(files) != 7 {
		t.Fatalf("fixtures = %v, %v; want 7 market files", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var head struct {
				ID     string `json:"id"`
				Closed bool   `json:"closed"`
			}
			if err := json.Unmarshal(data, &head); err != nil {
				t.Fatal(err)
			}
			m, err := DecodeMarket(data)
			if m.ID != head.ID {
				t.Fatalf("ID = %q; want %q", m.ID, head.ID)
			}
			if !head.Closed {
				if err != nil {
					t.Fatalf("open market rejected: %v", err)
				}
				return
			}
			var ime *InvalidMarketError
			if !errors.As(err, &ime) || ime.Reason != ReasonClosed || !m.Closed || ime.ID != head.ID {
				t.Fatalf("closed market: %+v, %v; want reason closed", m, err)
			}
		})
	}
}

func TestDecodeEventMarkets(t *testing.T) {
	var events []struct {
		Markets []json.RawMessage `json:"markets"`
	}
	if err := json.Unmarshal(readFixture(t, "event.json"), &events); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range events {
		for _, raw := range e.Markets {
			m, err := DecodeMarket(raw)
			if err != nil {
				t.Fatalf("nested market: %v", err)
			}
			if !m.NegRisk || m.TickSize != fixed.MustParse("0.001") || len(m.TokenIDs) != 2 ||
				!slices.Equal(m.Outcomes, []string{"Yes", "No"}) || !m.EndDate.Equal(time.Date(2028, 11, 7, 0, 0, 0, 0, time.UTC)) {
				t.Fatalf("nested market = %+v", m)
			}
			n++
		}
	}
	if n != 2 {
		t.Fatalf("decoded %d nested markets; want 2", n)
	}
}

// fixtureWith returns market.json with top-level fields replaced by raw JSON
// (an empty value deletes the field).
func fixtureWith(t testing.TB, fields map[string]string) []byte {
	t.Helper()
	m := fixtureMarket(t)
	for k, v := range fields {
		if v == "" {
			delete(m, k)
			continue
		}
		m[k] = json.RawMessage(v)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	tokA = `"104239898038807136052399800151408521467737075933964991162589336683346093173875"`
	tokB = `"71183960810705820955071415844881728181970340514894896943812046065452395013351"`
)

func TestDecodeMarketRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields map[string]string
		raw    string // used instead of the fixture when set
		reason Reason
	}{
		{"not an object", nil, `42`, ReasonMalformed},
		{"null", nil, `null`, ReasonMalformed},
		{"array", nil, `[1,2]`, ReasonMalformed},
		{"broken json", nil, `{"id":"1",`, ReasonMalformed},
		{"wrong-typed unused field is fine", map[string]string{"volume": `{"x":1}`}, "", ""},
		{"id absent", map[string]string{"id": ""}, "", ReasonMissingID},
		{"id empty", map[string]string{"id": `""`}, "", ReasonMissingID},
		{"id object", map[string]string{"id": `{}`}, "", ReasonMissingID},
		{"id float", map[string]string{"id": `1.5`}, "", ReasonMissingID},
		{"id number ok", map[string]string{"id": `1557558`}, "", ""},
		{"closed", map[string]string{"closed": `true`}, "", ReasonClosed},
		{"closed as string", map[string]string{"closed": `"true"`}, "", ReasonClosed},
		{"closed garbage", map[string]string{"closed": `1`}, "", ReasonBadFlag},
		{"negRisk garbage", map[string]string{"negRisk": `"yes"`}, "", ReasonBadFlag},
		{"no order book", map[string]string{"enableOrderBook": `false`}, "", ReasonNoOrderBook},
		{"order book null", map[string]string{"enableOrderBook": `null`}, "", ReasonNoOrderBook},
		{"order book absent", map[string]string{"enableOrderBook": ""}, "", ReasonNoOrderBook},
		{"condition absent", map[string]string{"conditionId": ""}, "", ReasonMissingConditionID},
		{"condition empty", map[string]string{"conditionId": `""`}, "", ReasonMissingConditionID},
		{"condition number", map[string]string{"conditionId": `7`}, "", ReasonMissingConditionID},
		{"condition short", map[string]string{"conditionId": `"0x1234"`}, "", ReasonBadConditionID},
		{"condition not hex", map[string]string{"conditionId": `"0x` + strings.Repeat("g", 64) + `"`}, "", ReasonBadConditionID},
		{"tokens absent", map[string]string{"clobTokenIds": ""}, "", ReasonMissingTokenIDs},
		{"tokens null", map[string]string{"clobTokenIds": `null`}, "", ReasonMissingTokenIDs},
		{"tokens empty string", map[string]string{"clobTokenIds": `""`}, "", ReasonMissingTokenIDs},
		{"tokens empty list", map[string]string{"clobTokenIds": `"[]"`}, "", ReasonMissingTokenIDs},
		{"tokens truncated", map[string]string{"clobTokenIds": `"[\"123\", \"45"`}, "", ReasonBadTokenIDs},
		{"tokens numbers", map[string]string{"clobTokenIds": `"[123, 456]"`}, "", ReasonBadTokenIDs},
		{"tokens object", map[string]string{"clobTokenIds": `{"a":1}`}, "", ReasonBadTokenIDs},
		{"token not digits", map[string]string{"clobTokenIds": `"[\"12a\", \"456\"]"`}, "", ReasonBadTokenID},
		{"token empty", map[string]string{"clobTokenIds": `"[\"\", \"456\"]"`}, "", ReasonBadTokenID},
		{"token leading zero", map[string]string{"clobTokenIds": `"[\"0123\", \"456\"]"`}, "", ReasonBadTokenID},
		{"token negative", map[string]string{"clobTokenIds": `"[\"-1\", \"456\"]"`}, "", ReasonBadTokenID},
		{"token too long", map[string]string{"clobTokenIds": `"[\"` + strings.Repeat("9", 79) + `\", \"456\"]"`}, "", ReasonBadTokenID},
		{"token duplicate", map[string]string{"clobTokenIds": `"[\"456\", \"456\"]"`}, "", ReasonDuplicateTokenID},
		{"outcomes garbage", map[string]string{"outcomes": `"[Up, Down]"`}, "", ReasonBadOutcomes},
		{"outcomes absent", map[string]string{"outcomes": ""}, "", ReasonOutcomeMismatch},
		{"outcomes short", map[string]string{"outcomes": `"[\"Up\"]"`}, "", ReasonOutcomeMismatch},
		{"outcomes long", map[string]string{"outcomes": `"[\"Up\", \"Down\", \"Flat\"]"`}, "", ReasonOutcomeMismatch},
		{"real arrays", map[string]string{"clobTokenIds": `[` + tokA + `,` + tokB + `]`, "outcomes": `["Up","Down"]`}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.raw)
			if tc.raw == "" {
				data = fixtureWith(t, tc.fields)
			}
			m, err := DecodeMarket(data)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("DecodeMarket: %v; want accepted", err)
				}
				checkInvariants(t, m)
				return
			}
			var ime *InvalidMarketError
			if !errors.As(err, &ime) || ime.Reason != tc.reason {
				t.Fatalf("DecodeMarket = %v; want reason %s", err, tc.reason)
			}
			if !strings.HasPrefix(err.Error(), "cannot accept market") || !strings.Contains(err.Error(), string(tc.reason)) {
				t.Fatalf("error text %q", err)
			}
		})
	}
}

func TestDecodeMarketWarnings(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields map[string]string
		warns  warnings
		check  func(Market) bool
	}{
		{"clean", nil, 0, func(m Market) bool { return !m.EndDate.IsZero() && m.TickSize == fixed.MustParse("0.01") }},
		{"end date null", map[string]string{"endDate": `null`}, 0, func(m Market) bool { return m.EndDate.IsZero() }},
		{"end date absent", map[string]string{"endDate": ""}, 0, func(m Market) bool { return m.EndDate.IsZero() }},
		{"end date garbage", map[string]string{"endDate": `"next tuesday"`}, wBadEndDate, func(m Market) bool { return m.EndDate.IsZero() }},
		{"end date number", map[string]string{"endDate": `1773307500`}, wBadEndDate, func(m Market) bool { return m.EndDate.IsZero() }},
		{"end date fractional", map[string]string{"endDate": `"2026-03-12T09:25:00.5+01:00"`}, 0, func(m Market) bool {
			return m.EndDate.Equal(time.Date(2026, 3, 12, 8, 25, 0, 5e8, time.UTC))
		}},
		{"tick string", map[string]string{"orderPriceMinTickSize": `"0.001"`}, 0, func(m Market) bool { return m.TickSize == fixed.MustParse("0.001") }},
		{"tick null", map[string]string{"orderPriceMinTickSize": `null`}, wMissingTickSize, func(m Market) bool { return m.TickSize == 0 }},
		{"tick exponent", map[string]string{"orderPriceMinTickSize": `1e-3`}, wBadTickSize, func(m Market) bool { return m.TickSize == 0 }},
		{"tick zero", map[string]string{"orderPriceMinTickSize": `0`}, wBadTickSize, func(m Market) bool { return m.TickSize == 0 }},
		{"tick too fine", map[string]string{"orderPriceMinTickSize": `0.0000001`}, wBadTickSize, func(m Market) bool { return m.TickSize == 0 }},
		{"question number", map[string]string{"question": `5`, "slug": `null`}, wBadText, func(m Market) bool { return m.Question == "" && m.Slug == "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, w, err := decodeMarket(fixtureWith(t, tc.fields))
			if err != nil {
				t.Fatalf("decodeMarket: %v; want accepted", err)
			}
			if w != tc.warns || !tc.check(m) {
				t.Fatalf("decodeMarket = %+v, warnings %b; want warnings %b", m, w, tc.warns)
			}
		})
	}
}

// checkInvariants holds for every accepted market.
func checkInvariants(t testing.TB, m Market) {
	t.Helper()
	if m.ID == "" || !isConditionID(m.ConditionID) || m.Closed || !m.EnableOrderBook {
		t.Fatalf("accepted market breaks identity/state invariants: %+v", m)
	}
	if len(m.TokenIDs) == 0 || len(m.TokenIDs) != len(m.Outcomes) {
		t.Fatalf("accepted market has %d tokens, %d outcomes", len(m.TokenIDs), len(m.Outcomes))
	}
	seen := make(map[string]bool, len(m.TokenIDs))
	for _, id := range m.TokenIDs {
		if id == "" || len(id) > maxTokenDigits || id[0] == '0' || strings.Trim(id, "0123456789") != "" || seen[id] {
			t.Fatalf("accepted market has bad token id %q", id)
		}
		seen[id] = true
	}
	if m.TickSize < 0 || m.TickSize >= fixed.FromInt(1) {
		t.Fatalf("accepted market has tick size %v", m.TickSize)
	}
}

// addMarketSeeds seeds a fuzz test with the captured markets and a few
// hand-made shapes.
func addMarketSeeds(f *testing.F) {
	files, _ := filepath.Glob("testdata/market*.json")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	var events []struct {
		Markets []json.RawMessage `json:"markets"`
	}
	if err := json.Unmarshal(readFixture(f, "event.json"), &events); err != nil {
		f.Fatal(err)
	}
	for _, e := range events {
		for _, m := range e.Markets {
			f.Add([]byte(m))
		}
	}
	cond := `"0x` + strings.Repeat("ab", 32) + `"`
	for _, s := range []string{
		`{}`, `null`, `[]`, `"x"`, `{"id":1}`,
		`{"id":"1","conditionId":` + cond + `,"enableOrderBook":true,"clobTokenIds":"[\"1\", \"2\"]","outcomes":"[\"Yes\", \"No\"]"}`,
		`{"id":"1","conditionId":` + cond + `,"enableOrderBook":true,"clobTokenIds":["1","2"],"outcomes":["Yes","No"],"orderPriceMinTickSize":"0.01","endDate":null}`,
		`{"id":"1","conditionId":` + cond + `,"enableOrderBook":"true","clobTokenIds":"[\"1\", \"1\"]","outcomes":"[\"a\", \"b\"]"}`,
		`{"id":"1","conditionId":` + cond + `,"enableOrderBook":true,"clobTokenIds":"\"[\\\"1\\\"]\"","outcomes":"[\"a\"]"}`,
	} {
		f.Add([]byte(s))
	}
}

func FuzzDecodeMarket(f *testing.F) {
	addMarketSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, w, err := decodeMarket(data)
		if err != nil {
			var ime *InvalidMarketError
			if !errors.As(err, &ime) || ime.Reason == "" {
				t.Fatalf("error %v is not an *InvalidMarketError with a reason", err)
			}
			return
		}
		checkInvariants(t, m)
		if m.TickSize == 0 && w&(wBadTickSize|wMissingTickSize) == 0 {
			t.Fatalf("zero tick size without a warning: %s", data)
		}
		// Accepting is deterministic and the public form agrees.
		m2, err := DecodeMarket(bytes.Clone(data))
		if err != nil || !marketEqual(m, m2) {
			t.Fatalf("DecodeMarket disagrees: %+v, %v", m2, err)
		}
	})
}

// FuzzDecodeMarketMatchesStdlib holds the sonic decoding (unmarshal) to what
// encoding/json decides: the same market, warnings and reason, and the same
// id, for every valid JSON value. Only those reach decodeMarket and idOf: they
// are the items of a page encoding/json split, which refuses a page with
// any invalid byte (on invalid JSON sonic and encoding/json disagree on the
// reason, e.g. a bad escape in a field sonic skips).
func FuzzDecodeMarketMatchesStdlib(f *testing.F) {
	addMarketSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		defer func(old func([]byte, any) error) { unmarshal = old }(unmarshal)
		type result struct {
			m      Market
			w      warnings
			reason Reason
			ok     bool
		}
		run := func() result {
			m, w, err := decodeMarket(data)
			r := result{m: m, w: w, ok: err == nil}
			var ime *InvalidMarketError
			if errors.As(err, &ime) {
				r.reason = ime.Reason
			}
			return r
		}
		got := run()
		unmarshal = json.Unmarshal
		want := run()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeMarket(%q):\n sonic  %+v\n stdlib %+v", data, got, want)
		}
		unmarshal = sonic.ConfigStd.Unmarshal
		gid, gok := idOf(data)
		unmarshal = json.Unmarshal
		wid, wok := idOf(data)
		if gid != wid || gok != wok {
			t.Fatalf("idOf(%q): sonic %q %v; stdlib %q %v", data, gid, gok, wid, wok)
		}
	})
}

// FuzzPageMatchesStdlib: a keyset page split with unmarshalChecked (and
// sonic for its markets array) gives what encoding/json gives, for any
// market bytes inside it, valid or not: the same error or none, cursor, and
// markets decoded from its items. (The items' bytes may differ: sonic
// replaces invalid UTF-8 in a raw value where encoding/json keeps it, and
// both decode it to U+FFFD.)
func FuzzPageMatchesStdlib(f *testing.F) {
	addMarketSeeds(f)
	f.Add([]byte(`{"":"\\0"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		defer func(old func([]byte, any) error) { unmarshal = old }(unmarshal)
		page := append(append([]byte(`{"markets":[`), data...), `],"next_cursor":"x"}`...)
		type result struct {
			next    string
			ok      bool
			markets []Market
			reasons []Reason
		}
		run := func() result {
			items, next, err := parseKeysetPage(page)
			r := result{next: next, ok: err == nil}
			for _, raw := range items {
				m, _, err := decodeMarket(raw)
				var ime *InvalidMarketError
				var reason Reason
				if errors.As(err, &ime) {
					reason = ime.Reason
				}
				r.markets = append(r.markets, m)
				r.reasons = append(r.reasons, reason)
			}
			return r
		}
		got := run()
		unmarshal = json.Unmarshal
		want := run()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("page %q:\n sonic  %+v\n stdlib %+v", page, got, want)
		}
	})
}
