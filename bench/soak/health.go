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

// reportCheck is how a fault that must show on /healthz did: when it was
// first reported (ReportedAt, with the reason Why) and when /healthz was
// green again (RecoveredAt); Missing says what was not seen, "" if both.
type reportCheck struct {
	Fault                   FaultEvent
	ReportedAt, RecoveredAt time.Duration
	Why                     string
	Missing                 string
}

// expectedReports checks the faults that must show on /healthz
// (FaultEvent.Expect): each injected one needs a red sample whose reason
// holds Expect between its start and bound after its end, and a green
// sample after that within the same bound.
func expectedReports(samples []Sample, faults []FaultEvent, bound time.Duration) []reportCheck {
	var out []reportCheck
	for _, f := range faults {
		if f.Expect == "" || f.Err != "" {
			continue
		}
		c := reportCheck{Fault: f, ReportedAt: -1, RecoveredAt: -1}
		end := f.Until + bound
		for _, s := range samples {
			if s.At < f.At || s.At > end {
				continue
			}
			if c.ReportedAt < 0 && !s.Healthy && strings.Contains(s.HealthWhy, f.Expect) {
				c.ReportedAt, c.Why = s.At, s.HealthWhy
			}
			if c.ReportedAt >= 0 && s.At > c.ReportedAt && s.Healthy {
				c.RecoveredAt = s.At
				break
			}
		}
		switch {
		case c.ReportedAt < 0:
			c.Missing = fmt.Sprintf("%s at %s: /healthz never reported %q within %s of its end", f.Name, f.At.Round(time.Second), f.Expect, bound)
		case c.RecoveredAt < 0:
			c.Missing = fmt.Sprintf("%s at %s: /healthz reported %q at %s but was not green again within %s of the fault's end", f.Name, f.At.Round(time.Second), f.Expect, c.ReportedAt.Round(time.Second), bound)
		}
		out = append(out, c)
	}
	return out
}
