package ring

import (
	"runtime"
	"sync"
	"testing"
)

// Every benchmark here moves items between two goroutines, next to a
// buffered channel doing the same job. Run with:
//
//	go test -run '^$' -bench . -benchmem -count 5 ./ring

// benchCap is the ring capacity and the channel buffer: the same room for
// both, large enough that a consumer hiccup does not stall the producer.
const benchCap = 1024

// reportPer adds a per-unit metric (ns/item, ns/hop) beside ns/op.
func reportPer(b *testing.B, units int, unit string) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(units), unit)
}

// BenchmarkThroughput streams b.N items from a producer goroutine to the
// benchmark goroutine. One op is one item.
func BenchmarkThroughput(b *testing.B) {
	b.Run("chan", func(b *testing.B) {
		ch := make(chan int, benchCap)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range b.N {
				ch <- i
			}
		}()
		sum := 0
		for range b.N {
			sum += <-ch
		}
		wg.Wait()
		reportPer(b, b.N, "ns/item")
		sink = sum
	})
	for _, c := range []struct {
		name         string
		publish, pop int // items per Publish, per PopBatch (1: TryPush, TryPop)
	}{
		{"ring/publish=1/pop=1", 1, 1},
		{"ring/publish=64/pop=1", 64, 1},
		{"ring/publish=64/pop=64", 64, 64},
	} {
		b.Run(c.name, func(b *testing.B) {
			q := New[int](benchCap)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				produce(q, b.N, c.publish)
			}()
			sum := 0
			if c.pop == 1 {
				for got := 0; got < b.N; {
					v, ok := q.TryPop()
					if !ok {
						q.Wait(nil)
						continue
					}
					sum += v
					got++
				}
			} else {
				dst := make([]int, c.pop)
				for got := 0; got < b.N; {
					n := q.PopBatch(dst)
					if n == 0 {
						q.Wait(nil)
						continue
					}
					for _, v := range dst[:n] {
						sum += v
					}
					got += n
				}
			}
			wg.Wait()
			reportPer(b, b.N, "ns/item")
			sink = sum
		})
	}
}

// produce pushes n items, publishing every batch items. On a full ring it
// publishes what is staged and waits until a whole batch fits, as a blocking
// router would. Retrying slot by slot with a yield each ran ten times slower
// here with pop=1: every retry re-reads the head line the consumer has just
// written, and yields once per item.
func produce(q *SPSC[int], n, batch int) {
	for i := 0; i < n; {
		end := min(i+batch, n)
		for ; i < end; i++ {
			if q.TryStage(i) {
				continue
			}
			q.Publish()
			for spins := 1; q.Free() < batch; spins++ {
				if spins%64 == 0 { // the consumer may need this core
					runtime.Gosched()
				}
			}
			q.TryStage(i)
		}
		q.Publish()
	}
}

// BenchmarkHop bounces one item between two goroutines and back (a ping-pong
// round trip, two hops) b.N times: the latency of a hand-off when the
// receiver is waiting, which on the ring includes Wait's spin, yield and
// park stages. ns/hop is half a round trip; parks/hop is how often the
// receiver got as far as blocking.
func BenchmarkHop(b *testing.B) {
	b.Run("chan", func(b *testing.B) {
		ping, pong := make(chan int, 1), make(chan int, 1)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := range ping {
				pong <- v
			}
		}()
		for i := range b.N {
			ping <- i
			<-pong
		}
		reportPer(b, 2*b.N, "ns/hop")
		close(ping)
		wg.Wait()
	})
	b.Run("ring", func(b *testing.B) {
		ping, pong := New[int](2), New[int](2)
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ping.Wait(done) {
				v, _ := ping.TryPop()
				pong.TryPush(v)
			}
		}()
		for i := range b.N {
			ping.TryPush(i)
			pong.Wait(nil)
			pong.TryPop()
		}
		reportPer(b, 2*b.N, "ns/hop")
		close(done)
		wg.Wait()
		b.ReportMetric(float64(ping.parks+pong.parks)/float64(2*b.N), "parks/hop")
	})
}

// sink keeps consumer sums alive so the compiler cannot drop the reads.
var sink int
