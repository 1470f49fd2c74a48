package gamma

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// TestListActiveSuspect pins issue 12 defect 1 on the client side: a 200
// answer that lists no market at all, or a keyset walk whose next_cursor
// vanishes after a full page, used to come back as a complete listing, and
// the lifecycle expired every market missing from it. Such a listing is now
// reported with ErrSuspect and a Suspicion, its markets still returned.
func TestListActiveSuspect(t *testing.T) {
	for _, tc := range []struct {
		name      string
		v         *venue
		why       Suspicion
		markets   int
		mode      Mode
		wantInErr string
	}{
		{"keyset {\"markets\":[]}", &venue{hook: keysetAnswers(http.StatusOK, `{"markets":[]}`)}, SuspectEmpty, 0, ModeKeyset, "no market"},
		{"keyset {\"markets\":null}", &venue{hook: keysetAnswers(http.StatusOK, `{"markets":null}`)}, SuspectEmpty, 0, ModeKeyset, "no market"},
		{"offset []", &venue{noKeyset: true, hook: func(_ int, w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != "/markets" {
				return false
			}
			writeJSON(w, http.StatusOK, `[]`)
			return true
		}}, SuspectEmpty, 0, ModeOffset, "no market"},
		{"keyset cursor dropped", &venue{hook: func(n int, w http.ResponseWriter, r *http.Request) bool {
			if n != 2 {
				return false
			}
			// The second page is full but carries no next_cursor.
			writeJSON(w, http.StatusOK, `{"markets":[`+string(joinRaw(genMarkets(t, 20)[10:20]))+`]}`)
			return true
		}}, SuspectNoCursor, 20, ModeKeyset, "no next_cursor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.v.markets = genMarkets(t, 35)
			c, _, _ := newVenue(t, tc.v, Config{PageLimit: 10})
			got, st, err := c.ListActive(context.Background())
			if !errors.Is(err, ErrSuspect) || errors.Is(err, ErrPartial) {
				t.Fatalf("err = %v; want ErrSuspect (and not ErrPartial)", err)
			}
			if !strings.HasPrefix(err.Error(), "cannot list markets: ") || !strings.Contains(err.Error(), tc.wantInErr) {
				t.Fatalf("err = %q", err)
			}
			if st.Complete || st.Suspect != tc.why || st.Mode != tc.mode {
				t.Fatalf("stats = %+v; want incomplete, suspect %q, mode %s", st, tc.why, tc.mode)
			}
			if len(got) != tc.markets || st.Accepted != tc.markets || st.Received != tc.markets {
				t.Fatalf("%d markets (stats %+v); want %d", len(got), st, tc.markets)
			}
		})
	}
}

// A short last page without next_cursor is the ordinary end of a listing.
func TestListActiveShortLastPageNotSuspect(t *testing.T) {
	v := &venue{markets: genMarkets(t, 35)}
	c, _, _ := newVenue(t, v, Config{PageLimit: 10})
	got, st, err := c.ListActive(context.Background())
	if err != nil || !st.Complete || st.Suspect != "" || len(got) != 35 {
		t.Fatalf("ListActive = %d markets, %+v, %v", len(got), st, err)
	}
}

// A keyset listing that is an exact multiple of the page size also ends on a
// full page without next_cursor; the offset listing confirms nothing follows.
func TestListActiveExactMultipleKeysetConfirmed(t *testing.T) {
	v := &venue{markets: genMarkets(t, 30)}
	c, _, _ := newVenue(t, v, Config{PageLimit: 10})
	got, st, err := c.ListActive(context.Background())
	if err != nil || !st.Complete || st.Suspect != "" || len(got) != 30 {
		t.Fatalf("ListActive = %d markets, %+v, %v; want 30, complete", len(got), st, err)
	}
	reqs := v.requests()
	last := reqs[len(reqs)-1]
	if len(reqs) != 4 || last.URL.Path != "/markets" || last.URL.Query().Get("offset") != "30" {
		t.Fatalf("requests %d, last %s; want 3 keyset pages and /markets?offset=30", len(reqs), last.URL)
	}
}
