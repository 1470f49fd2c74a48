package stream

import (
	"os"
	"testing"
	"time"

	"github.com/polyfeed/polyfeed/fixed"
)

// BenchmarkDecodeDelta is the consumer's per-message parsing cost for the most common
// message.
func BenchmarkDecodeDelta(b *testing.B) {
	data, err := os.ReadFile("testdata/v1/delta.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrackerDelta is applying one in-order delta to a 40-level book.
func BenchmarkTrackerDelta(b *testing.B) {
	var c counters
	tr := newTracker(&c, time.Second)
	bk := bookMsg(1, 1, true)
	for i := 99; i >= 60; i-- { // 0.099 down to 0.060
		bk.Bids = append(bk.Bids, Level{Price: fixed.Point(i * 1000), Size: fixed.FromInt(10)})
	}
	tr.handle(bk, time.Unix(0, 0))
	d := deltaMsg(1, 2, SideBuy, "0.099", "5", "0.099", "")
	b.ReportAllocs()
	for b.Loop() {
		d.Seq++
		tr.handle(d, time.Unix(0, 0))
	}
}
