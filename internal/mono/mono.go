// Package mono is the engine's one clock for latency stamps: monotonic
// nanoseconds since process start, as an int64 that fits in an event.
//
// Wall-clock time (time.Now().UnixNano) can jump; a monotonic reading cannot,
// so a latency computed as the difference of two Now values is never negative
// because of NTP. Safe for concurrent use.
package mono

import "time"

var epoch = time.Now()

// Now returns monotonic nanoseconds since process start.
func Now() int64 { return int64(time.Since(epoch)) }

// Since returns the nanoseconds elapsed since t, a value from Now.
func Since(t int64) int64 { return Now() - t }

// Time converts a Now reading to wall-clock time, for display.
func Time(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return epoch.Add(time.Duration(n))
}
