package gamma

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestListActiveKeysetPages(t *testing.T) {
	v := &venue{markets: genMarkets(t, 250)}
	c, _, _ := newVenue(t, v, Config{})
	got, st, err := c.ListActive(context.Background())
	if err != nil {
		t.Fatalf("ListActive: %v", err)
	}
	want := make([]string, 250)
	for i := range want {
		want[i] = marketID(i)
	}
	if !slices.Equal(ids(got), want) {
		t.Fatalf("ids = %v...; want %v...", ids(got)[:3], want[:3])
	}
	if st.Mode != ModeKeyset || !st.Complete || st.Pages != 3 || st.Requests != 3 || st.Received != 250 || st.Accepted != 250 {
		t.Fatalf("stats = %+v", st)
	}
	if st.SkippedTotal() != 0 || len(st.APIErrors) != 0 || len(st.Warnings) != 0 {
		t.Fatalf("stats = %+v; want no skips, errors or warnings", st)
	}
	reqs := v.requests()
	var cursors []string
	for _, r := range reqs {
		if r.URL.Path != "/markets/keyset" {
			t.Fatalf("path %q; want /markets/keyset", r.URL.Path)
		}
		cursors = append(cursors, r.URL.Query().Get("after_cursor"))
	}
	if reqs[0].URL.Query().Has("after_cursor") || cursors[1] == "" || cursors[2] == "" || cursors[1] == cursors[2] {
		t.Fatalf("after_cursor per page = %q; want none, then two distinct cursors", cursors)
	}
	m := got[0]
	if m.TickSize.String() != "0.01" || len(m.TokenIDs) != 2 || !slices.Equal(m.Outcomes, []string{"Up", "Down"}) ||
		m.EndDate.IsZero() || m.Question == "" || !m.AcceptingOrders {
		t.Fatalf("first market = %+v", m)
	}
}

func TestListActivePageLimit(t *testing.T) {
	v := &venue{markets: genMarkets(t, 7)}
	c, _, _ := newVenue(t, v, Config{PageLimit: 3})
	got, st, err := c.ListActive(context.Background())
	if err != nil || len(got) != 7 || st.Pages != 3 {
		t.Fatalf("ListActive = %d markets, %+v, %v; want 7 in 3 pages", len(got), st, err)
	}
	for _, r := range v.requests() {
		if l := r.URL.Query().Get("limit"); l != "3" {
			t.Fatalf("limit = %q; want 3", l)
		}
	}
}

func TestListActiveOffsetFallback(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    *venue
	}{
		{"404", &venue{noKeyset: true}},
		{"405", &venue{hook: keysetAnswers(http.StatusMethodNotAllowed, `{"error":"method not allowed"}`)}},
		{"501", &venue{hook: keysetAnswers(http.StatusNotImplemented, `not implemented`)}},
		{"bare array", &venue{hook: keysetAnswers(http.StatusOK, `[]`)}},
		{"object without markets", &venue{hook: keysetAnswers(http.StatusOK, `{"data":[]}`)}},
		{"html", &venue{hook: keysetAnswers(http.StatusOK, `<html>hi</html>`)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.v.markets = genMarkets(t, 25)
			c, _, _ := newVenue(t, tc.v, Config{PageLimit: 10})
			got, st, err := c.ListActive(context.Background())
			if err != nil {
				t.Fatalf("ListActive: %v", err)
			}
			if len(got) != 25 || got[0].ID != marketID(0) || got[24].ID != marketID(24) {
				t.Fatalf("got %d markets", len(got))
			}
			if st.Mode != ModeOffset || !st.Complete || st.Pages != 3 || st.Warnings[WarnKeysetUnavailable] != 1 {
				t.Fatalf("stats = %+v", st)
			}
			var offsets []string
			for _, r := range tc.v.requests()[1:] {
				if r.URL.Path != "/markets" {
					t.Fatalf("path %q; want /markets", r.URL.Path)
				}
				offsets = append(offsets, r.URL.Query().Get("offset"))
			}
			// Pages overlap by one market, so a shift of the listing shows.
			if !slices.Equal(offsets, []string{"0", "9", "18"}) {
				t.Fatalf("offsets = %q", offsets)
			}
		})
	}
}

// keysetAnswers makes /markets/keyset answer code and body.
func keysetAnswers(code int, body string) func(int, http.ResponseWriter, *http.Request) bool {
	return func(_ int, w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/markets/keyset" {
			return false
		}
		writeJSON(w, code, body)
		return true
	}
}

