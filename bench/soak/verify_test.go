package soak

import (
	"bytes"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/polyfeed/polyfeed/bench/internal/proc"
)

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
		{"a stuck handler /healthz never reported", "never reported \"stuck\"", func(r *Report) {
			r.Faults = append(r.Faults, FaultEvent{At: time.Minute, Until: 85 * time.Second, Name: "stuck handler", Expect: "stuck"})
		}},
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
	addr, err := proc.FreeAddr() // nothing listens there
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

// TestReportShowsStuckReport: the written report says when /healthz
// reported the stuck handler, with its reason, and when it recovered.
func TestReportShowsStuckReport(t *testing.T) {
	r := &Report{Config: Config{Converge: time.Minute, RecoverBound: 15 * time.Second}, Books: 10}
	for i := range 37 {
		s := Sample{At: time.Duration(i) * 5 * time.Second, Healthy: true, Complete: true}
		if i == 15 || i == 16 {
			s.Healthy, s.HealthWhy = false, `503 {"reason":"stuck for 10s: worker_0"}`
		}
		r.Samples = append(r.Samples, s)
	}
	r.Faults = []FaultEvent{{At: time.Minute, Until: 85 * time.Second, Name: "stuck handler", Expect: "stuck"}}
	r.judge()
	if !r.Passed() {
		t.Fatalf("failures %q", r.Failures)
	}
	var b bytes.Buffer
	if err := r.writeMarkdown(&b, nil); err != nil {
		t.Fatal(err)
	}
	want := `| /healthz report of stuck handler at 1m0s | reported at 1m15s (503 {"reason":"stuck for 10s: worker_0"}), green again at 1m25s |`
	if !strings.Contains(b.String(), want) {
		t.Errorf("report lacks %q:\n%s", want, b.String())
	}
}
