package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lxzan/gws"

	"github.com/polyfeed/polyfeed/internal/fill"
	"github.com/polyfeed/polyfeed/internal/sim"
	"github.com/polyfeed/polyfeed/internal/wire"
)

// CorpusConfig says what to record. Zero fields take the documented defaults.
type CorpusConfig struct {
	// Seed selects the simulated universe. Default 1.
	Seed int64
	// Markets is the number of simulated markets (two assets each). Default 1000.
	Markets int
	// Messages is how many stream messages to record after the snapshots.
	// Default 40,000 (about 20 MB of frames).
	Messages int
	// SubscribeBatch is how many assets one subscribe message carries, as the
	// engine's pool does per connection. Default 200.
	SubscribeBatch int
	// SnapshotBatch is how many books one replayed snapshot frame carries
	// (the venue sends both books of a market after a trade). Default 2.
	SnapshotBatch int
}

func (c *CorpusConfig) fill() {
	fill.Zero(&c.Seed, 1)
	fill.Zero(&c.Markets, 1000)
	fill.Zero(&c.Messages, 40_000)
	fill.Zero(&c.SubscribeBatch, 200)
	fill.Zero(&c.SnapshotBatch, 2)
}

// Corpus is a recorded market-channel session, ready to replay.
type Corpus struct {
	Markets []sim.Market // open markets with a book
	Assets  []string
	// Dumps are the venue's replies to the subscribe messages: one array
	// frame of SubscribeBatch books each (the startup burst).
	Dumps     [][]byte
	DumpBooks []int // books in each of Dumps
	// Frames is the replay cycle: every book again in frames of
	// SnapshotBatch books (so a cycle starts from the state the stream
	// starts from), then the recorded stream. Events[i] is how many handler
	// events Frames[i] produces.
	Frames         [][]byte
	Events         []int
	SnapshotFrames int // Frames[:SnapshotFrames] are the snapshot frames
	// Kinds counts the stream's messages by event type.
	Kinds      map[string]int
	Bytes      int64 // bytes in Frames
	CycleEvent int   // events in one cycle of Frames
}

// StreamEvents is the number of handler events in the recorded stream.
func (c *Corpus) StreamEvents() int { return c.CycleEvent - len(c.Assets) }

