package soak

import (
	"fmt"
	"time"
)

// Trend is the growth check of one series (see the package doc).
type Trend struct {
	Name string
	// FirstMean and SecondMean are the means of the two halves after the
	// warm-up; SlopePerHour is the least-squares slope over the second half
	// in units per hour; Projected is that slope times the second half's
	// length.
	FirstMean, SecondMean, SlopePerHour, Projected float64
	// Limit is the allowed growth (threshold fraction of FirstMean, at least
	// the absolute floor).
	Limit float64
	// Points is the number of samples judged; Fail says the series grew.
	Points int
	Fail   bool
}

func (t Trend) String() string {
	verdict := "ok"
	if t.Fail {
		verdict = "GROWING"
	}
	return fmt.Sprintf("%s: first half %.4g, second half %.4g, slope %.4g/h (%.4g over the half), limit +%.4g: %s",
		t.Name, t.FirstMean, t.SecondMean, t.SlopePerHour, t.Projected, t.Limit, verdict)
}

// trend judges one series of (time, value) after the warm-up: it fails
// only when the second half's mean exceeds the first's by more than the
// limit AND the second half's slope, projected over its length, does too.
func trend(name string, at []time.Duration, v []float64, warmup time.Duration, frac, floor float64) Trend {
	t := Trend{Name: name}
	var xs, ys []float64
	for i := range at {
		if at[i] >= warmup {
			xs = append(xs, at[i].Hours())
			ys = append(ys, v[i])
		}
	}
	t.Points = len(xs)
	if len(xs) < 4 {
		return t // too short to judge
	}
	h := len(xs) / 2
	t.FirstMean, t.SecondMean = mean(ys[:h]), mean(ys[h:])
	t.SlopePerHour = slope(xs[h:], ys[h:])
	t.Projected = t.SlopePerHour * (xs[len(xs)-1] - xs[h])
	t.Limit = max(frac*t.FirstMean, floor)
	t.Fail = t.SecondMean-t.FirstMean > t.Limit && t.Projected > t.Limit
	return t
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// slope is the least-squares slope of y over x.
func slope(x, y []float64) float64 {
	mx, my := mean(x), mean(y)
	var num, den float64
	for i := range x {
		num += (x[i] - mx) * (y[i] - my)
		den += (x[i] - mx) * (x[i] - mx)
	}
	if den == 0 {
		return 0
	}
	return num / den
}

// Thresholds of the trend check (documented in the package doc).
const (
	memGrowth       = 0.15
	memFloor        = 8 << 20
	goroutineGrowth = 0.10
	goroutineFloor  = 20
)

// trends runs the check over the three resource series.
func trends(samples []Sample, warmup time.Duration) []Trend {
	at := make([]time.Duration, len(samples))
	rss, heap, gor := make([]float64, len(samples)), make([]float64, len(samples)), make([]float64, len(samples))
	for i, s := range samples {
		at[i], rss[i], heap[i], gor[i] = s.At, float64(s.RSS), float64(s.HeapInuse), float64(s.Goroutines)
	}
	return []Trend{
		trend("rss_bytes", at, rss, warmup, memGrowth, memFloor),
		trend("heap_inuse_bytes", at, heap, warmup, memGrowth, memFloor),
		trend("goroutines", at, gor, warmup, goroutineGrowth, goroutineFloor),
	}
}
