package publish

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/polyfeed/polyfeed/bench/harness"
	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/engine"
	"github.com/polyfeed/polyfeed/fixed"
	"github.com/polyfeed/polyfeed/internal/mono"
	"github.com/polyfeed/polyfeed/internal/natsd"
	"github.com/polyfeed/polyfeed/stream"
)

// benchStream starts an embedded server on a loopback port (as polyfeed
// runs it) and a started publisher on it; opts adjust its Config before
// New.
func benchStream(b *testing.B, storage string, workers int, opts ...func(*Config)) *Publisher {
	b.Helper()
	cfg := natsd.Config{Listen: "127.0.0.1:0", DataDir: b.TempDir(), Memory: storage == "memory", Logger: quiet()}
	srv, err := natsd.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := srv.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Stop(ctx) })
	nc, err := srv.Conn(nats.MaxReconnects(-1))
	if err != nil {
		b.Fatal(err)
	}
	return benchPublisher(b, nc, storage, workers, opts...)
}

// benchExternal starts a nats-server process (as `polyfeed --nats-url`
// uses one) and a started publisher connected to it. The process is
// returned so that its CPU can be read apart from the publisher's.
func benchExternal(b *testing.B, storage string, workers int, opts ...func(*Config)) (*Publisher, *os.Process) {
	b.Helper()
	ext := &extServer{bin: natsServerBinary(b), addr: freePort(b), dir: b.TempDir()}
	ext.start(b)
	b.Cleanup(func() { ext.kill(b) })
	nc, err := nats.Connect(ext.url(), nats.MaxReconnects(-1))
	if err != nil {
		b.Fatal(err)
	}
	return benchPublisher(b, nc, storage, workers, opts...), ext.cmd.Process
}

func benchPublisher(b *testing.B, nc *nats.Conn, storage string, workers int, opts ...func(*Config)) *Publisher {
	b.Helper()
	ctx := context.Background()
	b.Cleanup(nc.Close)
	st := jetstream.FileStorage
	if storage == "memory" {
		st = jetstream.MemoryStorage
	}
	pc := Config{Conn: nc, Workers: workers, Storage: st, Logger: quiet()}
	for _, o := range opts {
		o(&pc)
	}
	p, err := New(pc)
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Stop(ctx) })
	return p
}