func TestListActiveOffsetExactMultiple(t *testing.T) {
	// 200 markets at 100 a page: the third page is empty, which ends the walk.
	v := &venue{noKeyset: true, markets: genMarkets(t, 200)}
	c, _, _ := newVenue(t, v, Config{})
	got, st, err := c.ListActive(context.Background())
	if err != nil || len(got) != 200 || st.Pages != 3 || !st.Complete {
		t.Fatalf("ListActive = %d markets, %+v, %v", len(got), st, err)
	}
}

func TestListActiveOffsetLimit(t *testing.T) {
	v := &venue{noKeyset: true, offsetLimit: 200, markets: genMarkets(t, 500)}
	c, _, _ := newVenue(t, v, Config{})
	got, st, err := c.ListActive(context.Background())
	if !errors.Is(err, ErrPartial) {
		t.Fatalf("err = %v; want ErrPartial", err)
	}
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusUnprocessableEntity || !strings.Contains(err.Error(), "offset too large") {
		t.Fatalf("err = %v; want the venue's 422 inside", err)
	}
	if !strings.HasPrefix(err.Error(), "cannot list markets: ") {
		t.Fatalf("err = %q", err)
	}
	// Pages overlap by one market: offsets 0, 99, 198 hold markets 0..297.
	if len(got) != 298 || st.Complete || st.Warnings[WarnOffsetLimit] != 1 || st.APIErrors[ClassValidation] != 1 {
		t.Fatalf("got %d markets, stats %+v; want 298 and the 422 counted", len(got), st)
	}
	if st.Requests != 5 { // keyset 404, offsets 0, 99, 198, 297 (422, not retried)
		t.Fatalf("requests = %d; want 5", st.Requests)
	}
}

func TestListActiveRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 12, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, header string
		min, max     time.Duration
	}{
		{"seconds", "2", 2 * time.Second, 2 * time.Second},
		{"http date", now.Add(3 * time.Second).Format(http.TimeFormat), 3 * time.Second, 3 * time.Second},
		{"capped", "86400", 5 * time.Second, 5 * time.Second},
		{"past date", now.Add(-time.Hour).Format(http.TimeFormat), time.Millisecond / 2, time.Millisecond},
		{"garbage", "soon", time.Millisecond / 2, time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &venue{markets: genMarkets(t, 3), hook: func(n int, w http.ResponseWriter, _ *http.Request) bool {
				if n > 1 {
					return false
				}
				w.Header().Set("Retry-After", tc.header)
				writeJSON(w, http.StatusTooManyRequests, `{"error":"rate limited"}`)
				return true
			}}
			c, _, slept := newVenue(t, v, Config{Now: func() time.Time { return now }, RetryAfterMax: 5 * time.Second})
			got, st, err := c.ListActive(context.Background())
			if err != nil || len(got) != 3 {
				t.Fatalf("ListActive = %d markets, %v", len(got), err)
			}
			if len(*slept) != 1 || (*slept)[0] < tc.min || (*slept)[0] > tc.max {
				t.Fatalf("slept %v; want one wait in [%v, %v]", *slept, tc.min, tc.max)
			}
			if st.APIErrors[ClassThrottled] != 1 || st.Retries != 1 || st.Requests != 2 {
				t.Fatalf("stats = %+v", st)
			}
		})
	}
}

func TestListActive5xxThenSuccess(t *testing.T) {
	v := &venue{markets: genMarkets(t, 150), hook: func(n int, w http.ResponseWriter, _ *http.Request) bool {
		switch n {
		case 2: // page 2, first try
			writeJSON(w, http.StatusBadGateway, `<html>bad gateway</html>`)
		case 3:
			writeJSON(w, http.StatusServiceUnavailable, `{"error":"unavailable"}`)
		default:
			return false
		}
		return true
	}}
	c, _, slept := newVenue(t, v, Config{BackoffBase: 10 * time.Millisecond, BackoffMax: time.Second})
	got, st, err := c.ListActive(context.Background())
	if err != nil || len(got) != 150 {
		t.Fatalf("ListActive = %d markets, %v", len(got), err)
	}
	if st.APIErrors[ClassServer] != 2 || st.Retries != 2 || st.Requests != 4 || st.Pages != 2 {
		t.Fatalf("stats = %+v", st)
	}
	// Jittered exponential backoff: [base/2, base], then [base, 2·base].
	if w := *slept; len(w) != 2 || w[0] < 5*time.Millisecond || w[0] > 10*time.Millisecond ||
		w[1] < 10*time.Millisecond || w[1] > 20*time.Millisecond {
		t.Fatalf("slept %v", w)
	}
	// The retried page asked for the same cursor again.
	reqs := v.requests()
	if a, b := reqs[1].URL.RawQuery, reqs[3].URL.RawQuery; a != b {
		t.Fatalf("retry query %q; want %q", b, a)
	}
}

