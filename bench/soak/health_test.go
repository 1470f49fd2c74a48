package soak

import (
	"strings"
	"testing"
	"time"
)

// healthSeries is a sample every 5 s for 180 s, green except at the
// seconds listed.
func healthSeries(red ...int) []Sample {
	isRed := map[int]bool{}
	for _, r := range red {
		isRed[r] = true
	}
	var ss []Sample
	for s := 0; s <= 180; s += 5 {
		ss = append(ss, Sample{At: time.Duration(s) * time.Second, Healthy: !isRed[s], HealthWhy: "no market data"})
	}
	return ss
}

func secs(ss []Sample) []int {
	var out []int
	for _, s := range ss {
		out = append(out, int(s.At.Seconds()))
	}
	return out
}

func TestUnexplainedRed(t *testing.T) {
	sec := func(s int) time.Duration { return time.Duration(s) * time.Second }
	faults := []FaultEvent{
		{At: sec(30), Until: sec(30), Name: "close 1006"},
		{At: sec(60), Until: sec(70), Name: "bad frames"},
		{At: sec(90), Until: sec(90), Name: "close 1011", Err: "connection refused"},
	}
	for _, tc := range []struct {
		name string
		red  []int
		want []int // unexplained
	}{
		{"all green", nil, nil},
		{"red before any fault", []int{20}, []int{20}},
		{"red right after a close, until recovery", []int{30, 35, 40}, nil},
		{"red past the bound after a close", []int{30, 35, 40, 45, 50}, []int{50}},
		{"red during a lasting fault and within the bound after it", []int{65, 70, 75, 80, 85}, nil},
		{"red again after recovering from the same fault", []int{35, 45}, []int{45}},
		{"red long after the last fault (the old 90 s grace forgave this)", []int{110}, []int{110}},
		{"red after a fault that failed to inject", []int{90, 95}, []int{90, 95}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := secs(unexplainedRed(healthSeries(tc.red...), faults, 15*time.Second))
			if len(got) != len(tc.want) {
				t.Fatalf("unexplained at %v s; want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("unexplained at %v s; want %v", got, tc.want)
				}
			}
		})
	}
}

// stuckSeries is healthSeries with the red samples' reason a stuck worker's.
func stuckSeries(red ...int) []Sample {
	ss := healthSeries(red...)
	for i := range ss {
		if !ss[i].Healthy {
			ss[i].HealthWhy = `GET /healthz: 503 {"status":"unhealthy","reason":"stuck for 10s: worker_0"}`
		}
	}
	return ss
}

// TestStuckFaultHealth: a fault that must show on /healthz (the stuck
// handler, 25 s from 60 s) is judged on its report and its recovery; the
// green samples before its report (StuckAfter has not passed yet) are no
// recovery that would make its red ones unexplained.
func TestStuckFaultHealth(t *testing.T) {
	sec := func(s int) time.Duration { return time.Duration(s) * time.Second }
	faults := []FaultEvent{
		{At: sec(30), Until: sec(30), Name: "close 1006"},
		{At: sec(60), Until: sec(85), Name: "stuck handler", Expect: "stuck"},
		{At: sec(120), Until: sec(145), Name: "stuck handler (untaken)", Expect: "stuck", Err: "not taken"},
	}
	for _, tc := range []struct {
		name        string
		samples     []Sample
		unexplained []int
		missing     string // part of the one expectedReports line, "" for none
	}{
		{"reported after StuckAfter, then green", stuckSeries(75, 80, 85), nil, ""},
		{"reported until the bound", stuckSeries(75, 80, 85, 90, 95), nil, ""},
		{"never reported", stuckSeries(), nil, "never reported"},
		{"red for another reason", healthSeries(75, 80), nil, "never reported"},
		{"reported, never green again", stuckSeries(75, 80, 85, 90, 95, 100, 105), []int{105}, "not green again"},
		{"red again after recovering", stuckSeries(75, 80, 90), []int{90}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := secs(unexplainedRed(tc.samples, faults, 15*time.Second))
			if len(got) != len(tc.unexplained) {
				t.Fatalf("unexplained at %v s; want %v", got, tc.unexplained)
			}
			for i := range got {
				if got[i] != tc.unexplained[i] {
					t.Fatalf("unexplained at %v s; want %v", got, tc.unexplained)
				}
			}
			var miss []string
			for _, c := range expectedReports(tc.samples, faults, 15*time.Second) {
				if c.Missing != "" {
					miss = append(miss, c.Missing)
				}
			}
			switch {
			case tc.missing == "" && len(miss) != 0:
				t.Errorf("missing reports %q; want none", miss)
			case tc.missing != "" && (len(miss) != 1 || !strings.Contains(miss[0], tc.missing)):
				t.Errorf("missing reports %q; want one saying %q", miss, tc.missing)
			}
		})
	}
}
