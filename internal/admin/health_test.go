package admin_test

import (
	"net/http"
	"testing"

	"github.com/polyfeed/polyfeed/internal/admin"
)

func TestHealthz(t *testing.T) {
	tests := []struct {
		name    string
		healthy func() (bool, string)
		status  int
		body    map[string]any
	}{
		{"no check configured", nil, http.StatusOK, map[string]any{"status": "ok"}},
		{"healthy", func() (bool, string) { return true, "" }, http.StatusOK, map[string]any{"status": "ok"}},
		{"unhealthy", func() (bool, string) { return false, "no data on 3 of 12 connections for 30s" },
			http.StatusServiceUnavailable, map[string]any{"status": "unhealthy", "reason": "no data on 3 of 12 connections for 30s"}},
		{"unhealthy without reason", func() (bool, string) { return false, "" },
			http.StatusServiceUnavailable, map[string]any{"status": "unhealthy", "reason": "unknown"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, admin.Config{Healthy: tt.healthy})
			got := h.get("/healthz").wantJSON(t, tt.status)
			assertBody(t, "/healthz", got, tt.body)
		})
	}
}

func TestReadyz(t *testing.T) {
	tests := []struct {
		name   string
		ready  func() (bool, string)
		status int
		body   map[string]any
	}{
		{"no check configured", nil, http.StatusOK, map[string]any{"status": "ready"}},
		{"ready", func() (bool, string) { return true, "" }, http.StatusOK, map[string]any{"status": "ready"}},
		{"starting", func() (bool, string) { return false, "starting: 0 of 4 workers running" },
			http.StatusServiceUnavailable, map[string]any{"status": "not_ready", "reason": "starting: 0 of 4 workers running"}},
		{"draining", func() (bool, string) { return false, "draining" },
			http.StatusServiceUnavailable, map[string]any{"status": "not_ready", "reason": "draining"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, admin.Config{Ready: tt.ready})
			got := h.get("/readyz").wantJSON(t, tt.status)
			assertBody(t, "/readyz", got, tt.body)
		})
	}
}

// Liveness and readiness are independent: an engine can be alive but not ready.
func TestHealthAndReadinessAreIndependent(t *testing.T) {
	h := start(t, admin.Config{
		Healthy: func() (bool, string) { return true, "" },
		Ready:   func() (bool, string) { return false, "subscribing" },
	})
	h.get("/healthz").wantJSON(t, http.StatusOK)
	h.get("/readyz").wantJSON(t, http.StatusServiceUnavailable)
}

func assertBody(t *testing.T, path string, got, want map[string]any) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("GET %s body = %v; want %v", path, got, want)
		return
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("GET %s body = %v; want %v", path, got, want)
			return
		}
	}
}
