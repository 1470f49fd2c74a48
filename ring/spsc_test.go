package ring

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"
	"weak"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestNewRoundsCapacity(t *testing.T) {
	tests := []struct{ in, want int }{
		{1, 2}, {2, 2}, {3, 4}, {4, 4}, {5, 8}, {1000, 1024}, {1024, 1024}, {1025, 2048},
	}
	for _, tt := range tests {
		q := New[int](tt.in)
		if got := q.Cap(); got != tt.want {
			t.Errorf("New(%d).Cap() = %d; want %d", tt.in, got, tt.want)
		}
		if got := q.Free(); got != tt.want {
			t.Errorf("New(%d).Free() = %d; want %d", tt.in, got, tt.want)
		}
		if got := q.Len(); got != 0 {
			t.Errorf("New(%d).Len() = %d; want 0", tt.in, got)
		}
	}
}

func TestNewPanicsOnBadCapacity(t *testing.T) {
	for _, c := range []int{0, -1, maxCapacity + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%d) did not panic", c)
				}
			}()
			New[int](c)
		}()
	}
}

func TestFullAndEmpty(t *testing.T) {
	q := New[int](4)
	if v, ok := q.TryPop(); ok {
		t.Fatalf("TryPop on empty ring = %d, true; want false", v)
	}
	for i := range 4 {
		if !q.TryStage(i) {
			t.Fatalf("TryStage(%d) = false on a ring with %d of 4 slots used", i, i)
		}
	}
	if q.TryStage(4) {
		t.Fatal("TryStage on a full ring (all staged) = true")
	}
	q.Publish()
	if q.TryPush(4) {
		t.Fatal("TryPush on a full ring = true")
	}
	if got := q.Len(); got != 4 {
		t.Fatalf("Len() = %d; want 4", got)
	}
	if v, ok := q.TryPop(); !ok || v != 0 {
		t.Fatalf("TryPop() = %d, %v; want 0, true", v, ok)
	}
	if !q.TryPush(4) {
		t.Fatal("TryPush after one pop = false; want true")
	}
	for want := 1; want <= 4; want++ {
		if v, ok := q.TryPop(); !ok || v != want {
			t.Fatalf("TryPop() = %d, %v; want %d, true", v, ok, want)
		}
	}
	if v, ok := q.TryPop(); ok {
		t.Fatalf("TryPop on drained ring = %d, true; want false", v)
	}
	if got := q.Len(); got != 0 {
		t.Fatalf("Len() on drained ring = %d; want 0", got)
	}
}

// TestWrapAround runs the indices many times round a small ring with varying
// fill levels, so every slot is reused and batches straddle the end of buf.
func TestWrapAround(t *testing.T) {
	q := New[int](8)
	next, want := 0, 0
	dst := make([]int, 5)
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 1000 {
		for range rng.IntN(9) {
			if !q.TryStage(next) {
				break
			}
			next++
		}
		q.Publish()
		if round%2 == 0 {
			n := q.PopBatch(dst[:rng.IntN(len(dst)+1)])
			for _, v := range dst[:n] {
				if v != want {
					t.Fatalf("round %d: PopBatch gave %d; want %d", round, v, want)
				}
				want++
			}
		} else {
			for range rng.IntN(9) {
				v, ok := q.TryPop()
				if !ok {
					break
				}
				if v != want {
					t.Fatalf("round %d: TryPop() = %d; want %d", round, v, want)
				}
				want++
			}
		}
		if got := q.Len(); got != next-want {
			t.Fatalf("round %d: Len() = %d; want %d", round, got, next-want)
		}
	}
	if next < 8*100 {
		t.Fatalf("only %d items went through; the test did not wrap enough", next)
	}
}

func TestFree(t *testing.T) {
	q := New[int](8)
	steps := []struct {
		name string
		do   func()
		want int
	}{
		{"new", func() {}, 8},
		{"stage 3", func() { stage(q, 3) }, 5},
		{"publish", q.Publish, 5},
		{"pop 2", func() { q.TryPop(); q.TryPop() }, 7},
		{"stage 7", func() { stage(q, 7) }, 0},
		{"pop batch 4", func() { q.PopBatch(make([]int, 4)) }, 1}, // pops the 1 published item, not the staged ones
		{"publish and pop batch 4", func() { q.Publish(); q.PopBatch(make([]int, 4)) }, 5},
	}
	for _, s := range steps {
		s.do()
		if got := q.Free(); got != s.want {
			t.Fatalf("after %s: Free() = %d; want %d", s.name, got, s.want)
		}
	}
	// Free is a promise: that many TryStage calls succeed.
	for i := range q.Free() {
		if !q.TryStage(i) {
			t.Fatalf("TryStage #%d failed within Free()", i)
		}
	}
	if q.TryStage(0) {
		t.Fatal("TryStage beyond Free() = true")
	}
}

