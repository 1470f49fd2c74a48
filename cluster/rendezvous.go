package cluster

import (
	"slices"

	"github.com/cespare/xxhash/v2"
)

// Assignment maps markets to carriers by rendezvous (highest-random-weight)
// hashing: every member draws a pseudo-random weight for every market, and the
// R members with the highest weights carry it, rank 0 (the highest) publishing.
// A market's weights do not depend on the other members, so adding or removing
// a member moves only the markets that member gains or loses; nothing else is
// reshuffled, and no coordinator is needed: every instance computes the same
// answer from the same member set.
//
// An Assignment is immutable once built and safe for concurrent use. Its
// lookups do not allocate.
type Assignment struct {
	members  []string // sorted, unique
	hashes   []uint64 // hashes[i] = xxhash(members[i])
	replicas int
}

// NewAssignment builds the assignment of members (duplicates and empty ids are
// ignored) with replicas carriers per market; replicas below 1 count as 1.
func NewAssignment(members []string, replicas int) *Assignment {
	ms := slices.Clone(members)
	ms = slices.DeleteFunc(ms, func(s string) bool { return s == "" })
	slices.Sort(ms)
	ms = slices.Compact(ms)
	a := &Assignment{members: ms, hashes: make([]uint64, len(ms)), replicas: max(replicas, 1)}
	for i, m := range ms {
		a.hashes[i] = xxhash.Sum64String(m)
	}
	return a
}

// Members returns the sorted member ids; the caller must not modify it.
func (a *Assignment) Members() []string { return a.members }

// Replicas returns the number of carriers per market.
func (a *Assignment) Replicas() int { return a.replicas }

// weight is member m's draw for a market whose id hashes to h. splitmix64's
// finaliser spreads the xor of two independent hashes over all 64 bits, so the
// order of members differs per market with no correlation we could measure
// (see the balance and property tests).
func weight(m, h uint64) uint64 {
	x := m ^ h
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// before reports whether member i outranks member j for market hash h. Equal
// weights (a 2^-64 event) are broken by id so every instance agrees.
func (a *Assignment) before(i, j int, h uint64) bool {
	wi, wj := weight(a.hashes[i], h), weight(a.hashes[j], h)
	if wi != wj {
		return wi > wj
	}
	return a.members[i] < a.members[j]
}

// Rank returns member's rank for the market with the given condition id: 0
// for the publisher, 1..R-1 for warm replicas, and -1 when member does not
// carry it (or is not a member).
func (a *Assignment) Rank(conditionID, member string) int {
	me, ok := slices.BinarySearch(a.members, member)
	if !ok {
		return -1
	}
	h := xxhash.Sum64String(conditionID)
	rank := 0
	for j := range a.members {
		if j != me && a.before(j, me, h) {
			rank++
			if rank >= a.replicas {
				return -1
			}
		}
	}
	return rank
}

// Carriers appends the carriers of the market with the given condition id to
// dst, best first (dst[0] publishes), and returns it. It has min(R, members)
// entries.
func (a *Assignment) Carriers(dst []string, conditionID string) []string {
	h := xxhash.Sum64String(conditionID)
	n := min(a.replicas, len(a.members))
	// Selection of the top n by repeated scans: n is tiny (1..3) and this
	// allocates nothing.
	start := len(dst)
	for range n {
		best := -1
		for j := range a.members {
			if slices.Contains(dst[start:], a.members[j]) {
				continue
			}
			if best < 0 || a.before(j, best, h) {
				best = j
			}
		}
		dst = append(dst, a.members[best])
	}
	return dst
}

// Publisher returns the member that publishes the market, or "" with no
// members.
func (a *Assignment) Publisher(conditionID string) string {
	if len(a.members) == 0 {
		return ""
	}
	h := xxhash.Sum64String(conditionID)
	best := 0
	for j := 1; j < len(a.members); j++ {
		if a.before(j, best, h) {
			best = j
		}
	}
	return a.members[best]
}
