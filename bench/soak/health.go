package soak

import "time"

// unexplainedRed returns the red /healthz samples that no fault accounts
// for. A red sample is put down to the latest fault that started at or
// before it only when that fault was injected (a failed injection explains
// nothing), the sample is at most bound after the fault ended, and no
// green sample came between the fault's start and it: once the engine has
// recovered, a new red is a new problem. A red sample with no fault before
// it is never explained.
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
		if f == nil || f.Err != "" || s.At > f.Until+bound || recoveredSince(samples[:i], f.At) {
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
