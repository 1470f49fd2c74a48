package admin_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/polyfeed/polyfeed/internal/admin"
)

func TestPprofEnabled(t *testing.T) {
	// A WriteTimeout far below the profile's duration: the profile must still arrive,
	// because pprof extends its own write deadline through the server's response writer.
	h := start(t, admin.Config{EnablePprof: true, WriteTimeout: 200 * time.Millisecond})
	tests := []struct {
		path     string
		contains string // in the body; "" for binary profiles (only non-empty)
	}{
		{"/debug/pprof/", "goroutine"},
		{"/debug/pprof/cmdline", "admin.test"},
		{"/debug/pprof/symbol", "num_symbols"},
		{"/debug/pprof/goroutine?debug=1", "goroutine profile:"},
		{"/debug/pprof/heap", ""},
		{"/debug/pprof/allocs?debug=1", "heap profile:"},
		{"/debug/pprof/threadcreate?debug=1", "threadcreate profile:"},
		{"/debug/pprof/block", ""},
		{"/debug/pprof/mutex", ""},
		{"/debug/pprof/trace?seconds=0.05", ""},
		{"/debug/pprof/profile?seconds=1", ""},
	}
	for _, tt := range tests {
		r := h.get(tt.path)
		if r.status != http.StatusOK {
			t.Errorf("GET %s = %d; want 200 (%s)", tt.path, r.status, r.body)
			continue
		}
		if len(r.body) == 0 || !strings.Contains(string(r.body), tt.contains) {
			t.Errorf("GET %s body (%d bytes) lacks %q", tt.path, len(r.body), tt.contains)
		}
	}
	if r := h.do(http.MethodPost, "/debug/pprof/symbol"); r.status != http.StatusOK {
		t.Errorf("POST /debug/pprof/symbol = %d; want 200 (go tool pprof posts addresses)", r.status)
	}
	for _, method := range []string{http.MethodPost, http.MethodDelete} {
		h.do(method, "/debug/pprof/profile").wantJSON(t, http.StatusMethodNotAllowed)
	}
}

func TestPprofDurationCap(t *testing.T) {
	h := start(t, admin.Config{EnablePprof: true, MaxProfileDuration: 2 * time.Second})
	for _, path := range []string{
		"/debug/pprof/profile?seconds=3",
		"/debug/pprof/trace?seconds=2.5",
		"/debug/pprof/goroutine?seconds=100000",
		"/debug/pprof/trace?seconds=NaN",
		"/debug/pprof/trace?seconds=Inf",
	} {
		m := h.get(path).wantJSON(t, http.StatusBadRequest)
		if msg, _ := m["error"].(string); !strings.Contains(msg, "exceeds the maximum profile duration of 2s") {
			t.Errorf("GET %s error = %q; want it to name the cap", path, msg)
		}
	}
}

func TestPprofDisabled(t *testing.T) {
	h := start(t, admin.Config{})
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/profile", "/debug/pprof/heap", "/debug/pprof/cmdline"} {
		h.get(path).wantJSON(t, http.StatusNotFound)
	}
}