func TestListActivePersistent5xx(t *testing.T) {
	v := &venue{hook: func(_ int, w http.ResponseWriter, _ *http.Request) bool {
		writeJSON(w, http.StatusInternalServerError, `{"error":"boom"}`)
		return true
	}}
	c, _, slept := newVenue(t, v, Config{MaxRetries: 3})
	got, st, err := c.ListActive(context.Background())
	var se *StatusError
	if err == nil || !errors.As(err, &se) || se.Code != 500 || errors.Is(err, ErrPartial) {
		t.Fatalf("err = %v; want the 500, not partial", err)
	}
	if !strings.Contains(err.Error(), "giving up after 4 attempts") || !strings.HasPrefix(err.Error(), "cannot list markets: ") {
		t.Fatalf("err = %q", err)
	}
	if len(got) != 0 || st.Requests != 4 || st.APIErrors[ClassServer] != 4 || len(*slept) != 3 || st.Complete {
		t.Fatalf("got %d, stats %+v, slept %v", len(got), st, *slept)
	}
}

func TestListActiveNoRetryOn4xx(t *testing.T) {
	for _, code := range []int{http.StatusBadRequest, http.StatusForbidden, http.StatusUnprocessableEntity} {
		v := &venue{hook: func(_ int, w http.ResponseWriter, _ *http.Request) bool {
			writeJSON(w, code, `{"error":"no"}`)
			return true
		}}
		c, _, slept := newVenue(t, v, Config{})
		_, st, err := c.ListActive(context.Background())
		var se *StatusError
		if !errors.As(err, &se) || se.Code != code || st.Requests != 1 || len(*slept) != 0 {
			t.Fatalf("code %d: err %v, stats %+v", code, err, st)
		}
		class := ClassClient
		if code == http.StatusUnprocessableEntity {
			class = ClassValidation
		}
		if st.APIErrors[class] != 1 {
			t.Fatalf("code %d: APIErrors = %v", code, st.APIErrors)
		}
	}
}

func TestListActiveNetworkError(t *testing.T) {
	v := &venue{}
	c, srv, slept := newVenue(t, v, Config{MaxRetries: 2})
	srv.Close() // connection refused from now on
	_, st, err := c.ListActive(context.Background())
	if err == nil || st.APIErrors[ClassNetwork] != 3 || st.Requests != 3 || len(*slept) != 2 {
		t.Fatalf("err %v, stats %+v", err, st)
	}
}

func TestListActiveRequestTimeout(t *testing.T) {
	hang := func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // the client gives up and closes the connection
	}
	t.Run("then success", func(t *testing.T) {
		v := &venue{markets: genMarkets(t, 5), hook: func(n int, w http.ResponseWriter, r *http.Request) bool {
			if n == 1 {
				hang(w, r)
				return true
			}
			return false
		}}
		c, _, _ := newVenue(t, v, Config{RequestTimeout: 300 * time.Millisecond})
		got, st, err := c.ListActive(context.Background())
		if err != nil || len(got) != 5 || st.APIErrors[ClassTimeout] != 1 || st.Requests != 2 {
			t.Fatalf("got %d, stats %+v, err %v", len(got), st, err)
		}
	})
	t.Run("always", func(t *testing.T) {
		v := &venue{hook: func(_ int, w http.ResponseWriter, r *http.Request) bool {
			hang(w, r)
			return true
		}}
		c, _, _ := newVenue(t, v, Config{RequestTimeout: 50 * time.Millisecond, MaxRetries: 1})
		_, st, err := c.ListActive(context.Background())
		if !errors.Is(err, context.DeadlineExceeded) || st.APIErrors[ClassTimeout] != 2 || st.Requests != 2 {
			t.Fatalf("err %v, stats %+v", err, st)
		}
	})
	t.Run("slow body", func(t *testing.T) {
		// Headers arrive at once, the body never ends: the timeout covers the read.
		v := &venue{hook: func(n int, w http.ResponseWriter, r *http.Request) bool {
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(`{"markets":[`))
			w.(http.Flusher).Flush()
			hang(w, r)
			return true
		}}
		c, _, _ := newVenue(t, v, Config{RequestTimeout: 50 * time.Millisecond, MaxRetries: -1})
		_, st, err := c.ListActive(context.Background())
		if err == nil || st.APIErrors[ClassTimeout] != 1 || st.Requests != 1 {
			t.Fatalf("err %v, stats %+v", err, st)
		}
	})
}

