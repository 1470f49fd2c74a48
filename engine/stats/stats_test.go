package stats

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/polyfeed/polyfeed/internal/hist"
)

// Summarize converts nanoseconds to milliseconds and keeps the count, mean
// and maximum exact.
func TestSummarizeInMilliseconds(t *testing.T) {
	var h hist.Histogram
	for range 100 {
		h.Record(2_000_000) // 2 ms
	}
	h.Record(50_000_000) // 50 ms
	s := h.Snapshot()
	l := Summarize(&s)
	if l.Count != 101 || l.MaxMs != 50 {
		t.Errorf("count %d, max %v ms; want 101, 50", l.Count, l.MaxMs)
	}
	if want := (100*2.0 + 50) / 101; l.MeanMs < want-1e-9 || l.MeanMs > want+1e-9 {
		t.Errorf("mean %v ms; want %v", l.MeanMs, want)
	}
	if l.P50Ms < 1.9 || l.P50Ms > 2.2 || l.P50Ms > l.P999Ms {
		t.Errorf("p50 %v ms, p99.9 %v ms; want p50 about 2 and not above p99.9", l.P50Ms, l.P999Ms)
	}
}

// The JSON names are the seed's /stats schema, which operators' tooling reads.
func TestSnapshotJSONNames(t *testing.T) {
	b, err := json.Marshal(Snapshot{Workers: Workers{WorkerStats: map[string]Worker{"worker_0": {}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"registry":{"total_markets"`, `"router":{"frames"`, `"worker_stats":{"worker_0":{`, `"routing_latency":{"count"`, `"processing_latency"`, `"migration":{"held_back"`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("snapshot JSON lacks %s:\n%s", k, b)
		}
	}
}
