package soak

import (
	"fmt"
	"strings"
	"time"
)

// unexplainedRed returns the red /healthz samples that no fault accounts
// for. A red sample is put down to the latest fault that started at or
// before it only when that fault was injected (a failed injection explains
// nothing), the sample is at most bound after the fault ended, and no
// green sample came between the fault's start and it: once the engine has
// recovered, a new red is a new problem. A fault that must show on
// /healthz (FaultEvent.Expect: a stuck handler) turns it red only some time
// after it started, so for it recovery is a green sample after its first
// red one. A red sample with no fault before it is never explained.
func unexplainedRed(samples []Sample, faults []FaultEvent, bound time.Duration) []Sample {
	var out []Sample
	for i, s := range samples {
		if s.Healthy {
			continue
		}
		var f *FaultEvent
		for j := range faults {
			if faults[j].At <= s.At {
				f = &faults[j]
			}
		}
		if f == nil {
			out = append(out, s)
			continue
		}
		from := f.At
		if f.Expect != "" {
			from = firstRed(samples, f.At)
		}
		if f.Err != "" || s.At > f.Until+bound || recoveredSince(samples[:i], from) {
			out = append(out, s)
		}
	}
	return out
}

// recoveredSince reports whether any of samples after t was green.
func recoveredSince(samples []Sample, t time.Duration) bool {
	for _, s := range samples {
		if s.At > t && s.Healthy {
			return true
		}
	}
	return false
}

// firstRed is when the first red sample at or after t was taken (t if
// there is none).
func firstRed(samples []Sample, t time.Duration) time.Duration {
	for _, s := range samples {
		if s.At >= t && !s.Healthy {
			return s.At
		}
	}
	return t
}

// expectedReports checks the faults that must show on /healthz
// (FaultEvent.Expect): each injected one needs a red sample whose reason
// holds Expect between its start and bound after its end, and a green
// sample after that within the same bound. It returns what was missing,
// one line per fault.
func expectedReports(samples []Sample, faults []FaultEvent, bound time.Duration) []string {
	var out []string
	for _, f := range faults {
		if f.Expect == "" || f.Err != "" {
			continue
		}
		end := f.Until + bound
		reported, recovered := time.Duration(-1), false
		for _, s := range samples {
			if s.At < f.At || s.At > end {
				continue
			}
			if reported < 0 && !s.Healthy && strings.Contains(s.HealthWhy, f.Expect) {
				reported = s.At
			}
			if reported >= 0 && s.At > reported && s.Healthy {
				recovered = true
				break
			}
		}
		switch {
		case reported < 0:
			out = append(out, fmt.Sprintf("%s at %s: /healthz never reported %q within %s of its end", f.Name, f.At.Round(time.Second), f.Expect, bound))
		case !recovered:
			out = append(out, fmt.Sprintf("%s at %s: /healthz reported %q at %s but was not green again within %s of the fault's end", f.Name, f.At.Round(time.Second), f.Expect, reported.Round(time.Second), bound))
		}
	}
	return out
}
