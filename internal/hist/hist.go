// Package hist is a lock-free latency histogram cheap enough for the hot path.
//
// Values (nanoseconds) fall into log-linear buckets: 8 sub-buckets per power of
// two, so any recorded value is reported within 12.5% (like an HDR histogram
// with one significant digit), from 1 ns to about 9 s. Record is a couple of
// integer ops and one uncontended atomic add, allocates nothing and never
// locks; snapshots may be taken concurrently from any goroutine.
//
// Concurrency: Record may be called from any number of goroutines, but the
// engine gives each writer (router, each worker) its own Histogram so the
// counters' cache lines are not shared. Snapshot and Merge are safe at any time.
package hist

import (
	"math"
	"math/bits"
	"sync/atomic"
)

const (
	subBits    = 3
	subBuckets = 1 << subBits
	maxExp     = 34 // 2^34 ns ≈ 17 s: the last bucket holds everything above
	numBuckets = (maxExp + 1) * subBuckets
)

// Histogram counts latencies. The zero value is ready to use; it must not be
// copied after first use.
type Histogram struct {
	counts [numBuckets]atomic.Uint64
	sum    atomic.Uint64
	max    atomic.Int64
}

// bucketOf maps a value to its bucket index.
func bucketOf(v int64) int {
	if v < subBuckets {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	exp := bits.Len64(uint64(v)) - 1 // v in [2^exp, 2^(exp+1))
	sub := int(uint64(v)>>(exp-subBits)) & (subBuckets - 1)
	i := (exp-subBits+1)*subBuckets + sub
	if i >= numBuckets {
		return numBuckets - 1
	}
	return i
}

// upperBound is the largest value bucket i holds (inclusive).
func upperBound(i int) int64 {
	if i < subBuckets {
		return int64(i)
	}
	exp := i/subBuckets + subBits - 1
	sub := int64(i % subBuckets)
	if exp >= 62 {
		return math.MaxInt64
	}
	return (int64(subBuckets)+sub+1)<<(exp-subBits) - 1
}

// Record adds one observation of v nanoseconds. // hot path
func (h *Histogram) Record(v int64) {
	h.counts[bucketOf(v)].Add(1)
	if v > 0 {
		h.sum.Add(uint64(v))
	}
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Reset zeroes the histogram, to start a measurement window. Records that
// race with it may land on either side of the reset.
func (h *Histogram) Reset() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
	h.sum.Store(0)
	h.max.Store(0)
}

// Snapshot is a point-in-time copy of a Histogram, safe to read and merge.
type Snapshot struct {
	Counts [numBuckets]uint64
	Count  uint64
	Sum    uint64
	Max    int64
}

// Snapshot copies the counters. Concurrent Records may or may not be included.
func (h *Histogram) Snapshot() Snapshot {
	var s Snapshot
	for i := range h.counts {
		c := h.counts[i].Load()
		s.Counts[i] = c
		s.Count += c
	}
	s.Sum = h.sum.Load()
	s.Max = h.max.Load()
	return s
}

// Merge adds o into s.
func (s *Snapshot) Merge(o *Snapshot) {
	for i := range s.Counts {
		s.Counts[i] += o.Counts[i]
	}
	s.Count += o.Count
	s.Sum += o.Sum
	s.Max = max(s.Max, o.Max)
}

// Quantile returns an upper bound of the q-th quantile (0 < q ≤ 1) in
// nanoseconds, never above the recorded maximum; 0 when empty.
func (s *Snapshot) Quantile(q float64) int64 {
	if s.Count == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(s.Count)))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for i, c := range s.Counts {
		seen += c
		if seen >= rank {
			return min(upperBound(i), s.Max)
		}
	}
	return s.Max
}

// Mean returns the average in nanoseconds; 0 when empty.
func (s *Snapshot) Mean() float64 {
	if s.Count == 0 {
		return 0
	}
	return float64(s.Sum) / float64(s.Count)
}

// Buckets calls f for every non-empty bucket with its inclusive upper bound
// and the cumulative count up to it, for exporting as a Prometheus histogram.
func (s *Snapshot) Buckets(f func(upper int64, cumulative uint64)) {
	var cum uint64
	for i, c := range s.Counts {
		if c == 0 {
			continue
		}
		cum += c
		f(upperBound(i), cum)
	}
}
