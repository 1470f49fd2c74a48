package engine

import (
	"bytes"
	"testing"
)

// A burst grows the inbound arenas; once the queue is back to a trickle the
// grown arena is let go, and frames still come out whole and in order.
func TestInboundQueueReleasesBurstArena(t *testing.T) {
	q := newInboundQueue(DefaultInboundBytes)
	big := bytes.Repeat([]byte("x"), 64<<10)
	for range 64 { // 4 MiB, one swap
		q.push(1, big, 1)
	}
	if b := q.swap(); b == nil || len(b.recs) != 64 {
		t.Fatal("burst not taken whole")
	}
	for i := range 3 {
		q.push(1, []byte{'a' + byte(i)}, int64(i))
		b := q.swap()
		if b == nil || len(b.recs) != 1 || string(b.data[b.recs[0].off:b.recs[0].off+b.recs[0].n]) != string(rune('a'+i)) {
			t.Fatalf("trickle frame %d not taken whole", i)
		}
	}
	for _, b := range []*frameBatch{q.cur, q.spare} {
		if cap(b.data) > keepArenaBytes {
			t.Errorf("an arena keeps %d bytes after the burst; want at most %d", cap(b.data), keepArenaBytes)
		}
	}
}

// Under a steady load the arenas are kept: releasing them per swap would
// allocate on the hot path (TestInboundQueueAllocs checks the small case).
func TestInboundQueueKeepsArenaUnderLoad(t *testing.T) {
	q := newInboundQueue(DefaultInboundBytes)
	big := bytes.Repeat([]byte("x"), 64<<10)
	var caps []int
	for range 4 {
		for range 32 { // 2 MiB a swap
			q.push(1, big, 1)
		}
		q.swap()
		caps = append(caps, cap(q.cur.data), cap(q.spare.data))
	}
	if c := cap(q.cur.data); c < 2<<20 {
		t.Errorf("arena capacity %d under a steady 2-MiB load; want kept (at least 2 MiB); history %v", c, caps)
	}
}
