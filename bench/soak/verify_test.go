package soak

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime/pprof"
	"strings"
	"testing"
	"time"
)

// bookServer serves JSON books by asset id at prefix (polysim's
// /sim/books/ or polyfeed's /books/); a missing id is a 404.
func bookServer(t *testing.T, prefix string, books map[string]string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := books[strings.TrimPrefix(r.URL.Path, prefix)]
		if !ok {
			http.Error(w, `{"error":"unknown asset"}`, http.StatusNotFound)
			return
		}
		fmt.Fprint(w, b)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestCompareBooksCatchesCorruptedBooks corrupts a copy of the truth in
// each way a book can be wrong and checks that the final comparison names
// every corrupted book and passes the intact one.
func TestCompareBooksCatchesCorruptedBooks(t *testing.T) {
	const truth = `{"bids":[{"price":"0.48","size":"100"},{"price":"0.47","size":"20.5"}],"asks":[{"price":"0.52","size":"7"}]}`
	feed := map[string]string{
		"1": `{"valid":true,"bids":[{"price":"0.48","size":"100"},{"price":"0.47","size":"20.5"}],"asks":[{"price":"0.52","size":"7"}]}`,
		"2": `{"valid":true,"bids":[{"price":"0.48","size":"100"},{"price":"0.47","size":"20.6"}],"asks":[{"price":"0.52","size":"7"}]}`,  // one size
		"3": `{"valid":true,"bids":[{"price":"0.48","size":"100"}],"asks":[{"price":"0.52","size":"7"}]}`,                                 // a level lost
		"4": `{"valid":true,"bids":[{"price":"0.48","size":"100"},{"price":"0.47","size":"20.5"}],"asks":[{"price":"0.53","size":"7"}]}`,  // a price
		"5": `{"valid":false,"bids":[{"price":"0.48","size":"100"},{"price":"0.47","size":"20.5"}],"asks":[{"price":"0.52","size":"7"}]}`, // right levels, marked stale
		// "6" is missing from polyfeed
	}
	sim := map[string]string{}
	for _, id := range []string{"1", "2", "3", "4", "5", "6"} {
		sim[id] = truth
	}
	feedSrv, simSrv := bookServer(t, "/books/", feed), bookServer(t, "/sim/books/", sim)
	bad := compareBooks(feedSrv.URL, simSrv.URL, []string{"1", "2", "3", "4", "5", "6"})
	got := map[string]string{}
	for _, m := range bad {
		got[m.AssetID] = m.Why
	}
	for id, want := range map[string]string{"2": "bids[1]", "3": "bids: 1 levels, truth 2", "4": "asks[0]", "5": "book invalid", "6": "not in polyfeed"} {
		if !strings.Contains(got[id], want) {
			t.Errorf("book %s: mismatch %q; want one naming %q", id, got[id], want)
		}
	}
	if why, ok := got["1"]; ok || len(bad) != 5 {
		t.Errorf("mismatches %v (book 1: %q); want exactly the five corrupted books", bad, why)
	}
}

func TestJudge(t *testing.T) {
	healthy := func() *Report {
		r := &Report{Config: Config{Converge: time.Minute}, Books: 10}
		for i := range 37 {
			r.Samples = append(r.Samples, Sample{At: time.Duration(i) * 5 * time.Second, Healthy: true, Complete: true})
		}
		r.Faults = []FaultEvent{{At: 30 * time.Second, Until: 30 * time.Second, Name: "close 1006"}}
		return r
	}
	r := healthy()
	r.judge()
	if !r.Passed() {
		t.Fatalf("healthy report failed: %v", r.Failures)
	}
	for _, tc := range []struct {
		name, want string
		breakIt    func(*Report)
	}{
		{"a dropped event", "drops: 3", func(r *Report) { r.Samples[20].Dropped, r.Samples[21].Dropped = 2, 3 }},
		{"a fault that failed to inject", "faults: 1 of 2 failed", func(r *Report) {
			r.Faults = append(r.Faults, FaultEvent{At: time.Minute, Name: "bad frames", Err: "POST /sim/faults: 400"})
		}},
		{"an unexplained red sample", "health: 1 red", func(r *Report) { r.Unexplained = r.Samples[3:4] }},
		{"a trend that grew", "trend: goroutines", func(r *Report) { r.Trends = []Trend{{Name: "goroutines", Fail: true}} }},
		{"a trend too short to judge", "too short", func(r *Report) { r.Trends = []Trend{{Name: "rss_bytes", Fail: true, Why: "too short"}} }},
		{"a corrupted book", "books: 1 of 10 differ", func(r *Report) { r.Mismatches = []Mismatch{{AssetID: "1", Why: "bids[0]"}} }},
		{"no book compared", "books: none compared", func(r *Report) { r.Books = 0 }},
		{"many failed observations", "sampling: 5", func(r *Report) {
			r.SampleErrors = []string{"a", "b", "c", "d", "e"}
		}},
		{"a slow stop", "stop:", func(r *Report) { r.StopErr = "did not exit" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := healthy()
			tc.breakIt(r)
			r.judge()
			if !strings.Contains(strings.Join(r.Failures, "\n"), tc.want) {
				t.Errorf("failures %q; want one containing %q", r.Failures, tc.want)
			}
		})
	}
}

func TestTakeSampleUnreachableAdminIsRed(t *testing.T) {
	addr, err := freeAddr() // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	s, err := takeSample("http://"+addr, 1, time.Second)
	if err == nil || s.Complete {
		t.Errorf("takeSample = %+v, %v; want an incomplete sample and an error", s, err)
	}
	if s.Healthy || !strings.Contains(s.HealthWhy, "unreachable") {
		t.Errorf("sample health %v %q; want red, admin server unreachable", s.Healthy, s.HealthWhy)
	}
	// Red with no fault before it: the run fails.
	if got := unexplainedRed([]Sample{s}, nil, 15*time.Second); len(got) != 1 {
		t.Errorf("unexplainedRed = %v; want the unreachable sample", got)
	}
}

func TestParseHeapAlloc(t *testing.T) {
	var buf bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&buf, 1); err != nil { // the text polyfeed's /debug/pprof/heap?debug=1 serves
		t.Fatal(err)
	}
	n, err := parseHeapAlloc(&buf)
	if err != nil || n == 0 {
		t.Errorf("parseHeapAlloc = %d, %v; want this process's heap", n, err)
	}
	if _, err := parseHeapAlloc(strings.NewReader("heap profile: 0: 0 [0: 0] @ heap/1048576\n")); err == nil {
		t.Error("parseHeapAlloc found HeapAlloc in a profile without one")
	}
}
