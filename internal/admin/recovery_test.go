package admin_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/internal/admin"
)

// A panicking engine callback costs one 500 and one log record, not the server.
func TestPanicIsRecovered(t *testing.T) {
	h := start(t, admin.Config{
		Stats: func() any { panic("stats exploded") },
		Book:  func(string) (book.View, bool, error) { panic("book exploded") },
	})
	for _, path := range []string{"/stats", "/books/123"} {
		m := h.get(path).wantJSON(t, http.StatusInternalServerError)
		if msg, _ := m["error"].(string); !strings.Contains(msg, "panicked") {
			t.Errorf("GET %s error = %q; want it to say the handler panicked", path, msg)
		}
	}
	recs := h.logs.records(t, "admin handler panicked")
	if len(recs) != 2 {
		t.Fatalf("logged %d panic records; want one per panic (2)", len(recs))
	}
	for i, want := range []struct{ path, panic string }{{"/stats", "stats exploded"}, {"/books/123", "book exploded"}} {
		r := recs[i]
		if r["path"] != want.path || r["panic"] != want.panic || r["method"] != "GET" || r["remote"] == "" {
			t.Errorf("panic record %d = path %v panic %v method %v remote %v; want %s %q GET with a remote",
				i, r["path"], r["panic"], r["method"], r["remote"], want.path, want.panic)
		}
		if stack, _ := r["stack"].(string); !strings.Contains(stack, "recovery_test.go") {
			t.Errorf("panic record %d stack does not reach the panicking function:\n%s", i, stack)
		}
	}
	h.get("/healthz").wantJSON(t, http.StatusOK) // still serving
}