// Record starts the simulator in manual mode on loopback, subscribes to
// every asset over one real WebSocket (custom features on, initial dump),
// generates cfg.Messages messages and keeps every frame the socket received.
// The universe and the event sequence depend only on cfg; how messages are
// packed into frames can vary with socket timing.
func Record(ctx context.Context, cfg CorpusConfig) (*Corpus, error) {
	cfg.fill()
	const rate, tick = 10_000, 10 * time.Millisecond // 100 messages per tick
	s, err := sim.New(sim.Config{Seed: cfg.Seed, Markets: cfg.Markets, Rate: rate, Tick: tick, Manual: true,
		Epoch: time.UnixMilli(1_760_000_000_000), Faults: sim.Faults{SnapshotCap: -1}})
	if err != nil {
		return nil, fmt.Errorf("cannot create simulator: %w", err)
	}
	if err := s.Start(ctx); err != nil {
		return nil, fmt.Errorf("cannot start simulator: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = s.Stop(sctx)
	}()
	c := &Corpus{Kinds: map[string]int{}}
	for _, m := range s.Markets() {
		if m.Closed || !m.EnableOrderBook {
			continue
		}
		c.Markets = append(c.Markets, m)
		c.Assets = append(c.Assets, m.TokenIDs...)
	}

	rc := &recClient{pong: make(chan struct{}, 1), closed: make(chan struct{})}
	conn, _, err := gws.NewClient(rc, &gws.ClientOption{Addr: s.WSURL(), ReadMaxPayloadSize: 256 << 20})
	if err != nil {
		return nil, fmt.Errorf("cannot dial simulator: %w", err)
	}
	go conn.ReadLoop()
	defer func() {
		_ = conn.NetConn().Close()
		<-rc.closed // the read loop has returned
	}()

	for i := 0; i < len(c.Assets); i += cfg.SubscribeBatch {
		ids := c.Assets[i:min(i+cfg.SubscribeBatch, len(c.Assets))]
		msg := map[string]any{"assets_ids": ids, "initial_dump": true, "custom_feature_enabled": true}
		if i == 0 {
			msg["type"] = "market"
		} else {
			msg["operation"] = "subscribe"
		}
		b, _ := json.Marshal(msg)
		if err := conn.WriteString(string(b)); err != nil {
			return nil, fmt.Errorf("cannot subscribe: %w", err)
		}
	}
	if err := rc.sync(ctx, conn); err != nil {
		return nil, err
	}
	c.Dumps = rc.take()
	ticks := (cfg.Messages + rate/100 - 1) / (rate / 100)
	s.Step(ticks)
	s.Pause()
	if err := rc.sync(ctx, conn); err != nil {
		return nil, err
	}
	stream := rc.take()

	for _, d := range c.Dumps {
		split, err := splitArray(d, cfg.SnapshotBatch)
		if err != nil {
			return nil, fmt.Errorf("cannot split snapshot frame: %w", err)
		}
		c.Frames = append(c.Frames, split...)
	}
	c.SnapshotFrames = len(c.Frames)
	c.Frames = append(c.Frames, stream...)
	dec := wire.NewDecoder()
	for i, f := range c.Frames {
		evs, err := dec.Decode(f)
		if err != nil {
			return nil, fmt.Errorf("cannot decode recorded frame %d: %w", i, err)
		}
		n := 0
		for k := range evs {
			n += handlerEvents(&evs[k])
			if i >= c.SnapshotFrames {
				c.Kinds[evs[k].Kind.String()]++
			}
		}
		c.Events = append(c.Events, n)
		c.CycleEvent += n
		c.Bytes += int64(len(f))
	}
	for i, d := range c.Dumps {
		evs, err := dec.Decode(d)
		if err != nil {
			return nil, fmt.Errorf("cannot decode subscribe reply %d: %w", i, err)
		}
		c.DumpBooks = append(c.DumpBooks, len(evs))
	}
	books := 0
	for _, n := range c.Events[:c.SnapshotFrames] {
		books += n
	}
	if books != len(c.Assets) {
		return nil, fmt.Errorf("cannot record corpus: %d snapshots for %d assets", books, len(c.Assets))
	}
	return c, nil
}

// handlerEvents is how many handler calls the engine makes for one decoded
// message: one per asset it touches.
func handlerEvents(ev *wire.Event) int {
	switch ev.Kind {
	case wire.KindBook, wire.KindLastTrade, wire.KindTickSize, wire.KindBestBidAsk:
		return 1
	case wire.KindPriceChange:
		return len(ev.Changes)
	}
	return 0
}

// splitArray re-packs an array frame into frames of at most n elements.
func splitArray(frame []byte, n int) ([][]byte, error) {
	var elems []json.RawMessage
	if err := json.Unmarshal(frame, &elems); err != nil {
		return nil, err
	}
	var out [][]byte
	for i := 0; i < len(elems); i += n {
		b := []byte{'['}
		for j, e := range elems[i:min(i+n, len(elems))] {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, e...)
		}
		out = append(out, append(b, ']'))
	}
	return out, nil
}

// recClient keeps every data frame; PONGs mark how far the stream has come.
type recClient struct {
	gws.BuiltinEventHandler
	mu     sync.Mutex
	frames [][]byte
	pong   chan struct{} // buffer 1: a PONG arrived
	closed chan struct{} // closed when the read loop ends
}

func (r *recClient) OnClose(*gws.Conn, error) { close(r.closed) }

func (r *recClient) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	if string(m.Bytes()) == "PONG" {
		select {
		case r.pong <- struct{}{}:
		default:
		}
		return
	}
	b := append([]byte(nil), m.Bytes()...)
	r.mu.Lock()
	r.frames = append(r.frames, b)
	r.mu.Unlock()
}

func (r *recClient) take() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.frames
	r.frames = nil
	return f
}

// sync sends PING and waits for its PONG: the simulator writes a socket's
// messages in order, so everything sent before the PONG has arrived.
func (r *recClient) sync(ctx context.Context, conn *gws.Conn) error {
	select {
	case <-r.pong:
	default:
	}
	if err := conn.WriteString("PING"); err != nil {
		return fmt.Errorf("cannot ping simulator: %w", err)
	}
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case <-r.pong:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return errors.New("cannot sync with simulator: no PONG in 30s")
	}
}