func TestListActiveBodyTooLarge(t *testing.T) {
	v := &venue{markets: genMarkets(t, 10)} // ~6 KB each
	c, _, _ := newVenue(t, v, Config{MaxBodyBytes: 16 << 10})
	got, st, err := c.ListActive(context.Background())
	if !errors.Is(err, errBodyTooLarge) || len(got) != 0 {
		t.Fatalf("err %v, %d markets; want body too large", err, len(got))
	}
	if st.APIErrors[ClassBodyTooBig] != 1 || st.Requests != 1 {
		t.Fatalf("stats %+v; want one attempt, not retried", st)
	}
	// Exactly at the limit is fine.
	v2 := &venue{markets: genMarkets(t, 1)}
	c2, srv2, _ := newVenue(t, v2, Config{})
	resp, err := c2.cfg.HTTPClient.Get(srv2.URL + "/markets/keyset?closed=false&limit=100&order=id&ascending=false")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	size := int64(len(body))
	c3, err := New(Config{BaseURL: srv2.URL, MaxBodyBytes: size})
	if err != nil {
		t.Fatal(err)
	}
	defer c3.CloseIdleConnections()
	if got, _, err := c3.ListActive(context.Background()); err != nil || len(got) != 1 {
		t.Fatalf("at the limit (%d bytes): %d markets, %v", size, len(got), err)
	}
}

func TestListActiveRepeatedCursor(t *testing.T) {
	t.Run("cursor ignored", func(t *testing.T) {
		v := &venue{ignoreCursor: true, markets: genMarkets(t, 250)}
		c, _, _ := newVenue(t, v, Config{})
		got, st, err := c.ListActive(context.Background())
		if !errors.Is(err, ErrPartial) || len(got) != 100 || st.Requests != 2 || st.Warnings[WarnRepeatedPage] != 1 {
			t.Fatalf("err %v, %d markets, stats %+v", err, len(got), st)
		}
	})
	t.Run("same cursor, new markets", func(t *testing.T) {
		// A broken server returning fresh markets but the same cursor: the
		// cursor check stops it.
		all := genMarkets(t, 30)
		v := &venue{hook: func(n int, w http.ResponseWriter, _ *http.Request) bool {
			page := all[(n-1)*10 : n*10]
			writeJSON(w, http.StatusOK, `{"markets":[`+string(joinRaw(page))+`],"next_cursor":"SAME"}`)
			return true
		}}
		c, _, _ := newVenue(t, v, Config{PageLimit: 10})
		got, st, err := c.ListActive(context.Background())
		if !errors.Is(err, ErrPartial) || len(got) != 20 || st.Requests != 2 || st.Warnings[WarnRepeatedPage] != 1 {
			t.Fatalf("err %v, %d markets, stats %+v", err, len(got), st)
		}
	})
	t.Run("offset ignored", func(t *testing.T) {
		v := &venue{noKeyset: true, markets: genMarkets(t, 20), hook: func(n int, w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != "/markets" {
				return false
			}
			writeJSON(w, http.StatusOK, `[`+string(joinRaw(genMarkets(t, 10)))+`]`)
			return true
		}}
		c, _, _ := newVenue(t, v, Config{PageLimit: 10})
		got, st, err := c.ListActive(context.Background())
		// Page 2's first market is the expected overlap; the 9 after it repeat.
		if !errors.Is(err, ErrPartial) || len(got) != 10 || st.Warnings[WarnRepeatedPage] != 1 || st.Skipped[ReasonDuplicateMarket] != 9 {
			t.Fatalf("err %v, %d markets, stats %+v", err, len(got), st)
		}
	})
	t.Run("max pages", func(t *testing.T) {
		v := &venue{markets: genMarkets(t, 10)}
		c, _, _ := newVenue(t, v, Config{PageLimit: 2, MaxPages: 3})
		got, st, err := c.ListActive(context.Background())
		if !errors.Is(err, ErrPartial) || len(got) != 6 || st.Warnings[WarnMaxPages] != 1 {
			t.Fatalf("err %v, %d markets, stats %+v", err, len(got), st)
		}
	})
}

func joinRaw(ms [][]byte) []byte {
	var out []byte
	for i, m := range ms {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, m...)
	}
	return out
}

