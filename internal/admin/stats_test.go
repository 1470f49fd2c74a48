package admin_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/polyfeed/polyfeed/internal/admin"
)

type testStats struct {
	Running bool           `json:"running"`
	Events  uint64         `json:"events"`
	Queues  map[string]int `json:"queues"`
}

func TestStats(t *testing.T) {
	h := start(t, admin.Config{Stats: func() any {
		return testStats{Running: true, Events: 123456, Queues: map[string]int{"w0": 3}}
	}})
	r := h.get("/stats")
	r.wantJSON(t, http.StatusOK)
	var got testStats
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if !got.Running || got.Events != 123456 || got.Queues["w0"] != 3 {
		t.Errorf("GET /stats = %+v; want the Stats value", got)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q; want no-store", cc)
	}
	if bytes.Contains(bytes.TrimSpace(r.body), []byte("\n")) {
		t.Errorf("GET /stats without ?pretty is indented: %s", r.body)
	}

	pretty := h.get("/stats?pretty=1")
	pretty.wantJSON(t, http.StatusOK)
	if !bytes.Contains(pretty.body, []byte("\n  \"running\": true")) {
		t.Errorf("GET /stats?pretty=1 is not indented: %s", pretty.body)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, pretty.body); err != nil || compact.String() != string(bytes.TrimSpace(r.body)) {
		t.Errorf("pretty and compact bodies differ: %s vs %s", pretty.body, r.body)
	}
}

// A value that cannot be rendered is a 500 naming the problem, not a truncated 200.
func TestStatsEncodingFailure(t *testing.T) {
	h := start(t, admin.Config{Stats: func() any { return map[string]any{"bad": make(chan int)} }})
	m := h.get("/stats").wantJSON(t, http.StatusInternalServerError)
	if msg, _ := m["error"].(string); !strings.HasPrefix(msg, "cannot encode response: ") {
		t.Errorf("error = %q; want it to name the encoding failure", msg)
	}
	if n := len(h.logs.records(t, "cannot encode admin response")); n != 1 {
		t.Errorf("encoding failure logged %d times; want 1", n)
	}
}
