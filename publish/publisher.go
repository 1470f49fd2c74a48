package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/puzpuzpuz/xsync/v3"

	"github.com/polyfeed/polyfeed/engine"
	"github.com/polyfeed/polyfeed/engine/markets"
	"github.com/polyfeed/polyfeed/ring"
)

// Publisher streams the engine's books to JetStream. See the package doc.
type Publisher struct {
	cfg      Config
	log      *slog.Logger
	handlers []*handler
	sender   *sender // one for every worker's queue

	// epochs holds each asset's epoch found on the BOOKS stream at Start;
	// read-only afterwards.
	epochs map[string]int64
	// owners maps each published asset to its epoch and worker, for the
	// epoch watcher. Written once per asset, not per event.
	owners *xsync.MapOf[string, owner]
	// seen is the highest epoch of each asset seen on the BOOKS subjects
	// (any publisher's), for Config.Gate's new epochs.
	seen *xsync.MapOf[string, int64]

	ready      atomic.Bool // connected and the streams exist
	reconnects atomic.Uint64
	disconnect atomic.Uint64
	wake       chan struct{} // buffer 1: "reconnected, ensure the streams"
	sub        *nats.Subscription
	errs       errLog

	started atomic.Bool
	stopped atomic.Bool
	done    chan struct{}
	// life ends when Stop begins, for requests Stop must not wait out.
	life    context.Context
	endLife context.CancelFunc
	wg      sync.WaitGroup
}

// owner is who publishes an asset, at which epoch.
type owner struct {
	epoch   int64
	worker  int
	yielded bool
}

// New validates cfg and builds the per-worker handlers and queues. Nothing
// is sent until Start.
func New(cfg Config) (*Publisher, error) {
	if err := cfg.fill(); err != nil {
		return nil, fmt.Errorf("cannot configure publisher: %w", err)
	}
	p := &Publisher{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "publisher"),
		epochs: map[string]int64{},
		owners: xsync.NewMapOf[string, owner](),
		seen:   xsync.NewMapOf[string, int64](),
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	p.life, p.endLife = context.WithCancel(context.Background())
	now := time.Now().UnixNano()
	b := newBell()
	qs := make([]*ring.SPSC[outMsg], cfg.Workers)
	ins := make([]*inbox, cfg.Workers)
	for w := range cfg.Workers {
		qs[w], ins[w] = ring.New[outMsg](cfg.QueueSize), &inbox{}
		p.handlers = append(p.handlers, &handler{p: p, w: w, q: qs[w], bell: b, in: ins[w], assets: map[string]*asset{}, now: now})
	}
	s, err := newSender(p, qs, ins, b)
	if err != nil {
		return nil, fmt.Errorf("cannot create JetStream context: %w", err)
	}
	p.sender = s
	return p, nil
}

// Handler returns worker w's handler: an engine.HandlerFactory.
func (p *Publisher) Handler(w int) engine.Handler {
	if w < 0 || w >= len(p.handlers) {
		panic(fmt.Sprintf("publish: handler for worker %d of %d", w, len(p.handlers)))
	}
	return p.handlers[w]
}

// MarketExpired makes the handlers publish each of the market's assets'
// last message, status closed (fit for engine.Config.OnMarketExpired).
func (p *Publisher) MarketExpired(m markets.Market) {
	for _, id := range m.AssetIDs {
		for _, h := range p.handlers {
			h.in.put(note{kind: noteClosed, asset: id})
		}
	}
}

// Start creates or updates the streams, reads the epochs already on the
// BOOKS stream, and starts the sender and the epoch watcher.
func (p *Publisher) Start(ctx context.Context) error {
	if !p.started.CompareAndSwap(false, true) {
		return errors.New("cannot start publisher: already started")
	}
	if err := p.sender.ensure(ctx); err != nil {
		return err
	}
	epochs, err := loadEpochs(ctx, p.sender.js, &p.cfg)
	if err != nil {
		return err
	}
	p.epochs = epochs
	nc := p.cfg.Conn
	nc.SetDisconnectErrHandler(func(_ *nats.Conn, err error) {
		p.ready.Store(false)
		p.disconnect.Add(1)
		p.sender.disconnected(fmt.Errorf("cannot publish: disconnected: %w", err))
		p.log.Warn("NATS disconnected; dropping messages until it is back", "err", err)
	})
	nc.SetReconnectHandler(func(c *nats.Conn) {
		p.reconnects.Add(1)
		p.log.Info("NATS reconnected", "url", c.ConnectedUrlRedacted())
		if p.cfg.Replicas > 1 {
			// Streams replicated across a cluster outlive the server we
			// lost, so publish at once. Waiting for ensure would wait for
			// a JetStream meta leader, and after a node's loss that is a
			// raft election (4 s or more) with every asset silent. What
			// the streams cannot store meanwhile is lost and repaired
			// like any loss; ensure still runs and rebooks.
			p.ready.Store(c.IsConnected())
		}
		p.ensureSoon()
	})
	sub, err := nc.Subscribe(p.cfg.Prefix+".v1.book.>", p.watchBook)
	if err != nil {
		return fmt.Errorf("cannot watch books: %w", err)
	}
	// A watcher that falls behind drops books rather than slow the client.
	_ = sub.SetPendingLimits(1<<16, 64<<20)
	p.sub = sub
	if err := p.sender.start(); err != nil {
		return err
	}
	p.ready.Store(nc.IsConnected())
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		p.maintain()
	}()
	go func() {
		defer p.wg.Done()
		p.sender.run(p.done, p.cfg.StopTimeout)
	}()
	p.log.Info("publishing", "prefix", p.cfg.Prefix, "events", EventsStream(p.cfg.Prefix), "books", BooksStream(p.cfg.Prefix),
		"known_assets", len(epochs), "workers", len(p.handlers))
	return nil
}

