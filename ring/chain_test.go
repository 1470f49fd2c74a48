package ring

import "testing"

// A chain pops the old ring dry before following the link, counts items
// over every ring still linked, and reports the link as pending work.
func TestChainFollowsResize(t *testing.T) {
	q := New[int](4)
	c := NewChain(q)
	for i := range 3 {
		if !q.TryPush(i) {
			t.Fatal("push refused")
		}
	}
	q.Publish()
	n := q.Resize(16)
	for i := 3; i < 8; i++ {
		if !n.TryPush(i) {
			t.Fatal("push to successor refused")
		}
	}
	n.Publish()
	if got := c.Len(); got != 8 {
		t.Errorf("Len over the chain = %d; want 8", got)
	}
	buf := make([]int, 2)
	var got []int
	for c.Pending() {
		k := c.PopBatch(buf)
		got = append(got, buf[:k]...)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("popped %v; want 0..7 in order", got)
		}
	}
	if len(got) != 8 || c.Ring() != n {
		t.Errorf("popped %d items, on the successor %v; want 8, true", len(got), c.Ring() == n)
	}
	if c.PopBatch(buf) != 0 || c.Len() != 0 {
		t.Error("chain not empty after popping everything")
	}
}
