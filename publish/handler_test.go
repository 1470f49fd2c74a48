package publish

import (
	"testing"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/engine"
	"github.com/polyfeed/polyfeed/fixed"
)

// TestHandlerAllocs: a delta costs the worker no allocation: the payload
// handed to the sender is copied into a slab that serves hundreds of
// messages (the sender is not running here, so the queue only fills).
func TestHandlerAllocs(t *testing.T) {
	nc := memoryNATS(t)
	p, err := New(Config{Conn: nc, Workers: 1, QueueSize: 1 << 12, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	p.ready.Store(true)
	h := p.handlers[0]
	b := goldenBook(t)
	ev := engine.Event{Kind: engine.EventBook, AssetID: goldenAsset, Market: goldenMarket, Timestamp: 1}
	h.OnEvent(&ev, b)
	ev.Kind, ev.Side, ev.Price = engine.EventLevel, book.Bid, fixed.MustParse("0.48")
	h.p.cfg.BookEvery = 1 << 30
	i := 0
	n := testing.AllocsPerRun(1000, func() {
		i++
		ev.Size = fixed.FromInt(int64(i%10 + 1))
		_ = b.Set(ev.Side, ev.Price, ev.Size)
		h.OnEvent(&ev, b)
	})
	if n != 0 {
		t.Errorf("OnEvent(delta) allocates %v times; want 0 (amortized over a slab)", n)
	}
	if st := p.Stats(); st.Dropped != 0 {
		t.Errorf("%d dropped with room in the queue", st.Dropped)
	}
}
