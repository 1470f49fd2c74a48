package hist

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

func TestBucketBounds(t *testing.T) {
	// Every value lands in a bucket whose upper bound is >= the value and
	// within 12.5% of it; buckets are contiguous.
	for _, v := range []int64{0, 1, 7, 8, 9, 15, 16, 17, 100, 1000, 1 << 20, 123456789, 1 << 33} {
		i := bucketOf(v)
		ub := upperBound(i)
		if ub < v {
			t.Fatalf("bucketOf(%d) = %d with upper bound %d < value", v, i, ub)
		}
		if i > 0 && upperBound(i-1) >= v {
			t.Fatalf("value %d also fits bucket %d (ub %d)", v, i-1, upperBound(i-1))
		}
		if v >= 8 && float64(ub-v) > 0.125*float64(v) {
			t.Fatalf("bucket of %d has upper bound %d: more than 12.5%% error", v, ub)
		}
	}
	for i := 1; i < numBuckets-1; i++ {
		if bucketOf(upperBound(i)) != i || bucketOf(upperBound(i)+1) != i+1 {
			t.Fatalf("buckets %d/%d not contiguous at %d", i, i+1, upperBound(i))
		}
	}
}

func TestQuantilesAgainstSort(t *testing.T) {
	var h Histogram
	r := rand.New(rand.NewPCG(1, 2))
	vals := make([]int64, 100_000)
	for i := range vals {
		vals[i] = int64(r.ExpFloat64() * 50_000)
		h.Record(vals[i])
	}
	slices.Sort(vals)
	s := h.Snapshot()
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		exact := vals[int(q*float64(len(vals)))-1]
		got := s.Quantile(q)
		if got < exact || float64(got-exact) > 0.125*float64(exact)+1 {
			t.Errorf("Quantile(%v) = %d; exact %d", q, got, exact)
		}
	}
	if s.Max != vals[len(vals)-1] || s.Count != uint64(len(vals)) {
		t.Errorf("max/count = %d/%d; want %d/%d", s.Max, s.Count, vals[len(vals)-1], len(vals))
	}
}

func TestConcurrentRecord(t *testing.T) {
	var h Histogram
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10_000 {
				h.Record(int64(g*10_000 + i))
			}
		}()
	}
	wg.Wait()
	s := h.Snapshot()
	if s.Count != 40_000 || s.Max != 39_999 {
		t.Fatalf("count/max = %d/%d; want 40000/39999", s.Count, s.Max)
	}
}

func TestReset(t *testing.T) {
	var h Histogram
	h.Record(5_000_000)
	h.Reset()
	h.Record(100)
	s := h.Snapshot()
	if s.Count != 1 || s.Max != 100 || s.Sum != 100 || s.Quantile(0.99) > 100 {
		t.Fatalf("after Reset: count %d max %d sum %d p99 %d; want only the 100 ns record", s.Count, s.Max, s.Sum, s.Quantile(0.99))
	}
}

func TestRecordAllocs(t *testing.T) {
	var h Histogram
	if n := testing.AllocsPerRun(1000, func() { h.Record(12345) }); n != 0 {
		t.Fatalf("Record allocates %v; want 0", n)
	}
}

func BenchmarkRecord(b *testing.B) {
	var h Histogram
	v := int64(1)
	for b.Loop() {
		h.Record(v)
		v = (v*7 + 13) & 0xFFFFFF
	}
}
