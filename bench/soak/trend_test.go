package soak

import (
	"math"
	"testing"
	"time"
)

// series returns n samples one per 5 s of f(t in seconds).
func series(n int, f func(sec float64) float64) ([]time.Duration, []float64) {
	at, v := make([]time.Duration, n), make([]float64, n)
	for i := range at {
		at[i] = time.Duration(i) * 5 * time.Second
		v[i] = f(at[i].Seconds())
	}
	return at, v
}

func TestTrend(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name string
		f    func(sec float64) float64
		fail bool
	}{
		{"flat", func(float64) float64 { return 50 * mib }, false},
		{"noisy flat", func(s float64) float64 { return 50*mib + 6*mib*math.Sin(s/7) }, false},
		{"warm-up ramp then flat", func(s float64) float64 { return 50*mib*min(1, s/50) + 1 }, false},
		{"leak 20 KiB/s", func(s float64) float64 { return 50*mib + 20*1024*s }, true},
		{"one step up early, then flat", func(s float64) float64 {
			if s > 200 {
				return 70 * mib
			}
			return 50 * mib
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at, v := series(200, tc.f) // 1000 s
			got := trend("x", at, v, 60*time.Second, memGrowth, memFloor)
			if got.Fail != tc.fail {
				t.Errorf("trend = %v; want fail %v", got, tc.fail)
			}
		})
	}
}

func TestTrendGoroutineLeak(t *testing.T) {
	// One goroutine left behind per reconnect, a reconnect every 10 s.
	at, v := series(120, func(s float64) float64 { return 60 + math.Floor(s/10) })
	if got := trend("goroutines", at, v, time.Minute, goroutineGrowth, goroutineFloor); !got.Fail {
		t.Errorf("trend = %v; want a failure", got)
	}
	at, v = series(120, func(s float64) float64 { return 60 + float64(int(s/5)%3)*8 }) // recycles in flight
	if got := trend("goroutines", at, v, time.Minute, goroutineGrowth, goroutineFloor); got.Fail {
		t.Errorf("trend = %v; want no failure", got)
	}
}

func TestTrendTooShort(t *testing.T) {
	at, v := series(3, func(s float64) float64 { return s * 1e9 })
	if got := trend("x", at, v, 0, memGrowth, memFloor); got.Fail || got.Points != 3 {
		t.Errorf("trend = %+v; want no verdict on 3 points", got)
	}
}
