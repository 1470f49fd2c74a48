package harness

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/polyfeed/polyfeed/bench/plot"
)

var (
	benchCorpusOnce sync.Once
	benchCorpus     *Corpus
	benchCorpusErr  error
)

// BenchmarkReplay runs one engine-alone step per iteration and reports the
// step's figures as metrics, so benchstat can compare engine changes across
// runs (-benchtime 1x -count 5 is the intended use; each iteration takes
// about two seconds):
//
//	go test -run '^$' -bench Replay -benchtime 1x -count 5 ./bench/harness
func BenchmarkReplay(b *testing.B) {
	benchCorpusOnce.Do(func() { benchCorpus, benchCorpusErr = Record(context.Background(), CorpusConfig{}) })
	if benchCorpusErr != nil {
		b.Fatal(benchCorpusErr)
	}
	for _, rate := range []float64{5e3, 20e3, 100e3} {
		b.Run(fmt.Sprintf("rate=%s", plot.FormatTick(rate)), func(b *testing.B) {
			var cpu, allocs, p50, p99, drops float64
			for b.Loop() {
				r, err := Replay(context.Background(), benchCorpus, ReplayConfig{Rate: rate, Duration: 2 * time.Second})
				if err != nil {
					b.Fatal(err)
				}
				cpu += float64(r.CPUPerEvent.Nanoseconds())
				allocs += r.AllocsPerEvent
				p50 += us(r.Handler.P50)
				p99 += us(r.Handler.P99)
				drops += float64(r.Dropped)
			}
			n := float64(b.N)
			b.ReportMetric(cpu/n, "cpu-ns/event")
			b.ReportMetric(allocs/n, "allocs/event")
			b.ReportMetric(p50/n, "p50-µs")
			b.ReportMetric(p99/n, "p99-µs")
			b.ReportMetric(drops/n, "drops")
		})
	}
}
