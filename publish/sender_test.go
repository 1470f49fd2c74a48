package publish

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/engine"
	"github.com/polyfeed/polyfeed/fixed"
	"github.com/polyfeed/polyfeed/internal/poll"
)

// TestSenderServesEveryWorker: one sender drains the queues of several
// workers whose handlers publish at once and in trickles with pauses (so
// the sender parks between them and only the bell can wake it); every
// message is stored and acknowledged, none dropped, and the sender stops.
func TestSenderServesEveryWorker(t *testing.T) {
	const workers, assets, events = 4, 5, 150
	nc := memoryNATS(t)
	ctx := context.Background()
	p, stop := startPublisher(t, Config{Conn: nc, Workers: workers, Storage: jetstream.MemoryStorage, Logger: quiet()})
	feedWorkers(p, workers, assets, events, func(w int) func() {
		rng := rand.New(rand.NewPCG(uint64(w), 1))
		return func() {
			if rng.IntN(4) == 0 { // a pause: the sender drains and parks
				time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
			}
		}
	})
	want := uint64(workers * (assets + events))
	poll.For(t, 30*time.Second, 5*time.Millisecond, func() error {
		if st := p.Stats(); st.Queued != want || st.Published != want || st.PendingAcks != 0 {
			return fmt.Errorf("stats %+v; want %d queued and published, none pending", st, want)
		}
		return nil
	})
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, EventsStream(DefaultPrefix))
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != want {
		t.Errorf("EVENTS holds %d messages; want %d", info.State.Msgs, want)
	}
	if st := p.Stats(); st.Dropped != 0 {
		t.Errorf("%d dropped in a healthy run", st.Dropped)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestSenderProbeWhileReplicating: on a three-node cluster with R3 streams, a
// batch closed by the timer is acknowledged through a probe that repeats its
// last message, and the probe often reaches the stream leader while the
// original is still being replicated: JetStream answers 409 "duplicate
// message id is in process". The sender must ask again, not count the batch
// lost: every message is stored, none dropped, no stale notice.
func TestSenderProbeWhileReplicating(t *testing.T) {
	const workers, assets, events = 2, 20, 250
	urls := runNATSCluster(t, 3)
	nc, err := nats.Connect(strings.Join(urls, ","), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close) // after the publisher's stop: cleanups run last first
	p, _ := startPublisher(t, Config{Conn: nc, Workers: workers, Replicas: 3, Logger: quiet()})
	feedWorkers(p, workers, assets, events, func(int) func() {
		// A trickle slower than ackEvery: the open batch is often closed by
		// the timer's probe.
		return func() { time.Sleep(8 * time.Millisecond) }
	})
	want := uint64(workers * (assets + events))
	poll.For(t, 60*time.Second, 10*time.Millisecond, func() error {
		if st := p.Stats(); st.Published+st.Dropped != want || st.PendingAcks != 0 {
			return fmt.Errorf("stats %+v; want %d published or dropped, none pending", st, want)
		}
		return nil
	})
	st := p.Stats()
	t.Logf("probes: %d, sent again: %d", st.Probes, st.AckRetries)
	if st.Dropped != 0 || st.StaleNotices != 0 {
		t.Errorf("%d dropped, %d stale notices on a healthy cluster (%d probes sent again)", st.Dropped, st.StaleNotices, st.AckRetries)
	}
}

// TestSenderPublishesEachMessageOnce: with a trickle (the sender drains
// its queues and parks after most rounds; an earlier sender closed each
// such batch by publishing its last message a second time after 5 ms), a
// core subscriber on the stream's subjects sees what the server receives:
// every message once, except the rare probe at the end of a burst, whose
// original carried the same Nats-Msg-Id. Only books, the messages that ask
// for an acknowledgement and the ones that may be probed carry the header;
// the stream stores every message once, all acknowledged.
func TestSenderPublishesEachMessageOnce(t *testing.T) {
	const workers, assets, events = 2, 5, 200
	nc := memoryNATS(t)
	ctx := context.Background()
	type copyOf struct {
		hdr   string
		reply bool
	}
	var (
		mu     sync.Mutex
		copies = map[string][]copyOf{}
		kinds  = map[string]string{}
		total  int
		bad    []string
	)
	sub, err := nc.Subscribe(DefaultPrefix+".v1.>", func(m *nats.Msg) {
		var pm struct {
			Type  string `json:"type"`
			Asset string `json:"asset_id"`
			Epoch int64  `json:"epoch"`
			Seq   uint64 `json:"seq"`
		}
		err := json.Unmarshal(m.Data, &pm)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", m.Subject, err))
			return
		}
		id := msgID(pm.Asset, pm.Epoch, pm.Seq)
		copies[id] = append(copies[id], copyOf{hdr: m.Header.Get(jetstream.MsgIDHeader), reply: m.Reply != ""})
		kinds[id] = pm.Type
		total++
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	_ = sub.SetPendingLimits(-1, -1)
	p, stop := startPublisher(t, Config{Conn: nc, Workers: workers, Storage: jetstream.MemoryStorage, Logger: quiet()})
	feedWorkers(p, workers, assets, events, func(w int) func() {
		rng := rand.New(rand.NewPCG(uint64(w), 2))
		return func() { time.Sleep(time.Duration(200+rng.IntN(1500)) * time.Microsecond) }
	})
	want := workers * (assets + events)
	poll.For(t, 30*time.Second, 5*time.Millisecond, func() error {
		if st := p.Stats(); st.Published != uint64(want) || st.PendingAcks != 0 {
			return fmt.Errorf("stats %+v; want %d published, none pending", st, want)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(copies) < want {
			return fmt.Errorf("the subscriber saw %d of %d messages", len(copies), want)
		}
		return nil
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	mu.Lock()
	defer mu.Unlock()
	withID, asks, again := 0, 0, 0
	for id, cs := range copies {
		for i, c := range cs {
			switch {
			case c.hdr != "" && c.hdr != id:
				bad = append(bad, fmt.Sprintf("%s: Nats-Msg-Id %q", id, c.hdr))
			case c.hdr == "" && (c.reply || kinds[id] == TypeBook):
				bad = append(bad, fmt.Sprintf("%s %s (asks: %v): no Nats-Msg-Id", kinds[id], id, c.reply))
			case i > 0 && (!c.reply || cs[0].hdr == ""):
				// A copy the server cannot tell from its original.
				bad = append(bad, fmt.Sprintf("%s %s sent again; the original's Nats-Msg-Id %q, asks: %v", kinds[id], id, cs[0].hdr, c.reply))
			}
			if c.hdr != "" {
				withID++
			}
			if c.reply {
				asks++
			}
		}
		again += len(cs) - 1
	}
	t.Logf("%d messages received for %d; %d with Nats-Msg-Id, %d asking for an acknowledgement, %d sent again", total, want, withID, asks, again)
	for _, b := range bad {
		t.Error(b)
	}
	if len(copies) != want {
		t.Errorf("the server received %d distinct messages; want %d", len(copies), want)
	}
	if uint64(again) != st.Probes+st.AckRetries {
		t.Errorf("%d messages received twice; the sender counted %d probes and %d sent again", again, st.Probes, st.AckRetries)
	}
	// Batches are closed by the rounds that follow them, not probed (an
	// earlier sender probed almost every one here); probes are left for
	// the end of a burst and a sender kept from running.
	if again*4 > asks {
		t.Errorf("%d of %d acknowledgement requests were messages sent again", again, asks)
	}
	if withID >= total {
		t.Errorf("every message carried Nats-Msg-Id")
	}
	if st.Dropped != 0 || st.StaleNotices != 0 {
		t.Errorf("%d dropped, %d stale notices in a healthy run", st.Dropped, st.StaleNotices)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	es, err := js.Stream(ctx, EventsStream(DefaultPrefix))
	if err != nil {
		t.Fatal(err)
	}
	info, err := es.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != uint64(want) {
		t.Errorf("EVENTS holds %d messages; want %d, each once", info.State.Msgs, want)
	}
}

// runNATSCluster starts n in-process servers routed into one JetStream
// cluster on loopback and returns their client URLs once JetStream has a
// meta leader. They are shut down at cleanup.
func runNATSCluster(t *testing.T, n int) []string {
	t.Helper()
	addrs := make([]*net.TCPAddr, n)
	var routes []*url.URL
	for i := range addrs {
		a, err := net.ResolveTCPAddr("tcp", freePort(t))
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = a
		routes = append(routes, &url.URL{Scheme: "nats", Host: a.String()})
	}
	var urls []string
	var srvs []*server.Server
	for i := range n {
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i), Host: "127.0.0.1", Port: -1,
			JetStream: true, StoreDir: filepath.Join(t.TempDir(), fmt.Sprint(i)), NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "publish-test", Host: "127.0.0.1", Port: addrs[i].Port},
			Routes:  routes,
		}
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatalf("nats-server %d not ready", i)
		}
		srvs = append(srvs, s)
		urls = append(urls, s.ClientURL())
	}
	poll.For(t, 30*time.Second, 50*time.Millisecond, func() error {
		for _, s := range srvs {
			if !s.JetStreamIsClustered() || !s.JetStreamIsCurrent() || s.NumRoutes() < n-1 {
				return fmt.Errorf("%s: JetStream not current or routes missing", s.Name())
			}
		}
		return nil
	})
	return urls
}

// feedWorkers plays each of workers handlers from its own goroutine (as the
// engine's worker would): a book for each of assets, then events level
// changes spread over them, calling pause(w) after each. It returns when
// every handler is done.
// startPublisher starts a publisher for the test. stop stops it (once; the
// test's cleanup stops it otherwise) and returns what Stop returned.
func startPublisher(t *testing.T, cfg Config) (p *Publisher, stop func() error) {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	var stopErr error
	stop = func() error {
		once.Do(func() { stopErr = p.Stop(context.Background()) })
		return stopErr
	}
	t.Cleanup(func() { _ = stop() })
	return p, stop
}

func feedWorkers(p *Publisher, workers, assets, events int, pause func(w int) func()) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() { // worker w: the only caller of its handler
			defer wg.Done()
			h, after := p.handlers[w], pause(w)
			books := make([]*book.Book, assets)
			evs := make([]engine.Event, assets)
			for k := range books {
				id := fmt.Sprintf("%d%076d", w+1, k)
				books[k] = book.New(id)
				books[k].ApplySnapshot([]book.Level{{Price: 400_000, Size: fixed.FromInt(10)}}, []book.Level{{Price: 600_000, Size: fixed.FromInt(10)}}, 1)
				evs[k] = engine.Event{Kind: engine.EventBook, AssetID: id, Market: "m", Timestamp: 1}
				h.OnEvent(&evs[k], books[k])
				evs[k].Kind, evs[k].Side, evs[k].Price = engine.EventLevel, book.Bid, 400_000
			}
			for i := range events {
				k := i % assets
				evs[k].Size = fixed.FromInt(int64(10 + i%7))
				_ = books[k].Set(evs[k].Side, evs[k].Price, evs[k].Size)
				h.OnEvent(&evs[k], books[k])
				after()
			}
		}()
	}
	wg.Wait()
}