// Stop flushes what the handlers queued (bounded by StopTimeout and ctx)
// and stops every goroutine of the Publisher. Call it after the engine
// stopped. Idempotent; the connection stays open for its owner to close.
func (p *Publisher) Stop(ctx context.Context) error {
	if !p.started.Load() || !p.stopped.CompareAndSwap(false, true) {
		return nil
	}
	close(p.done)
	p.endLife()
	if p.sub != nil {
		_ = p.sub.Unsubscribe()
	}
	waited := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(waited)
	}()
	ctx, cancel := context.WithTimeout(ctx, p.cfg.StopTimeout+time.Second)
	defer cancel()
	select {
	case <-waited:
	case <-ctx.Done():
		return fmt.Errorf("cannot stop publisher: %w", ctx.Err())
	}
	p.cfg.Conn.SetDisconnectErrHandler(nil)
	p.cfg.Conn.SetReconnectHandler(nil)
	st := p.Stats()
	p.log.Info("publisher stopped", "published", st.Published, "dropped", st.Dropped)
	return nil
}

// ensureSoon asks the maintainer to create the streams again.
func (p *Publisher) ensureSoon() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// failed handles a failed publish (any goroutine): logged at most every
// errLogEvery; a missing stream is created again.
func (p *Publisher) failed(msg string, err error, asset string) {
	p.errs.log(p.log, msg, err, asset)
	if noStream(err) {
		p.ensureSoon()
	}
}

// maintain makes sure the streams exist again after every reconnect (a
// server with memory storage comes back empty) before messages flow again;
// with replicated streams messages flow meanwhile (the reconnect handler).
func (p *Publisher) maintain() {
	for {
		select {
		case <-p.done:
			return
		case <-p.wake:
		}
		for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
			// Stop cancels it: no server may answer (no meta leader).
			ctx, cancel := context.WithTimeout(p.life, 5*time.Second)
			err := p.sender.ensure(ctx)
			cancel()
			if err == nil {
				p.ready.Store(p.cfg.Conn.IsConnected())
				p.rebook()
				break
			}
			if p.life.Err() != nil {
				return // stopping
			}
			p.log.Warn("cannot restore streams after reconnect; retrying", "err", err, "in", backoff)
			select {
			case <-p.done:
				return
			case <-time.After(backoff):
			}
		}
	}
}

// rebook makes every handler publish a book of each of its assets: the
// streams were missing or the server came back, so BOOKS may lack them,
// and a message published while the stream was missing may have been lost
// inside a batch whose acknowledgement came after the stream was back.
func (p *Publisher) rebook() {
	for _, h := range p.handlers {
		h.in.put(note{kind: noteRebook})
	}
}

// watchBook runs on the client's goroutine for every book on the stream:
// an asset we publish whose book carries a higher epoch is another
// publisher's now, and ours stops publishing it.
func (p *Publisher) watchBook(m *nats.Msg) {
	asset, epoch, _, ok := parseMsgID(m.Header.Get(jetstream.MsgIDHeader))
	if !ok {
		return
	}
	if p.cfg.Gate != nil {
		p.noteSeen(asset, epoch)
	}
	o, ok := p.owners.Load(asset)
	if !ok || o.yielded || epoch <= o.epoch {
		return
	}
	o.yielded = true
	p.owners.Store(asset, o)
	p.handlers[o.worker].in.put(note{kind: noteYield, asset: asset, epoch: epoch})
}

// epochFor returns a new epoch for asset: now in Unix ms, raised above the
// epoch found on the stream at Start. Called once per asset.
func (p *Publisher) epochFor(asset string) int64 {
	e := time.Now().UnixMilli()
	if old := p.epochs[asset]; old >= e {
		e = old + 1
	}
	return min(e, MaxEpoch)
}