func stage(q *SPSC[int], n int) {
	for i := range n {
		q.TryStage(i)
	}
}

func TestStagedItemsAreInvisible(t *testing.T) {
	q := New[int](8)
	stage(q, 3)
	if got := q.Len(); got != 0 {
		t.Fatalf("Len() with 3 staged = %d; want 0", got)
	}
	if v, ok := q.TryPop(); ok {
		t.Fatalf("TryPop with only staged items = %d, true; want false", v)
	}
	if n := q.PopBatch(make([]int, 8)); n != 0 {
		t.Fatalf("PopBatch with only staged items = %d; want 0", n)
	}
	done := make(chan struct{})
	close(done)
	if q.Wait(done) {
		t.Fatal("Wait with only staged items and done closed = true; want false")
	}
	q.Publish()
	if got := q.Len(); got != 3 {
		t.Fatalf("Len() after Publish = %d; want 3", got)
	}
	dst := make([]int, 8)
	if n := q.PopBatch(dst); n != 3 || dst[0] != 0 || dst[1] != 1 || dst[2] != 2 {
		t.Fatalf("PopBatch = %d, %v; want 3, [0 1 2 ...]", n, dst)
	}
}

func TestPopBatch(t *testing.T) {
	tests := []struct {
		name           string
		skip, pub, dst int // skip: items pushed and popped first, to move head
		wantN          int
	}{
		{"empty ring", 0, 0, 4, 0},
		{"empty dst", 0, 3, 0, 0},
		{"fewer than dst", 0, 3, 8, 3},
		{"more than dst", 0, 7, 4, 4},
		{"exactly full", 0, 8, 8, 8},
		{"straddles the end", 6, 5, 8, 5},
		{"straddles and limited by dst", 6, 8, 7, 7},
		{"starts at the end slot", 7, 3, 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := New[int](8)
			for i := range tt.skip {
				q.TryPush(-1)
				if v, _ := q.TryPop(); v != -1 {
					t.Fatalf("setup pop %d = %d", i, v)
				}
			}
			for i := range tt.pub {
				if !q.TryPush(i) {
					t.Fatalf("TryPush(%d) = false", i)
				}
			}
			dst := make([]int, tt.dst)
			n := q.PopBatch(dst)
			if n != tt.wantN {
				t.Fatalf("PopBatch(len %d) = %d; want %d", tt.dst, n, tt.wantN)
			}
			for i, v := range dst[:n] {
				if v != i {
					t.Fatalf("dst[%d] = %d; want %d", i, v, i)
				}
			}
			if got, want := q.Len(), tt.pub-n; got != want {
				t.Fatalf("Len() after PopBatch = %d; want %d", got, want)
			}
			// The rest comes out in order too.
			for want := n; want < tt.pub; want++ {
				if v, ok := q.TryPop(); !ok || v != want {
					t.Fatalf("TryPop() = %d, %v; want %d, true", v, ok, want)
				}
			}
		})
	}
}

// TestPopReleasesPointers checks that popped slots are zeroed: a value the
// consumer dropped must be collectable even though the ring still exists.
func TestPopReleasesPointers(t *testing.T) {
	type payload struct{ _ [64]byte }
	for _, tt := range []struct {
		name string
		pop  func(q *SPSC[*payload])
	}{
		{"TryPop", func(q *SPSC[*payload]) { q.TryPop() }},
		{"PopBatch", func(q *SPSC[*payload]) { q.PopBatch(make([]*payload, 4)) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q := New[*payload](4)
			// Push a wrapping batch so PopBatch clears both segments.
			for range 3 {
				q.TryPush(nil)
				q.TryPop()
			}
			w := pushWeak(q, 2)
			tt.pop(q)
			tt.pop(q) // TryPop takes one per call
			for range 5 {
				runtime.GC()
				if w[0].Value() == nil && w[1].Value() == nil {
					break
				}
			}
			for i, p := range w {
				if p.Value() != nil {
					t.Errorf("item %d still reachable after pop: the ring kept its pointer", i)
				}
			}
			runtime.KeepAlive(q)
		})
	}
}

