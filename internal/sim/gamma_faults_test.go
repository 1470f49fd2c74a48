package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
)

func setFaults(t *testing.T, s *Server, spec string) {
	t.Helper()
	f, err := ParseFaults(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetFaults(f); err != nil {
		t.Fatal(err)
	}
}

func getBody(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, bytes.TrimSpace(b)
}

// TestGammaEmptyFault: gammaempty answers a listing 200 with no market, in each
// endpoint's own shape (issue 12 defect 1: what a lifecycle must not take for "every
// market closed").
func TestGammaEmptyFault(t *testing.T) {
	s := startSim(t, Config{Seed: 1, Markets: 10, Manual: true})
	setFaults(t, s, "gammaempty=1")
	for _, tc := range []struct{ path, want string }{
		{"/markets?closed=false&limit=5", `[]`},
		{"/markets/keyset?closed=false&limit=5", `{"markets":[]}`},
	} {
		code, body := getBody(t, s.URL()+tc.path)
		if code != 200 || string(body) != tc.want {
			t.Fatalf("GET %s = %d %s; want 200 %s", tc.path, code, body, tc.want)
		}
	}
	if st := s.Stats(); st.GammaEmpty != 2 || st.OpenMarkets != 10 {
		t.Fatalf("stats: gamma_empty %d, open markets %d; want 2 and 10", st.GammaEmpty, st.OpenMarkets)
	}
	setFaults(t, s, "none")
	var ms []gammaMarket
	if code, _ := getJSON(t, s.URL()+"/markets?closed=false", &ms); code != 200 || len(ms) != 10 {
		t.Fatalf("without the fault: %d, %d markets", code, len(ms))
	}
}

// TestGammaCutFault: gammacut drops next_cursor from a keyset page that has more after
// it, so the walk looks complete after a full page (issue 12 defect 1).
func TestGammaCutFault(t *testing.T) {
	s := startSim(t, Config{Seed: 1, Markets: 10, Manual: true})
	setFaults(t, s, "gammacut=1")
	var p struct {
		Markets    []gammaMarket   `json:"markets"`
		NextCursor json.RawMessage `json:"next_cursor"`
	}
	if code, _ := getJSON(t, s.URL()+"/markets/keyset?closed=false&limit=4&order=id&ascending=false", &p); code != 200 {
		t.Fatalf("status %d", code)
	}
	if len(p.Markets) != 4 || p.NextCursor != nil {
		t.Fatalf("page of %d markets, next_cursor %s; want a full page without next_cursor", len(p.Markets), p.NextCursor)
	}
	// The last page never had a cursor to drop.
	setFaults(t, s, "gammacut=1")
	var all struct {
		Markets []gammaMarket `json:"markets"`
	}
	getJSON(t, s.URL()+"/markets/keyset?closed=false&limit=100", &all)
	if st := s.Stats(); st.GammaCuts != 1 || len(all.Markets) != 10 {
		t.Fatalf("gamma_cuts %d, %d markets in one page; want 1 and 10", st.GammaCuts, len(all.Markets))
	}
}

// TestGammaShiftFault: gammashift closes a market listed before the requested offset
// just before serving the page, so an offset walk of consecutive pages misses the
// market that moved onto the previous page (issue 12 defect 10). The close is real.
func TestGammaShiftFault(t *testing.T) {
	s := startSim(t, Config{Seed: 3, Markets: 20, NoBookEvery: -1, Manual: true})
	c := dial(t, s)
	c.subscribe(t, bookAssets(s), true)
	c.sync(t)
	url := func(off int) string {
		return fmt.Sprintf("%s/markets?closed=false&limit=5&order=id&ascending=false&offset=%d", s.URL(), off)
	}
	var first, second []gammaMarket
	getJSON(t, url(0), &first)
	setFaults(t, s, "gammashift=1")
	getJSON(t, url(5), &second)
	if len(first) != 5 || len(second) != 5 {
		t.Fatalf("pages of %d and %d markets", len(first), len(second))
	}
	var all []gammaMarket
	setFaults(t, s, "none")
	getJSON(t, s.URL()+"/markets?closed=true&limit=100", &all)
	if len(all) != 1 {
		t.Fatalf("%d closed markets; want the 1 closed by the fault", len(all))
	}
	closed := all[0]
	onFirst := false
	for _, m := range first {
		onFirst = onFirst || m.ID == closed.ID
	}
	if !onFirst {
		t.Fatalf("closed market %s was not on the first page", closed.ID)
	}
	// Every later market moved one offset down: the one now at offset 4 was on neither
	// page.
	var open []gammaMarket
	getJSON(t, s.URL()+"/markets?closed=false&limit=100&order=id&ascending=false", &open)
	if len(open) != 19 {
		t.Fatalf("%d open markets; want 19", len(open))
	}
	skipped := open[4]
	for _, m := range append(first, second...) {
		if m.ID == skipped.ID {
			t.Fatalf("market %s at offset 4 was listed; want it skipped by the shift", skipped.ID)
		}
	}
	if second[0].ID != open[5].ID {
		t.Fatalf("second page starts at %s; want %s", second[0].ID, open[5].ID)
	}
	if st := s.Stats(); st.GammaShifts != 1 || st.OpenMarkets != 19 {
		t.Fatalf("gamma_shifts %d, open markets %d; want 1 and 19", st.GammaShifts, st.OpenMarkets)
	}
	// The socket got market_resolved for it.
	waitFor(t, "market_resolved", func() bool {
		for _, raw := range events(t, c.takeFrames()) {
			var e struct {
				EventType string `json:"event_type"`
				ID        string `json:"id"`
			}
			if json.Unmarshal(raw, &e) == nil && e.EventType == "market_resolved" && e.ID == closed.ID {
				return true
			}
		}
		return false
	})
}

// TestGammaNoKeysetFault: gammanokeyset answers /markets/keyset 404, sending clients to
// offset paging (where gammashift applies).
func TestGammaNoKeysetFault(t *testing.T) {
	s := startSim(t, Config{Seed: 1, Markets: 10, Manual: true})
	setFaults(t, s, "gammanokeyset=1")
	if code, _ := getBody(t, s.URL()+"/markets/keyset?closed=false"); code != http.StatusNotFound {
		t.Fatalf("keyset status %d; want 404", code)
	}
	if code, body := getBody(t, s.URL()+"/markets?closed=false"); code != 200 || len(body) < 100 {
		t.Fatalf("offset listing %d %.40s", code, body)
	}
	if st := s.Stats(); st.GammaNoKeyset != 1 {
		t.Fatalf("gamma_no_keyset %d; want 1", st.GammaNoKeyset)
	}
}
