package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"
)

func TestGammaOffsetPagination(t *testing.T) {
	s := startSim(t, Config{Seed: 1, Markets: 230, Manual: true})
	seen := map[string]bool{}
	noBook := 0
	for off := 0; ; off += 50 {
		var page []gammaMarket
		code, _ := getJSON(t, fmt.Sprintf("%s/markets?closed=false&limit=50&offset=%d&order=id&ascending=false", s.URL(), off), &page)
		if code != 200 {
			t.Fatalf("offset %d: status %d", off, code)
		}
		if len(page) == 0 {
			break
		}
		for i, m := range page {
			if seen[m.ID] {
				t.Fatalf("market %s listed twice", m.ID)
			}
			seen[m.ID] = true
			if i > 0 {
				prev, _ := strconv.Atoi(page[i-1].ID)
				cur, _ := strconv.Atoi(m.ID)
				if prev <= cur {
					t.Fatalf("not descending by id: %d then %d", prev, cur)
				}
			}
			if !m.EnableOrderBook {
				noBook++
			}
		}
	}
	if len(seen) != 230 {
		t.Fatalf("listed %d markets; want 230", len(seen))
	}
	if noBook == 0 {
		t.Fatal("no enableOrderBook=false market listed")
	}
	resp, err := http.Get(s.URL() + "/markets?offset=2001&limit=10")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := `{"error":"offset too large, use /markets/keyset for deeper pagination","type":"validation error"}` + "\n"
	var got, exp map[string]string
	_ = json.Unmarshal(body, &got)
	_ = json.Unmarshal([]byte(want), &exp)
	if resp.StatusCode != 422 || fmt.Sprint(got) != fmt.Sprint(exp) {
		t.Fatalf("offset 2001: %d %s; want 422 %s", resp.StatusCode, body, want)
	}
	if code, _ := getJSON(t, s.URL()+"/markets?offset=2000&limit=10", nil); code != 200 {
		t.Fatalf("offset 2000: status %d; want 200", code)
	}
}

func TestGammaKeysetPagination(t *testing.T) {
	s := startSim(t, Config{Seed: 1, Markets: 250, Manual: true})
	base := s.URL() + "/markets/keyset?closed=false&limit=100&order=id&ascending=false"
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		var page struct {
			Markets    []gammaMarket `json:"markets"`
			NextCursor *string       `json:"next_cursor"`
		}
		url := base
		if cursor != "" {
			url += "&after_cursor=" + cursor
		}
		if code, _ := getJSON(t, url, &page); code != 200 {
			t.Fatalf("status %d", code)
		}
		pages++
		for _, m := range page.Markets {
			if seen[m.ID] {
				t.Fatalf("market %s listed twice", m.ID)
			}
			seen[m.ID] = true
		}
		if page.NextCursor == nil {
			break
		}
		if *page.NextCursor == cursor || *page.NextCursor == "" {
			t.Fatalf("cursor did not advance: %q", cursor)
		}
		cursor = *page.NextCursor
	}
	if len(seen) != 250 || pages != 3 {
		t.Fatalf("listed %d markets in %d pages; want 250 in 3", len(seen), pages)
	}
	for _, q := range []string{"?limit=101", "?limit=10&offset=100"} {
		if code, _ := getJSON(t, s.URL()+"/markets/keyset"+q, nil); code != 422 {
			t.Errorf("%s: status %d; want 422", q, code)
		}
	}
	// cursor= is not the parameter: it is ignored and page 1 comes back, every time.
	var p1, withCursor struct{ Markets []gammaMarket }
	getJSON(t, base, &p1)
	getJSON(t, base+"&cursor="+cursor, &withCursor)
	if len(p1.Markets) == 0 || p1.Markets[0].ID != withCursor.Markets[0].ID {
		t.Fatal("cursor= did not return page 1")
	}
}

var (
	reCondition = regexp.MustCompile(`^0x[0-9a-f]{64}$`)
	reToken     = regexp.MustCompile(`^[1-9][0-9]{76}$`)
)

func TestGammaMarketShapeAndChurn(t *testing.T) {
	s := startSim(t, Config{Seed: 9, Markets: 20, Manual: true, ChurnPerMinute: 600})
	s.Step(50) // 0.5 s virtual: 5 markets expire, 5 appear
	var open, closed []map[string]any
	getJSON(t, s.URL()+"/markets?limit=500", &open)
	getJSON(t, s.URL()+"/markets?closed=true&limit=500", &closed)
	if len(open) != 20 || len(closed) != 5 {
		t.Fatalf("open %d closed %d; want 20 and 5", len(open), len(closed))
	}
	for _, m := range append(open, closed...) {
		var toks, outs []string
		if err := json.Unmarshal([]byte(m["clobTokenIds"].(string)), &toks); err != nil || len(toks) != 2 {
			t.Fatalf("clobTokenIds %v: %v", m["clobTokenIds"], err)
		}
		if err := json.Unmarshal([]byte(m["outcomes"].(string)), &outs); err != nil || len(outs) != 2 {
			t.Fatalf("outcomes %v: %v", m["outcomes"], err)
		}
		for _, tok := range toks {
			if !reToken.MatchString(tok) {
				t.Fatalf("token id %q not 77 digits", tok)
			}
		}
		if !reCondition.MatchString(m["conditionId"].(string)) {
			t.Fatalf("conditionId %v", m["conditionId"])
		}
		end, err := time.Parse(time.RFC3339, m["endDate"].(string))
		if err != nil {
			t.Fatalf("endDate: %v", err)
		}
		if m["active"] != true {
			t.Fatal("active must stay true")
		}
		isClosed := m["closed"].(bool)
		if isClosed != !end.After(s.Now()) {
			t.Fatalf("closed=%v but endDate %v vs now %v", isClosed, end, s.Now())
		}
		if _, ok := m["orderPriceMinTickSize"].(float64); !ok {
			t.Fatalf("orderPriceMinTickSize %T; want number", m["orderPriceMinTickSize"])
		}
		if _, ok := m["id"].(string); !ok {
			t.Fatal("id must be a string")
		}
	}
}
