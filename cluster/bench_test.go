package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkStreamPublish measures what bounds a cluster's NATS side: async
// JetStream publishes of book-sized messages (300 bytes) into the events
// stream laid out as docs/STREAM.md says (file storage; the books stream
// sourcing from it), on one server and on a 3-node cluster with R3. It
// reports msgs/s; docs/CLUSTER.md quotes it with its command.
func BenchmarkStreamPublish(b *testing.B) {
	for _, tc := range []struct {
		name  string
		nodes int
	}{{"R1", 1}, {"R3", 3}} {
		b.Run(tc.name, func(b *testing.B) {
			var url string
			if tc.nodes == 1 {
				url = runNATS(b).url()
			} else {
				url = urls(runNATSCluster(b, 3))
			}
			createStreams(b, url, tc.nodes)
			nc := connect(b, url)
			js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
			if err != nil {
				b.Fatal(err)
			}
			msg := make([]byte, 300)
			for i := range msg {
				msg[i] = 'x'
			}
			subjects := make([]string, 1000)
			for i := range subjects {
				subjects[i] = fmt.Sprintf("polyfeed.v1.delta.%d", 1e6+i)
			}
			b.SetBytes(int64(len(msg)))
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if _, err := js.PublishAsync(subjects[i%len(subjects)], msg, jetstream.WithStallWait(30*time.Second)); err != nil {
					b.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			select {
			case <-js.PublishAsyncComplete():
			case <-ctx.Done():
				b.Fatal("acks did not arrive")
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

// BenchmarkShareListing measures sharing a 20,000-market listing through
// the markets bucket: one node writes it, another sees all of it. One op is
// the whole listing.
func BenchmarkShareListing(b *testing.B) {
	url := runNATS(b).url()
	ms := testMarkets(20000, 19)
	for i := 0; i < b.N; i++ {
		cluster := fmt.Sprintf("bench%d", i)
		var nodes []*Node
		for _, id := range []string{"w", "r"} {
			n, err := New(connect(b, url), testConfig(cluster, id))
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := n.Start(ctx); err != nil {
				b.Fatal(err)
			}
			cancel()
			nodes = append(nodes, n)
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if _, err := nodes[0].ShareMarkets(ctx, ms); err != nil {
			b.Fatal(err)
		}
		cancel()
		b.ReportMetric(float64(len(ms))/time.Since(start).Seconds(), "written/s")
		checkFor(b, time.Minute, 10*time.Millisecond, func() error {
			if n := nodes[1].listing.len(); n != len(ms) {
				return fmt.Errorf("%d of %d seen", n, len(ms))
			}
			return nil
		})
		b.ReportMetric(float64(len(ms))/time.Since(start).Seconds(), "seen/s")
		for _, n := range nodes {
			_ = n.Stop(context.Background())
		}
	}
}
