// Package logonce rate-limits a recurring warning: per-event problems are
// counted where they happen and logged here at most once a minute, with how
// many were suppressed since the last line.
//
// Concurrency: a Limiter is safe from any number of goroutines; its zero
// value is ready to use.
package logonce

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/polyfeed/polyfeed/internal/mono"
)

// Period is the least time between two lines of one Limiter.
const Period = time.Minute

// Limiter logs the first occurrence and then at most once per Period.
type Limiter struct {
	last       atomic.Int64
	suppressed atomic.Int64
}

// Warn logs msg at warning level unless a line went out less than Period
// ago, in which case it only counts the occurrence.
func (l *Limiter) Warn(lg *slog.Logger, msg string, args ...any) {
	now := mono.Now()
	last := l.last.Load()
	if last != 0 && now-last < int64(Period) {
		l.suppressed.Add(1)
		return
	}
	if !l.last.CompareAndSwap(last, now) {
		l.suppressed.Add(1)
		return
	}
	if n := l.suppressed.Swap(0); n > 0 {
		args = append(args, "suppressed_since_last", n)
	}
	lg.Warn(msg, args...)
}
