package truth

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
	bad := Compare(http.DefaultClient, feedSrv.URL, simSrv.URL, []string{"1", "2", "3", "4", "5", "6"})
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
