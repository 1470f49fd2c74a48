package fill

import (
	"log/slog"
	"testing"
	"time"
)

func TestFill(t *testing.T) {
	d, neg, set := time.Duration(0), -time.Second, 3*time.Second
	Positive(&d, time.Minute)
	Positive(&neg, time.Minute)
	Positive(&set, time.Minute)
	if d != time.Minute || neg != time.Minute || set != 3*time.Second {
		t.Errorf("Positive: zero→%v negative→%v set→%v; want 1m 1m 3s", d, neg, set)
	}
	z, n := 0, -1
	Zero(&z, 7)
	Zero(&n, 7)
	if z != 7 || n != -1 {
		t.Errorf("Zero: zero→%d negative→%d; want 7 -1", z, n)
	}
	var now func() time.Time
	Clock(&now)
	if now == nil || now().IsZero() {
		t.Error("Clock left the clock unset")
	}
	var l *slog.Logger
	Logger(&l)
	if l == nil || l.Enabled(t.Context(), slog.LevelError) {
		t.Error("Logger did not set a discarding logger")
	}
	mine := slog.Default()
	Logger(&mine)
	if mine != slog.Default() {
		t.Error("Logger replaced a set logger")
	}
}
