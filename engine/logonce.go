package engine

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/polyfeed/polyfeed/internal/mono"
)

// logOnce logs the first occurrence and then at most once a minute, with a
// count of what was suppressed: per-event problems are counted, not logged.
type logOnce struct {
	last       atomic.Int64
	suppressed atomic.Int64
}

func (l *logOnce) log(lg *slog.Logger, msg string, args ...any) {
	now := mono.Now()
	last := l.last.Load()
	if last != 0 && now-last < int64(time.Minute) {
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
