package gamma

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/polyfeed/polyfeed/internal/poll"
)

// venue is an in-process Gamma API serving a fixed market list the way the
// real one does: keyset pages with an opaque next_cursor, offset pages as a
// bare array, a 422 past the offset limit, /markets/{id}. Faults are injected
// through hook, which sees every request first.
type venue struct {
	t       testing.TB
	markets [][]byte // raw market objects, newest (highest id) first

	noKeyset     bool // /markets/keyset answers 404
	ignoreCursor bool // after_cursor is ignored: page 1 forever, like a cursor= typo
	offsetLimit  int  // offsets above it answer 422; 0 means no limit

	// hook handles request number n (1-based) when it returns true.
	hook func(n int, w http.ResponseWriter, r *http.Request) bool

	mu   sync.Mutex
	reqs []*http.Request
}

// newVenue starts a venue and a client for it. Both are torn down by
// t.Cleanup; cfg's zero fields get test-speed defaults.
func newVenue(t *testing.T, v *venue, cfg Config) (*Client, *httptest.Server, *[]time.Duration) {
	t.Helper()
	v.t = t
	srv := httptest.NewServer(v)
	t.Cleanup(srv.Close)
	cfg.BaseURL = srv.URL
	if cfg.BackoffBase == 0 {
		cfg.BackoffBase = time.Millisecond
	}
	if cfg.BackoffMax == 0 {
		cfg.BackoffMax = 4 * time.Millisecond
	}
	var mu sync.Mutex
	slept := new([]time.Duration)
	if cfg.Sleep == nil {
		cfg.Sleep = func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			*slept = append(*slept, d)
			mu.Unlock()
			return ctx.Err()
		}
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c, srv, slept
}

func (v *venue) requests() []*http.Request {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]*http.Request(nil), v.reqs...)
}

func (v *venue) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v.mu.Lock()
	v.reqs = append(v.reqs, r.Clone(context.Background()))
	n := len(v.reqs)
	v.mu.Unlock()
	if v.hook != nil && v.hook(n, w, r) {
		return
	}
	q := r.URL.Query()
	switch {
	case r.URL.Path == "/markets/keyset":
		if v.noKeyset {
			http.NotFound(w, r)
			return
		}
		if q.Has("offset") {
			writeJSON(w, http.StatusUnprocessableEntity, `{"type":"validation error","error":"offset is not supported"}`)
			return
		}
		if !v.filtersOK(w, q) {
			return
		}
		limit, _ := strconv.Atoi(q.Get("limit"))
		start := 0
		if c := q.Get("after_cursor"); c != "" && !v.ignoreCursor {
			b, err := base64.RawURLEncoding.DecodeString(c)
			if err != nil {
				writeJSON(w, http.StatusBadRequest, `{"error":"bad cursor"}`)
				return
			}
			start, _ = strconv.Atoi(string(b))
		}
		end := min(start+limit, len(v.markets))
		var buf bytes.Buffer
		buf.WriteString(`{"markets":[`)
		buf.Write(bytes.Join(v.markets[start:end], []byte(",")))
		buf.WriteString(`]`)
		if end < len(v.markets) {
			fmt.Fprintf(&buf, `,"next_cursor":%q`, base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end))))
		}
		buf.WriteString(`}`)
		writeJSON(w, http.StatusOK, buf.String())
	case r.URL.Path == "/markets":
		if !v.filtersOK(w, q) {
			return
		}
		limit, _ := strconv.Atoi(q.Get("limit"))
		offset, err := strconv.Atoi(q.Get("offset"))
		if err != nil {
			offset = 0
		}
		if v.offsetLimit > 0 && offset > v.offsetLimit {
			writeJSON(w, http.StatusUnprocessableEntity, `{"type":"validation error","error":"offset too large, use /markets/keyset for deeper pagination"}`)
			return
		}
		start := min(offset, len(v.markets))
		end := min(start+limit, len(v.markets))
		writeJSON(w, http.StatusOK, "["+string(bytes.Join(v.markets[start:end], []byte(",")))+"]")
	case strings.HasPrefix(r.URL.Path, "/markets/"):
		id := strings.TrimPrefix(r.URL.Path, "/markets/")
		for _, m := range v.markets {
			var head struct{ ID string }
			if json.Unmarshal(m, &head) == nil && head.ID == id {
				writeJSON(w, http.StatusOK, string(m))
				return
			}
		}
		writeJSON(w, http.StatusNotFound, `{"type":"not found error","error":"id not found"}`)
	default:
		http.NotFound(w, r)
	}
}

// filtersOK answers 400 when a page lost the listing filters, so every
// test proves they are repeated on every page.
func (v *venue) filtersOK(w http.ResponseWriter, q map[string][]string) bool {
	get := func(k string) string {
		if len(q[k]) != 1 {
			return ""
		}
		return q[k][0]
	}
	limit, err := strconv.Atoi(get("limit"))
	if get("closed") != "false" || get("order") != "id" || get("ascending") != "false" || err != nil || limit < 1 || limit > 100 {
		writeJSON(w, http.StatusBadRequest, `{"error":"bad filters"}`)
		v.t.Errorf("request lost its filters: %v", q)
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}

// readFixture returns testdata/name.
func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var fixtureOnce struct {
	sync.Once
	m   map[string]any
	err error
}

// fixtureMarket returns a copy of testdata/market.json decoded with exact
// numbers. Only top-level keys may be changed: nested values are shared.
func fixtureMarket(t testing.TB) map[string]any {
	t.Helper()
	fixtureOnce.Do(func() {
		b, err := os.ReadFile("testdata/market.json")
		if err != nil {
			fixtureOnce.err = err
			return
		}
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		fixtureOnce.err = d.Decode(&fixtureOnce.m)
	})
	if fixtureOnce.err != nil {
		t.Fatal(fixtureOnce.err)
	}
	return maps.Clone(fixtureOnce.m)
}

// tokenID returns a canonical 77-digit token id unique to n.
func tokenID(n int) string { return fmt.Sprintf("1%076d", n) }

// marketID returns the Gamma id of generated market i: ids fall as i grows,
// like the venue's order=id&ascending=false.
func marketID(i int) string { return strconv.Itoa(9_000_000 - i) }

// genMarket is the real market.json fixture made unique as market i, then
// changed by mod (which may set fields to anything, garbage included).
func genMarket(t testing.TB, i int, mod func(m map[string]any)) []byte {
	t.Helper()
	m := fixtureMarket(t)
	m["id"] = marketID(i)
	m["conditionId"] = fmt.Sprintf("0x%064x", i+1)
	m["slug"] = fmt.Sprintf("generated-%d", i)
	m["clobTokenIds"] = encodeList(tokenID(2*i), tokenID(2*i+1))
	if mod != nil {
		mod(m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func genMarkets(t testing.TB, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = genMarket(t, i, nil)
	}
	return out
}

// encodeList is Gamma's string-encoded array form: "[\"a\", \"b\"]".
func encodeList(items ...string) string {
	b, _ := json.Marshal(items)
	return strings.ReplaceAll(string(b), `","`, `", "`)
}

// ids returns the market ids in order.
func ids(ms []Market) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// waitFor polls cond every few ms up to a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, 10*time.Second, what, cond)
}
