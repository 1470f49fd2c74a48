package cluster

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// conditionIDs returns n ids shaped like the venue's (0x + 64 hex digits),
// deterministic per seed.
func conditionIDs(n int, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, 7))
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("0x%016x%016x%016x%016x", r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64())
	}
	return ids
}

func memberIDs(n int) []string {
	ms := make([]string, n)
	for i := range ms {
		ms[i] = fmt.Sprintf("node-%d", i)
	}
	return ms
}

func TestAssignmentAgrees(t *testing.T) {
	for _, r := range []int{1, 2, 3} {
		a := NewAssignment(memberIDs(5), r)
		for _, cid := range conditionIDs(500, 1) {
			cs := a.Carriers(nil, cid)
			if len(cs) != r {
				t.Fatalf("R=%d: Carriers(%s) has %d entries", r, cid, len(cs))
			}
			if a.Publisher(cid) != cs[0] {
				t.Fatalf("R=%d: Publisher(%s) = %s; Carriers[0] = %s", r, cid, a.Publisher(cid), cs[0])
			}
			for _, m := range a.Members() {
				want := slices.Index(cs, m)
				if got := a.Rank(cid, m); got != want {
					t.Fatalf("R=%d: Rank(%s, %s) = %d; want %d", r, cid, m, got, want)
				}
			}
		}
	}
}

func TestAssignmentEdges(t *testing.T) {
	var empty Assignment
	if got := empty.Publisher("x"); got != "" {
		t.Errorf("empty Publisher = %q; want empty", got)
	}
	a := NewAssignment([]string{"b", "", "a", "b"}, 0)
	if !slices.Equal(a.Members(), []string{"a", "b"}) || a.Replicas() != 1 {
		t.Errorf("NewAssignment cleaned to %v R=%d; want [a b] R=1", a.Members(), a.Replicas())
	}
	if got := a.Rank("x", "c"); got != -1 {
		t.Errorf("Rank of a non-member = %d; want -1", got)
	}
	// More replicas than members: everyone carries.
	a = NewAssignment([]string{"a", "b"}, 3)
	if got := a.Carriers(nil, "x"); len(got) != 2 {
		t.Errorf("Carriers with R > members = %v; want both", got)
	}
}

// TestAssignmentBalance pins the spread over 2,000 markets: every member's
// share is within four standard deviations of a fair binomial draw (for 3
// members about ±13 % of the mean; a skewed weight function fails it), for
// publishers and for all carriers.
func TestAssignmentBalance(t *testing.T) {
	cids := conditionIDs(2000, 2)
	for _, tc := range []struct{ members, replicas int }{{3, 1}, {3, 2}, {5, 1}, {5, 3}, {10, 1}} {
		a := NewAssignment(memberIDs(tc.members), tc.replicas)
		pub := map[string]int{}
		carry := map[string]int{}
		for _, cid := range cids {
			for i, m := range a.Carriers(nil, cid) {
				carry[m]++
				if i == 0 {
					pub[m]++
				}
			}
		}
		check := func(what string, got map[string]int, total int) {
			mean := float64(total) / float64(tc.members)
			p := 1 / float64(tc.members)
			tol := 4 * math.Sqrt(float64(total)*p*(1-p))
			for _, m := range a.Members() {
				if dev := float64(got[m]) - mean; math.Abs(dev) > tol {
					t.Errorf("%d members R=%d: %s %s = %d; mean %.0f ± %.0f",
						tc.members, tc.replicas, m, what, got[m], mean, tol)
				}
			}
		}
		check("publishes", pub, len(cids))
		check("carries", carry, len(cids)*tc.replicas)
	}
}

// TestAssignmentMinimalMovement is the property rendezvous hashing is chosen
// for: over random member sets, a joining member only takes markets (every
// other carrier set loses at most the one member it displaces), and a leaving
// member only releases its own.
func TestAssignmentMinimalMovement(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	cids := conditionIDs(400, 4)
	for iter := range 200 {
		n := 1 + r.IntN(8)
		replicas := 1 + r.IntN(3)
		ms := make([]string, n)
		for i := range ms {
			ms[i] = fmt.Sprintf("m%d-%d", iter, r.IntN(1000))
		}
		joiner := fmt.Sprintf("j%d", iter)
		before := NewAssignment(ms, replicas)
		after := NewAssignment(append(slices.Clone(ms), joiner), replicas)
		for _, cid := range cids {
			b, a := before.Carriers(nil, cid), after.Carriers(nil, cid)
			if !slices.Contains(a, joiner) {
				if !slices.Equal(a, b) {
					t.Fatalf("join of %s changed %s without taking it: %v -> %v", joiner, cid, b, a)
				}
				continue
			}
			// The joiner slots in; the others keep their relative order and
			// at most the last one drops out.
			rest := slices.DeleteFunc(slices.Clone(a), func(s string) bool { return s == joiner })
			if len(b) > len(rest) {
				b = b[:len(rest)]
			}
			if !slices.Equal(rest, b) {
				t.Fatalf("join of %s reshuffled %s: %v -> %v", joiner, cid, b, a)
			}
		}
		// Leaving is the reverse: from after back to before.
		for _, cid := range cids {
			a, b := after.Carriers(nil, cid), before.Carriers(nil, cid)
			if !slices.Contains(a, joiner) && !slices.Equal(a, b) {
				t.Fatalf("leave of %s moved %s it did not carry: %v -> %v", joiner, cid, a, b)
			}
		}
	}
}

// TestAssignmentDeterministic pins the hash: a change of weight function
// moves every market in a running cluster, so it must be deliberate.
func TestAssignmentDeterministic(t *testing.T) {
	a := NewAssignment([]string{"a", "b", "c"}, 1)
	// Order of the input does not matter.
	b := NewAssignment([]string{"c", "a", "b"}, 1)
	for _, cid := range conditionIDs(50, 5) {
		if a.Publisher(cid) != b.Publisher(cid) {
			t.Fatalf("member order changed the publisher of %s", cid)
		}
	}
	const cid = "0x5f65177b394277fd294cd75650044e32ba009a95022d88a0c1d565897d72f8f1"
	if got := a.Carriers(nil, cid); !slices.Equal(got, []string{"b"}) {
		t.Errorf("Carriers(%s) = %v; want [b] (the weight function changed?)", cid, got)
	}
}

func TestAssignmentAllocs(t *testing.T) {
	a := NewAssignment(memberIDs(5), 2)
	dst := make([]string, 0, 4)
	cid := conditionIDs(1, 6)[0]
	if n := testing.AllocsPerRun(100, func() {
		_ = a.Rank(cid, "node-3")
		_ = a.Publisher(cid)
		dst = a.Carriers(dst[:0], cid)
	}); n != 0 {
		t.Errorf("lookups allocate %.0f times; want 0", n)
	}
}

// BenchmarkAssignmentRank is the cost of one role lookup (Node.Publishes
// without the cache a publisher keeps per Gen) by cluster size.
func BenchmarkAssignmentRank(b *testing.B) {
	cids := conditionIDs(1024, 8)
	for _, n := range []int{3, 10, 30} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			a := NewAssignment(memberIDs(n), 2)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				_ = a.Rank(cids[i&1023], "node-2")
			}
		})
	}
}
