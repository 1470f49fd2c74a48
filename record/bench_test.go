package record

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkWriter: one ~300-byte price_change frame through OnFrame, the
// writer goroutine, compression and the file, per op (Stop included, so
// everything queued is on disk when the clock stops).
func BenchmarkWriter(b *testing.B) {
	dir := b.TempDir()
	w, err := New(Config{Dir: dir, Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	frames := make([][]byte, 64)
	for i := range frames {
		frames[i] = fmt.Appendf(nil, `[{"market":"0x5f65177b394277fd294cd75650044e32ba009a95022d88a0c1d565897d72f8f1","price_changes":[{"asset_id":"7160470893786163788637788968432396733327364521591221934393219718466398580%04d","price":"0.%02d","size":"%d.%02d","side":"BUY","hash":"%040x","best_bid":"0.%02d","best_ask":"0.%02d"}],"timestamp":"17038752%05d","event_type":"price_change"}]`,
			i, 10+i%80, 100+i*37, i%100, uint64(i)*0x9e3779b97f4a7c15, 10+i%80, 11+i%80, i)
	}
	b.SetBytes(int64(len(frames[0])))
	b.ReportAllocs()
	t := time.Now().UnixNano()
	i := 0
	for b.Loop() {
		w.OnFrame(1, frames[i&63], t+int64(i))
		i++
		if i&1023 == 0 {
			time.Sleep(time.Millisecond) // let the writer keep up, as a live feed would
		}
	}
	if err := w.Stop(context.Background()); err != nil {
		b.Fatal(err)
	}
	st := w.Stats()
	b.ReportMetric(float64(st.FileBytes)/float64(st.Frames), "disk-B/frame")
	if st.Dropped > 0 {
		b.ReportMetric(float64(st.Dropped), "dropped")
	}
}