// pushWeak pushes n fresh pointers and returns only weak references to them.
func pushWeak[T any](q *SPSC[*T], n int) []weak.Pointer[T] {
	w := make([]weak.Pointer[T], n)
	for i := range w {
		p := new(T)
		w[i] = weak.Make(p)
		q.TryPush(p)
	}
	return w
}

// TestAllocs pins the hot path at zero allocations, including the wake-up
// send of a Publish that finds the consumer parked.
func TestAllocs(t *testing.T) {
	type event struct {
		kind  uint8
		asset string
		price int64
		refs  []int
	}
	q := New[event](64)
	ev := event{kind: 1, asset: "123", price: 5, refs: []int{1}}
	dst := make([]event, 16)
	done := make(chan struct{})
	allocs := testing.AllocsPerRun(1000, func() {
		for range 16 {
			q.TryStage(ev)
		}
		q.Publish()
		q.TryPop()
		q.Wait(done) // items ready: returns at once
		q.PopBatch(dst)
		q.TryPush(ev)
		q.sleeping.Store(1) // as if the consumer had parked
		q.Publish()         // nothing staged: no-op
		q.TryPush(ev)       // sends the wake token
		<-q.wake
		q.PopBatch(dst)
		_ = q.Free() + q.Len()
	})
	if allocs != 0 {
		t.Fatalf("hot path allocates %v times per run; want 0", allocs)
	}
}

// hammerItem carries a sequence number and a value derived from it, so a
// torn or stale slot read shows up as a mismatch.
type hammerItem struct {
	seq, check uint64
}

func mix(x uint64) uint64 { // splitmix64 finaliser
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// TestHammer runs one producer and one consumer flat out: random batch sizes
// with one Publish each, a consumer mixing TryPop, PopBatch and Wait, strict
// order and a checksum on both sides.
func TestHammer(t *testing.T) {
	total := uint64(5_000_000)
	if testing.Short() || raceEnabled {
		total = 200_000
	}
	q := New[hammerItem](256)
	// A lost wake-up or a stuck producer fails the test instead of hanging it.
	// On failure the same channel stops the producer, so it never outlives
	// the test.
	done := make(chan struct{})
	var once sync.Once
	stop := func() { once.Do(func() { close(done) }) }
	timer := time.AfterFunc(time.Minute, stop)
	defer timer.Stop()

	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()
	var prodSum uint64
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(3, 4))
		var seq uint64
		for seq < total {
			batch := 1 + rng.Uint64N(128)
			for ; batch > 0 && seq < total; batch-- {
				it := hammerItem{seq, mix(seq)}
				for !q.TryStage(it) {
					q.Publish() // the consumer can only free slots it can see
					select {
					case <-done:
						return
					default:
					}
					runtime.Gosched()
				}
				prodSum += it.check
				seq++
			}
			q.Publish()
			if rng.IntN(64) == 0 {
				runtime.Gosched() // let the consumer drain and park now and then
			}
		}
	}()

	rng := rand.New(rand.NewPCG(5, 6))
	dst := make([]hammerItem, 64)
	var want, consSum uint64
	check := func(it hammerItem) {
		if it.seq != want || it.check != mix(it.seq) {
			t.Fatalf("got item {%d %x}; want seq %d check %x", it.seq, it.check, want, mix(want))
		}
		consSum += it.check
		want++
	}
	for want < total {
		if !q.Wait(done) {
			t.Fatalf("consumer gave up at item %d of %d: no wake-up before the deadline", want, total)
		}
		if rng.IntN(2) == 0 {
			for {
				it, ok := q.TryPop()
				if !ok {
					break
				}
				check(it)
			}
		} else {
			n := q.PopBatch(dst[:1+rng.IntN(len(dst))])
			if n == 0 {
				t.Fatal("PopBatch = 0 right after Wait returned true")
			}
			for _, it := range dst[:n] {
				check(it)
			}
		}
	}
	wg.Wait()
	if prodSum != consSum {
		t.Fatalf("checksum: produced %x, consumed %x", prodSum, consSum)
	}
	if v, ok := q.TryPop(); ok {
		t.Fatalf("extra item %v after %d", v, total)
	}
	t.Logf("%d items, consumer parked %d times", total, q.parks)
}