func TestListActiveBadLaterPage(t *testing.T) {
	for name, body := range map[string]string{
		"bare array":     `[]`,
		"truncated":      `{"markets":[{"id":"1"`,
		"cursor number":  `{"markets":[],"next_cursor":5}`,
		"markets object": `{"markets":{}}`,
	} {
		t.Run(name, func(t *testing.T) {
			v := &venue{markets: genMarkets(t, 15), hook: func(n int, w http.ResponseWriter, _ *http.Request) bool {
				if n == 2 {
					writeJSON(w, http.StatusOK, body)
					return true
				}
				return false
			}}
			c, _, _ := newVenue(t, v, Config{PageLimit: 10})
			got, st, err := c.ListActive(context.Background())
			if err == nil || errors.Is(err, ErrPartial) || len(got) != 10 || st.APIErrors[ClassBadResponse] != 1 || st.Mode != ModeKeyset {
				t.Fatalf("err %v, %d markets, stats %+v; want a hard error after page 1", err, len(got), st)
			}
		})
	}
}

func TestListActiveCancel(t *testing.T) {
	t.Run("during request", func(t *testing.T) {
		arrived := make(chan struct{})
		v := &venue{hook: func(_ int, w http.ResponseWriter, r *http.Request) bool {
			close(arrived)
			<-r.Context().Done()
			return true
		}}
		c, _, _ := newVenue(t, v, Config{RequestTimeout: time.Hour})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		errc := make(chan error, 1)
		go func() {
			_, _, err := c.ListActive(ctx)
			errc <- err
		}()
		<-arrived
		cancel()
		select {
		case err := <-errc:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v; want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("ListActive did not return after cancel")
		}
	})
	t.Run("during backoff", func(t *testing.T) {
		v := &venue{hook: func(_ int, w http.ResponseWriter, _ *http.Request) bool {
			writeJSON(w, http.StatusServiceUnavailable, `{}`)
			return true
		}}
		// The real timer-based Sleep, with an hour of backoff.
		c, _, _ := newVenue(t, v, Config{BackoffBase: time.Hour, BackoffMax: time.Hour, Sleep: sleepCtx})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		errc := make(chan error, 1)
		go func() {
			_, _, err := c.ListActive(ctx)
			errc <- err
		}()
		waitFor(t, "first request", func() bool { return len(v.requests()) == 1 })
		cancel()
		select {
		case err := <-errc:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v; want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("ListActive did not return after cancel")
		}
		if n := len(v.requests()); n != 1 {
			t.Fatalf("%d requests; want 1", n)
		}
	})
}

func TestListActive503RetryAfter(t *testing.T) {
	v := &venue{markets: genMarkets(t, 2), hook: func(n int, w http.ResponseWriter, _ *http.Request) bool {
		if n > 1 {
			return false
		}
		w.Header().Set("Retry-After", "3")
		writeJSON(w, http.StatusServiceUnavailable, `{"error":"maintenance"}`)
		return true
	}}
	c, _, slept := newVenue(t, v, Config{})
	if got, _, err := c.ListActive(context.Background()); err != nil || len(got) != 2 {
		t.Fatalf("ListActive = %d markets, %v", len(got), err)
	}
	if len(*slept) != 1 || (*slept)[0] != 3*time.Second {
		t.Fatalf("slept %v; want [3s]", *slept)
	}
}

// TestListActiveUnusable: a listed market that cannot be used is reported
// by condition id (it exists: its absence from the result is no expiry),
// and one whose condition id is unreadable is counted, so a caller knows
// the result proves no absence at all.
func TestListActiveUnusable(t *testing.T) {
	ms := genMarkets(t, 5)
	ms[1] = genMarket(t, 1, func(m map[string]any) { m["clobTokenIds"] = `["123` })
	ms[2] = genMarket(t, 2, func(m map[string]any) { m["closed"] = true })
	ms[3] = genMarket(t, 3, func(m map[string]any) { m["conditionId"] = "0xnothex" })
	v := &venue{markets: ms}
	c, _, _ := newVenue(t, v, Config{})
	got, st, err := c.ListActive(context.Background())
	if err != nil || len(got) != 2 {
		t.Fatalf("ListActive = %d markets, %v; want 2, nil", len(got), err)
	}
	if want := []string{fmt.Sprintf("0x%064x", 2)}; !slices.Equal(st.Unusable, want) || st.UnusableUnknown != 1 {
		t.Errorf("unusable %v, unknown %d; want %v, 1", st.Unusable, st.UnusableUnknown, want)
	}
}
