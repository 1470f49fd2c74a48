package sim

import "testing"

// Neighbouring streams must not be shifted copies of one sequence.
func TestRNGStreamsIndependent(t *testing.T) {
	a, b := newRNG(1, 1000), newRNG(1, 1001)
	seen := map[uint64]bool{}
	for i := 0; i < 1000; i++ {
		seen[a.next()] = true
	}
	for i := 0; i < 1000; i++ {
		if seen[b.next()] {
			t.Fatal("stream 1001 repeats values of stream 1000")
		}
	}
}
