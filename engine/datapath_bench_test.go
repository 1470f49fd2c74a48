package engine

import (
	"fmt"
	"strings"
	"testing"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/internal/mono"
	"github.com/polyfeed/polyfeed/internal/testrig"
)

// The data path's micro benchmarks: one frame through the router and a
// worker on one goroutine (as TestHotPathAllocs does: never concurrent, so
// the SPSC contract holds), and the same frame stopped after each stage, so
// the cost of every stage is the difference of two lines of one run:
//
//	decode                          sonic into the reused wire events
//	route   = decode + route/stage  xxhash route lookup, stage items, publish, pop
//	full    = route + apply         worker applies to the book, stamps latency, handler
//
// Run with:
//
//	go test -run '^$' -bench 'HotPath|Inbound' -benchmem -count 5 ./engine

// benchBookFrame is a ~1 KB book snapshot: 11 levels a side, as the venue
// sends for an active market.
func benchBookFrame(asset string, levels int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"event_type":"book","market":"%s","asset_id":"%s","bids":[`, dpMarket, asset)
	for i := range levels {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"price":"0.%02d","size":"%d.5"}`, 40+i, 100+7*i)
	}
	b.WriteString(`],"asks":[`)
	for i := range levels {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"price":"0.%02d","size":"%d.25"}`, 62-i, 200+3*i)
	}
	b.WriteString(`],"timestamp":"1703875200000","hash":"0123456789abcdef0123456789abcdef01234567","tick_size":"0.01"}`)
	return []byte(b.String())
}

type benchFrame struct {
	name   string
	frame  []byte
	events int // handler events per frame
}

func hotPathFrames() []benchFrame {
	return []benchFrame{
		{"price_change", []byte(dpChanges), 2},
		{"book_1KB", benchBookFrame(dpAssetA, 11), 1},
	}
}

// benchPath is a router and two workers driven by hand on one goroutine.
type benchPath struct {
	ws *workerSet
	r  *router
}

func newBenchPath(b *testing.B, h HandlerFactory) *benchPath {
	b.Helper()
	ws := newWorkerSet(workerConfig{count: 2, ringSize: 1024, factory: h, logger: testrig.Logger()})
	r := newRouter(routerConfig{inboundBytes: DefaultInboundBytes, logger: testrig.Logger()}, ws.rings())
	p := &benchPath{ws: ws, r: r}
	// First sight of each asset allocates its route and book; the books
	// must exist before price changes apply cleanly.
	p.full([]byte("[" + dpBookA + "," + dpBookB + "]"))
	return p
}

// route decodes, routes and stages one frame, publishes, and pops what the
// workers would receive without applying it.
func (p *benchPath) route(frame []byte) {
	p.r.routeFrame(1, frame, mono.Now())
	p.r.publish()
	for _, w := range p.ws.workers {
		if n := w.ring.PopBatch(w.batch); n > 0 {
			clear(w.batch[:n])
		}
	}
}

// full is route plus the workers' apply, stamps and handler call.
func (p *benchPath) full(frame []byte) {
	p.r.routeFrame(1, frame, mono.Now())
	p.r.publish()
	for _, w := range p.ws.workers {
		if n := w.ring.PopBatch(w.batch); n > 0 {
			w.process(w.batch[:n])
		}
	}
}

// BenchmarkHotPath: one frame from bytes to a handler call, by stage.
func BenchmarkHotPath(b *testing.B) {
	for _, f := range hotPathFrames() {
		b.Run(f.name+"/decode", func(b *testing.B) {
			p := newBenchPath(b, nil)
			b.SetBytes(int64(len(f.frame)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.r.dec.Decode(f.frame); err != nil {
					b.Fatal(err)
				}
			}
			reportPerEvent(b, f.events)
		})
		b.Run(f.name+"/route", func(b *testing.B) {
			p := newBenchPath(b, nil)
			b.SetBytes(int64(len(f.frame)))
			b.ReportAllocs()
			for b.Loop() {
				p.route(f.frame)
			}
			reportPerEvent(b, f.events)
		})
		b.Run(f.name+"/full", func(b *testing.B) {
			var seen int
			p := newBenchPath(b, func(int) Handler {
				return HandlerFunc(func(*Event, *book.Book) { seen++ })
			})
			seen = 0
			b.SetBytes(int64(len(f.frame)))
			b.ReportAllocs()
			for b.Loop() {
				p.full(f.frame)
			}
			reportPerEvent(b, f.events)
			if seen < b.N*f.events {
				b.Fatalf("handler saw %d events; want %d", seen, b.N*f.events)
			}
		})
	}
}

func reportPerEvent(b *testing.B, events int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*events), "ns/event")
}
