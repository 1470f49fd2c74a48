package sim

import (
	"testing"
)

// BenchmarkGenerate measures generation plus fan-out to one subscribed socket that reads
// everything (a real loopback client), reported as events/s. 10,000 markets, 100k events/s
// configured; b.N counts ticks of 10 ms (1,000 messages each).
func BenchmarkGenerate(b *testing.B) {
	s, err := New(Config{Seed: 1, Markets: 10_000, Rate: 100_000, Manual: true,
		Faults: Faults{SnapshotCap: -1}})
	if err != nil {
		b.Fatal(err)
	}
	s.cfg.Epoch = s.cfg.Epoch.UTC()
	if err := s.Start(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Stop(b.Context()) })
	c := dial(b, s)
	c.mu.Lock()
	c.discard = true
	c.mu.Unlock()
	c.subscribe(b, bookAssets(s), true)
	c.sync(b)
	c.takeFrames()
	b.ReportAllocs()
	b.ResetTimer()
	before := s.Stats().Generated
	for i := 0; i < b.N; i++ {
		s.Step(1)
	}
	s.Pause()
	c.sync(b)
	b.StopTimer()
	var n uint64
	for k, v := range s.Stats().Generated {
		n += v - before[k]
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkGenerateNoSubscribers isolates the generator (no socket).
func BenchmarkGenerateNoSubscribers(b *testing.B) {
	s, err := New(Config{Seed: 1, Markets: 10_000, Rate: 100_000, Manual: true})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Step(1)
	}
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "events/s")
}
