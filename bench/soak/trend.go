package soak

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Trend is the growth check of one series (see the package doc).
type Trend struct {
	Name string
	// Baseline and End are the medians of the floor (the trailing minimum
	// over the series' smoothing window) in the first and the last third
	// of the judged window; Growth is End - Baseline. SlopePerHour is the
	// least-squares slope of the floor over the judged window, for the
	// report only.
	Baseline, End, Growth, SlopePerHour float64
	// Limit is the allowed growth: the threshold fraction of Baseline, at
	// least the absolute floor.
	Limit float64
	// Points is the number of samples judged, Span the time they cover.
	Points int
	Span   time.Duration
	// Fail says the series grew, or could not be judged (Why says which).
	Fail bool
	Why  string
}

func (t Trend) String() string {
	if t.Why != "" {
		return fmt.Sprintf("%s: FAIL: %s", t.Name, t.Why)
	}
	verdict := "ok"
	if t.Fail {
		verdict = "GROWING"
	}
	f, unit := func(v float64) float64 { return v }, ""
	if strings.HasSuffix(t.Name, "_bytes") {
		f, unit = func(v float64) float64 { return v / (1 << 20) }, " MiB"
	}
	return fmt.Sprintf("%s: floor %.4g → %.4g%s (%+.4g, limit +%.4g; %d points over %s, slope %+.4g%s/h): %s",
		t.Name, f(t.Baseline), f(t.End), unit, f(t.Growth), f(t.Limit), t.Points, t.Span.Round(time.Second), f(t.SlopePerHour), unit, verdict)
}

// rule is how one series is judged.
type rule struct {
	// frac and floor bound the growth: max(frac × baseline, floor).
	frac, floor float64
	// smooth is the trailing window of the floor: a sample's floor is the
	// smallest value within smooth before it. It removes what is always
	// transient (a GC cycle's garbage in RSS, a recycle's second socket),
	// keeping what survives. 0: the raw values.
	smooth time.Duration
}

// minPoints and minSpan refuse series too short to tell a leak from noise:
// the judged window must hold a few fault cycles (one every 30 s by default).
const (
	minPoints = 4
	minSpan   = 90 * time.Second
)

// trend judges one series of (time, value) after the warm-up. It fails
// when the floor's median over the last third of the judged window exceeds
// its median over the first third by more than the limit, and when the
// judged window has fewer than minPoints samples or spans less than
// minSpan. Medians of floors ignore a single outlier sample and every
// transient peak; a leak per reconnect (a step at each fault that closes
// sockets) and a steady leak both raise the last third above the first.
func trend(name string, at []time.Duration, v []float64, warmup time.Duration, r rule) Trend {
	t := Trend{Name: name}
	var xs []time.Duration
	var ys []float64
	for i := range at {
		if at[i] >= warmup {
			xs = append(xs, at[i])
			ys = append(ys, v[i])
		}
	}
	t.Points = len(xs)
	if len(xs) > 0 {
		t.Span = xs[len(xs)-1] - xs[0]
	}
	switch {
	case t.Points < minPoints:
		t.Fail, t.Why = true, fmt.Sprintf("%d points after the warm-up; at least %d are needed to judge", t.Points, minPoints)
		return t
	case t.Span < minSpan:
		t.Fail, t.Why = true, fmt.Sprintf("judged window %s after the warm-up; at least %s is needed to judge", t.Span.Round(time.Second), minSpan)
		return t
	}
	floors := trailingMin(xs, ys, r.smooth)
	third := t.Span / 3
	var first, last []float64
	for i, x := range xs {
		switch {
		case x-xs[0] <= third:
			first = append(first, floors[i])
		case xs[len(xs)-1]-x <= third:
			last = append(last, floors[i])
		}
	}
	t.Baseline, t.End = median(first), median(last)
	t.Growth = t.End - t.Baseline
	hours := make([]float64, len(xs))
	for i, x := range xs {
		hours[i] = x.Hours()
	}
	t.SlopePerHour = slope(hours, floors)
	t.Limit = max(r.frac*t.Baseline, r.floor)
	t.Fail = t.Growth > t.Limit
	return t
}

// trailingMin returns, for each sample, the smallest value among the
// samples within w before it (itself included).
func trailingMin(at []time.Duration, v []float64, w time.Duration) []float64 {
	out := make([]float64, len(v))
	lo := 0
	for i := range v {
		for at[i]-at[lo] > w {
			lo++
		}
		out[i] = slices.Min(v[lo : i+1])
	}
	return out
}

// median of v (nil-safe: 0 for none); v is not modified.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
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

// The rules of the trend check (documented in the package doc).
var (
	// Live heap is measured right after a forced collection, so it has no
	// sawtooth to smooth; 15% and at least 8 MiB, against 1 MiB leaked per
	// reconnect (about 10 reconnects per closing fault).
	liveHeapRule = rule{frac: 0.15, floor: 8 << 20}
	// RSS keeps some of the garbage of the last cycle and returns pages
	// lazily; its floor over a minute is what the process cannot give back.
	rssRule = rule{frac: 0.15, floor: 8 << 20, smooth: time.Minute}
	// Goroutines: about four per connection; a recycle briefly runs a
	// second socket, and churn may add or remove one connection. A leak of
	// one per reconnect adds about ten at every closing fault.
	goroutineRule = rule{frac: 0.10, floor: 8, smooth: 30 * time.Second}
	// Open fds: one per connection plus a fixed handful; a socket left open
	// per reconnect adds about ten at every closing fault.
	fdRule = rule{frac: 0.10, floor: 8, smooth: 30 * time.Second}
)

// trends runs the check over the resource series of the complete samples.
func trends(samples []Sample, warmup time.Duration) []Trend {
	var at []time.Duration
	var rss, heap, gor, fds []float64
	for _, s := range samples {
		if !s.Complete {
			continue
		}
		at = append(at, s.At)
		rss = append(rss, float64(s.RSS))
		heap = append(heap, float64(s.LiveHeap))
		gor = append(gor, float64(s.Goroutines))
		fds = append(fds, float64(s.FDs))
	}
	return []Trend{
		trend("rss_bytes", at, rss, warmup, rssRule),
		trend("live_heap_bytes", at, heap, warmup, liveHeapRule),
		trend("goroutines", at, gor, warmup, goroutineRule),
		trend("open_fds", at, fds, warmup, fdRule),
	}
}
