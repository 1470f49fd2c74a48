package logonce

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// The first warning is logged, the next ones within Period only counted.
func TestWarnLimitsAndCounts(t *testing.T) {
	var buf bytes.Buffer
	lg := slog.New(slog.NewTextHandler(&buf, nil))
	var l Limiter
	for range 5 {
		l.Warn(lg, "cannot decode frame", "conn", 1)
	}
	if n := strings.Count(buf.String(), "cannot decode frame"); n != 1 {
		t.Fatalf("%d lines logged for 5 warnings within a period; want 1:\n%s", n, buf.String())
	}
	if got := l.suppressed.Load(); got != 4 {
		t.Errorf("suppressed = %d; want 4", got)
	}
	l.last.Store(l.last.Load() - int64(Period) - 1) // the period has passed
	l.Warn(lg, "cannot decode frame", "conn", 1)
	if !strings.Contains(buf.String(), "suppressed_since_last=4") {
		t.Errorf("second line does not report the 4 suppressed:\n%s", buf.String())
	}
}