// waitPublished waits until the server acknowledged (or refused) every
// queued message.
func waitPublished(b *testing.B, p *Publisher) Stats {
	b.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; {
		st := p.Stats()
		if st.QueueDepth == 0 && st.PendingAcks == 0 && st.Published+st.Dropped >= st.Queued {
			return st
		}
		if time.Now().After(deadline) {
			b.Fatalf("publisher did not drain: %+v", st)
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkPublishCeiling: how many events per second one worker's
// handler gets stored in JetStream (acknowledged), with file and memory
// storage. The driver waits for queue room instead of letting the handler
// drop, so the figure is the sustained ceiling of handler + sender +
// server, not of the engine.
func BenchmarkPublishCeiling(b *testing.B) {
	for _, storage := range []string{"memory", "file"} {
		b.Run(storage, func(b *testing.B) {
			p := benchStream(b, storage, 1)
			h := p.handlers[0]
			books := make([]*book.Book, 100)
			evs := make([]engine.Event, len(books))
			for i := range books {
				id := fmt.Sprintf("%077d", i+1)
				books[i] = book.New(id)
				var bids, asks []book.Level
				for l := range 10 {
					bids = append(bids, book.Level{Price: fixed.Point(400_000 - l*10_000), Size: fixed.FromInt(int64(100 + l))})
					asks = append(asks, book.Level{Price: fixed.Point(600_000 + l*10_000), Size: fixed.FromInt(int64(100 + l))})
				}
				books[i].ApplySnapshot(bids, asks, 1)
				evs[i] = engine.Event{Kind: engine.EventBook, AssetID: id, Market: "0x" + id[:64], Timestamp: 1}
				h.OnEvent(&evs[i], books[i]) // epoch start
				evs[i].Kind, evs[i].Side, evs[i].Price = engine.EventLevel, book.Bid, fixed.Point(400_000)
			}
			waitPublished(b, p)
			before := p.Stats().Published
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu0 := time.Now(), processCPU()
			for i := range b.N {
				k := i % len(books)
				ev := &evs[k]
				ev.Size = fixed.FromInt(int64(100 + i%50))
				_ = books[k].Set(ev.Side, ev.Price, ev.Size)
				for h.q.Free() < 4 {
					// Wait for the sender without spinning: on two cores a
					// spinning driver takes the core the server needs.
					time.Sleep(50 * time.Microsecond)
				}
				h.OnEvent(ev, books[k])
			}
			st := waitPublished(b, p)
			elapsed, cpu := time.Since(start), processCPU()-cpu0
			b.StopTimer()
			if st.Dropped != 0 {
				b.Fatalf("%d messages dropped", st.Dropped)
			}
			b.ReportMetric(float64(st.Published-before)/elapsed.Seconds(), "events/s")
			// CPU per event (handler, sender, client and server together)
			// holds up better than events/s on a shared machine.
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/event")
		})
	}
}

// BenchmarkPublishCPU: process CPU per engine event at a paced 2,000
// events/s, with publishing off and on, side by side in one run: the
// embedded server with memory and file storage (its work is then in this
// process, as in `polyfeed` by default), an external nats-server process
// (as with `--nats-url`: this process holds only the engine and the
// publisher; the server's CPU is reported apart), and memory storage with
// a 1 ms and a 5 ms linger. With publishing on it also reports the
// messages the sender took per round: each round costs a wake-up of the
// sender, the client's flusher, the server's reader and JetStream's stream
// loop, whatever it carries. Frames recorded from the simulator are
// replayed into the engine's FrameSink by a paced feeder common to all
// modes. Run with -benchtime 1x; -short shortens the window.
func BenchmarkPublishCPU(b *testing.B) {
	corpus := cpuCorpus(b)
	window := *cpuWindow
	if testing.Short() {
		window = time.Second
	}
	const rate = 2000.0
	for _, mode := range []string{"off", "memory", "file", "external-memory", "memory-linger1ms", "memory-linger5ms"} {
		b.Run(mode, func(b *testing.B) {
			for range b.N {
				r := cpuRun(b, corpus, mode, rate, window)
				b.ReportMetric(float64(r.cpu.Microseconds())/float64(r.events), "cpu-µs/event")
				b.ReportMetric(100*r.cpu.Seconds()/window.Seconds(), "cpu-%")
				if r.perRound > 0 {
					b.ReportMetric(r.perRound, "msgs/round")
					b.ReportMetric(r.outPerMsg, "sent/msg")
					b.ReportMetric(r.inPerMsg, "received/msg")
				}
				if r.serverCPU > 0 {
					b.ReportMetric(float64(r.serverCPU.Microseconds())/float64(r.events), "server-cpu-µs/event")
				}
			}
		})
	}
}

// cpuResult is one BenchmarkPublishCPU mode's window.
type cpuResult struct {
	cpu       time.Duration // this process: engine, publisher, and an embedded server
	serverCPU time.Duration // an external server's process
	events    uint64
	perRound  float64 // messages the sender took per round
	outPerMsg float64 // messages the client sent per queued message (probes and stream requests included)
	inPerMsg  float64 // messages the client received per queued message (acknowledgements, the book watcher's copies)
}

// cpuWindow is each BenchmarkPublishCPU mode's measured window. With
// -count N the modes alternate N times in one process (the corpus is
// recorded once), which is how to compare them on a shared machine.
var cpuWindow = flag.Duration("publish.cpuwindow", 10*time.Second, "BenchmarkPublishCPU's window per mode")

var (
	corpusOnce sync.Once
	corpus     *harness.Corpus
	corpusErr  error
)

func cpuCorpus(b *testing.B) *harness.Corpus {
	corpusOnce.Do(func() {
		corpus, corpusErr = harness.Record(context.Background(), harness.CorpusConfig{Seed: 1, Markets: 200, Messages: 20_000})
	})
	if corpusErr != nil {
		b.Fatal(corpusErr)
	}
	return corpus
}

func cpuRun(b *testing.B, c *harness.Corpus, mode string, rate float64, window time.Duration) (r cpuResult) {
	ctx := context.Background()
	var factory engine.HandlerFactory = func(int) engine.Handler { return engine.HandlerFunc(func(*engine.Event, *book.Book) {}) }
	var p *Publisher
	var server *os.Process
	switch storage, linger, _ := strings.Cut(mode, "-linger"); {
	case mode == "off":
	case strings.HasPrefix(storage, "external-"):
		p, server = benchExternal(b, strings.TrimPrefix(storage, "external-"), 2, withLinger(linger))
	default:
		p = benchStream(b, storage, 2, withLinger(linger))
	}
	if p != nil {
		factory = p.Handler
	}
	app, err := engine.New(engine.Config{
		WSURL: "ws://127.0.0.1:1/ws/market", GammaURL: "http://127.0.0.1:1",
		Workers: 2, DisableLifecycle: true, DisableRecycling: true,
		Handler: factory, Logger: quiet(),
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := app.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = app.Stop(ctx) }()
	sink := app.FrameSink()
	for _, d := range c.Dumps {
		sink(1, d, mono.Now())
	}
	settle := func() {
		var last uint64
		for stable := 0; stable < 5; time.Sleep(20 * time.Millisecond) {
			var n uint64
			for _, w := range app.Stats().Workers.WorkerStats {
				n += w.Events
			}
			if n == last {
				stable++
			} else {
				stable, last = 0, n
			}
		}
		if p != nil {
			waitPublished(b, p)
		}
	}
	settle()
	var queued0, rounds0 uint64
	var conn0 nats.Statistics
	if p != nil {
		queued0, rounds0, conn0 = p.Stats().Queued, p.sender.rounds.Load(), p.cfg.Conn.Stats()
	}
	cpu0, server0 := processCPU(), childCPU(b, server)
	start := mono.Now()
	i := c.SnapshotFrames
	for now := start; now < start+int64(window); now = mono.Now() {
		due := uint64(rate * float64(now-start) / 1e9)
		for r.events < due {
			sink(1, c.Frames[i], mono.Now())
			r.events += uint64(c.Events[i])
			if i++; i == len(c.Frames) {
				i = c.SnapshotFrames
			}
		}
		time.Sleep(time.Millisecond)
	}
	settle()
	r.cpu, r.serverCPU = processCPU()-cpu0, childCPU(b, server)-server0
	if d := app.Stats().Router.Dropped; d != 0 {
		b.Fatalf("engine dropped %d events", d)
	}
	if p != nil {
		st := p.Stats()
		if st.Dropped != 0 {
			b.Fatalf("publisher dropped %d messages", st.Dropped)
		}
		if n := p.sender.rounds.Load() - rounds0; n > 0 {
			r.perRound = float64(st.Queued-queued0) / float64(n)
		}
		if q := float64(st.Queued - queued0); q > 0 {
			cs := p.cfg.Conn.Stats()
			r.outPerMsg = float64(cs.OutMsgs-conn0.OutMsgs) / q
			r.inPerMsg = float64(cs.InMsgs-conn0.InMsgs) / q
		}
	}
	return r
}

// withLinger sets Config.Linger from a benchmark name's suffix: "" keeps
// the default, else a duration ("1ms").
func withLinger(linger string) func(*Config) {
	return func(c *Config) {
		if linger == "" {
			return
		}
		d, err := time.ParseDuration(linger)
		if err != nil {
			panic(err)
		}
		c.Linger = d
	}
}

// childCPU is a child process's user+system CPU so far (/proc; 0 for
// nil).
func childCPU(b *testing.B, p *os.Process) time.Duration {
	if p == nil {
		return 0
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command's closing parenthesis: state is the 3rd
	// field of the line, utime and stime the 14th and 15th, in clock ticks
	// (100 a second on Linux).
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("cannot read CPU of process %d: %q", p.Pid, raw)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPublishLatency: from the handler's OnEvent to a reader's
// callback on another connection, at a paced 2,000 and 10,000 events/s,
// memory storage, the default (no linger) and a 1 ms linger. The reader
// is either a core NATS subscriber ("core": the server delivers to subscribers once
// JetStream stored the message) or the stream library's Consumer handler
// ("stream": an ordered JetStream consumer, the contract's rules, the
// book updated), which is what a user sees. Run with -benchtime 1x.
func BenchmarkPublishLatency(b *testing.B) {
	for _, via := range []string{"stream", "core"} {
		for _, rate := range []int{2000, 10_000} {
			for _, linger := range []string{"", "1ms"} {
				name := fmt.Sprint(via, "-", rate)
				if linger != "" {
					name += "-linger" + linger
				}
				b.Run(name, func(b *testing.B) {
					for range b.N {
						p50, p99 := latencyRun(b, via, rate, linger, 3*time.Second)
						b.ReportMetric(float64(p50.Microseconds()), "p50-µs")
						b.ReportMetric(float64(p99.Microseconds()), "p99-µs")
					}
				})
			}
		}
	}
}

func latencyRun(b *testing.B, via string, rate int, linger string, window time.Duration) (p50, p99 time.Duration) {
	p := benchStream(b, "memory", 1, withLinger(linger), func(c *Config) {
		c.BookEvery, c.BookMaxAge = 1<<30, time.Hour // deltas only: seq = 1 + event number
	})
	h := p.handlers[0]
	const assets = 100
	n := rate * int(window/time.Second)
	sent := make([]atomic.Int64, n)
	got := make([]atomic.Int64, n)
	var received atomic.Int64
	books := make([]*book.Book, assets)
	evs := make([]engine.Event, assets)
	index := map[string]int{}
	for k := range books {
		id := fmt.Sprintf("%077d", k+1)
		index[id] = k
		books[k] = book.New(id)
		books[k].ApplySnapshot([]book.Level{{Price: 400_000, Size: fixed.FromInt(10)}}, []book.Level{{Price: 600_000, Size: fixed.FromInt(10)}}, 1)
		books[k].SetTickSize(fixed.MustParse("0.01")) // a valid contract book: consumers refuse a zero tick
		evs[k] = engine.Event{Kind: engine.EventBook, AssetID: id, Timestamp: 1}
		h.OnEvent(&evs[k], books[k]) // seq 1
		evs[k].Kind, evs[k].Side, evs[k].Price = engine.EventLevel, book.Bid, 400_000
	}
	waitPublished(b, p)
	record := func(now int64, asset string, seq uint64) {
		k, known := index[asset]
		if !known || seq < 2 {
			return
		}
		if i := int(seq-2)*assets + k; i < n {
			got[i].Store(now - sent[i].Load())
			received.Add(1)
		}
	}
	sub, err := nats.Connect(p.cfg.Conn.ConnectedUrl())
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	describe := func() string { return fmt.Sprintf("publisher %+v", p.Stats()) }
	switch via {
	case "core":
		s, err := sub.Subscribe(DefaultPrefix+".v1.delta.>", func(m *nats.Msg) {
			now := mono.Now()
			if asset, seq, ok := deltaAssetSeq(m.Data); ok {
				record(now, asset, seq)
			}
		})
		if err != nil {
			b.Fatal(err)
		}
		_ = s.SetPendingLimits(-1, -1)
		if err := sub.Flush(); err != nil {
			b.Fatal(err)
		}
	case "stream":
		c, err := stream.New(stream.Config{Conn: sub, Logger: quiet(), Handler: func(u stream.Update) {
			if u.Type == stream.TypeDelta {
				record(mono.Now(), u.Book.Asset, uint64(u.Book.Seq))
			}
		}})
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		describe = func() string { return fmt.Sprintf("publisher %+v, consumer %+v", p.Stats(), c.Stats()) }
		for deadline := time.Now().Add(30 * time.Second); !c.Live(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatal("consumer did not catch up")
			}
		}
	}
	start := mono.Now()
	for i := range n {
		// Paced in slots: push what is due, then sleep (spinning would
		// take a core from the server on this 2-core machine).
		if due := start + int64(i)*int64(time.Second)/int64(rate); mono.Now() < due {
			time.Sleep(time.Duration(due - mono.Now()))
		}
		k := i % assets
		ev := &evs[k]
		ev.Size = fixed.FromInt(int64(10 + i%7))
		_ = books[k].Set(ev.Side, ev.Price, ev.Size)
		sent[i].Store(mono.Now())
		h.OnEvent(ev, books[k])
	}
	for deadline := time.Now().Add(30 * time.Second); received.Load() < int64(n); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("received %d of %d (%s)", received.Load(), n, describe())
		}
	}
	lat := make([]int64, n)
	for i := range got {
		lat[i] = got[i].Load()
	}
	slices.Sort(lat)
	return time.Duration(lat[n/2]), time.Duration(lat[n*99/100])
}

// deltaAssetSeq reads asset_id and seq from one of the handler's payloads
// without decoding it (most messages carry no Nats-Msg-Id to read them
// from).
func deltaAssetSeq(data []byte) (string, uint64, bool) {
	_, rest, ok := bytes.Cut(data, []byte(`"asset_id":"`))
	if !ok {
		return "", 0, false
	}
	asset, _, ok := bytes.Cut(rest, []byte(`"`))
	if !ok {
		return "", 0, false
	}
	_, rest, ok = bytes.Cut(data, []byte(`"seq":`))
	if !ok {
		return "", 0, false
	}
	end := bytes.IndexAny(rest, ",}")
	if end < 0 {
		return "", 0, false
	}
	seq, err := strconv.ParseUint(string(rest[:end]), 10, 64)
	return string(asset), seq, err == nil
}
