package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Once Stop has begun, readiness is withdrawn whatever the engine says. (Over the network
// only requests already in flight can observe this: Stop closes the listener first.)
func TestReadyzWhileDraining(t *testing.T) {
	s, err := New(Config{Ready: func() (bool, string) { return true, "" }})
	if err != nil {
		t.Fatal(err)
	}
	get := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		s.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec
	}
	if rec := get(); rec.Code != http.StatusOK {
		t.Fatalf("GET /readyz before draining = %d; want 200", rec.Code)
	}
	s.draining.Store(true)
	rec := get()
	if want := `{"status":"not_ready","reason":"admin server is shutting down"}`; rec.Code != http.StatusServiceUnavailable || strings.TrimSpace(rec.Body.String()) != want {
		t.Fatalf("GET /readyz while draining = %d %s; want 503 %s", rec.Code, rec.Body, want)
	}
}
