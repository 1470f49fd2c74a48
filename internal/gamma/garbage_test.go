package gamma

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
)

// A page mixing real markets with every kind of garbage: the good ones are
// kept in order, each bad one is counted under its reason, and nothing fails.
func TestListActiveGarbageMarkets(t *testing.T) {
	set := func(kv ...string) func(map[string]any) {
		return func(m map[string]any) {
			for i := 0; i < len(kv); i += 2 {
				if kv[i+1] == "" {
					delete(m, kv[i])
				} else {
					m[kv[i]] = json.RawMessage(kv[i+1])
				}
			}
		}
	}
	closed := readFixture(t, "market_closed_binary_accepting_true.json")
	legacy := readFixture(t, "market_closed_zero_zero_legacy.json")
	page := [][]byte{
		genMarket(t, 0, nil), // kept
		closed,
		legacy,
		genMarket(t, 1, set("enableOrderBook", "false")),
		genMarket(t, 2, set("clobTokenIds", "")),
		genMarket(t, 3, set("clobTokenIds", `"[\"1\", \"2\""`)),
		genMarket(t, 4, set("clobTokenIds", `"[\"12x\", \"34\"]"`)),
		genMarket(t, 5, set("outcomes", `"[\"Yes\"]"`)),
		genMarket(t, 6, set("conditionId", "")),
		genMarket(t, 7, set("clobTokenIds", `"[\"77\", \"77\"]"`)),
		genMarket(t, 8, set("clobTokenIds", `"[\"`+tokenID(0)+`\", \"999\"]"`)), // token of market 0
		[]byte(`42`),
		[]byte(`null`),
		[]byte(`{"question":"no id"}`),
		genMarket(t, 9, set("endDate", `"soon"`)), // kept, warned
		genMarket(t, 10, set("orderPriceMinTickSize", `"0.001"`, "endDate", `null`)),   // kept
		genMarket(t, 11, set("clobTokenIds", `["`+tokenID(22)+`","`+tokenID(23)+`"]`)), // kept: real array
		genMarket(t, 12, set("closed", `"maybe"`)),
		genMarket(t, 0, nil), // same id again
	}
	v := &venue{markets: page}
	c, _, _ := newVenue(t, v, Config{})
	got, st, err := c.ListActive(context.Background())
	if err != nil {
		t.Fatalf("ListActive: %v", err)
	}
	wantIDs := []string{marketID(0), marketID(9), marketID(10), marketID(11)}
	if !slices.Equal(ids(got), wantIDs) {
		t.Fatalf("kept %v; want %v", ids(got), wantIDs)
	}
	wantSkipped := map[Reason]int{
		ReasonClosed:             2,
		ReasonNoOrderBook:        1,
		ReasonMissingTokenIDs:    1,
		ReasonBadTokenIDs:        1,
		ReasonBadTokenID:         1,
		ReasonOutcomeMismatch:    1,
		ReasonMissingConditionID: 1,
		ReasonDuplicateTokenID:   2,
		ReasonMalformed:          2, // 42 and null
		ReasonMissingID:          1,
		ReasonBadFlag:            1,
		ReasonDuplicateMarket:    1,
	}
	if !mapsEqual(st.Skipped, wantSkipped) {
		t.Fatalf("skipped = %v; want %v", st.Skipped, wantSkipped)
	}
	if st.Received != len(page) || st.Accepted != 4 || st.SkippedTotal() != len(page)-4 {
		t.Fatalf("stats = %+v", st)
	}
	if st.Warnings[WarnBadEndDate] != 1 || len(st.Warnings) != 1 {
		t.Fatalf("warnings = %v; want one bad_end_date", st.Warnings)
	}
	if !got[1].EndDate.IsZero() || got[2].TickSize.String() != "0.001" || got[3].TokenIDs[0] != tokenID(22) {
		t.Fatalf("kept markets = %+v", got[1:])
	}
}

func mapsEqual[K comparable](a, b map[K]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
