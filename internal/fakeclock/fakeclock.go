// Package fakeclock is a clock that tests move by hand, for components that take their time
// from an injected func() time.Time.
//
// Concurrency: Now and Advance may be called from any goroutine.
package fakeclock

import (
	"sync/atomic"
	"time"
)

// Clock starts at 2026-01-01 00:00 UTC and moves only when Advance is called.
type Clock struct{ nanos atomic.Int64 }

// New returns a clock at 2026-01-01 00:00 UTC.
func New() *Clock {
	c := &Clock{}
	c.nanos.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

// Now returns the clock's current time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.nanos.Load()) }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.nanos.Add(int64(d)) }
