package stream

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
)

// Defaults for Config.
const (
	DefaultLookback     = 70 * time.Second
	DefaultFetchTimeout = 2 * time.Second
	DefaultRefetchEvery = time.Second
	// DefaultForgetClosed is how long a Closed book stays readable: long enough for a
	// program to see the close, far longer than the look-back window, so no message
	// replayed after a restart of the events consumer can bring the asset back.
	DefaultForgetClosed = 10 * time.Minute
	// defaultIdle is how long the events consumer may deliver nothing before the
	// consumer counts the look-back window as replayed.
	defaultIdle = 500 * time.Millisecond
	// recreatedCheckEvery paces the check, while idle, that the events stream is
	// still the one being read (a server with memory storage comes back empty and
	// the publisher creates the streams again, numbering from 1).
	recreatedCheckEvery = 2 * time.Second
	// stallCheckEvery paces the check, while idle, that the server still runs the
	// events consumer and sends what it holds; two failed checks in a row, with
	// nothing delivered between them, open it again.
	stallCheckEvery = 2 * time.Second
	// readRetryWait paces the attempts to read the books stream at Start again
	// after its consumer stopped delivering.
	readRetryWait = 250 * time.Millisecond
	// forgetSweepMax bounds the time between two sweeps for closed books to forget.
	forgetSweepMax = time.Minute
	// maxSubjectFilters bounds the server-side filter; longer asset lists are
	// filtered in the consumer instead.
	maxSubjectFilters = 256
)

// Config configures a Consumer. Conn is required; the rest have defaults.
type Config struct {
	// Conn is the NATS connection, owned by the caller: connect it with reconnects
	// enabled (nats.MaxReconnects(-1)) to ride out server restarts, and close it
	// after Close.
	Conn *nats.Conn
	// Prefix is the subject prefix (default DefaultPrefix).
	Prefix string
	// Assets and Markets select what to follow: the assets listed plus every asset
	// of the markets listed (condition ids). Both empty follows every asset. Assets
	// alone are filtered by the server; a market can only be filtered here, from
	// the "market" field, because subjects do not carry it.
	Assets  []string
	Markets []string
	// Lookback is how far back the events stream is replayed at Start (default
	// DefaultLookback, 70 s: more than the publisher's 60 s book interval).
	Lookback time.Duration
	// FetchTimeout bounds one read from the books stream (default DefaultFetchTimeout).
	FetchTimeout time.Duration
	// RefetchEvery is the least time between two fetches for the same asset while
	// it stays out of sync (default DefaultRefetchEvery).
	RefetchEvery time.Duration
	// ForgetClosed is how long a book stays readable after its market closed; then
	// the consumer drops it, so a consumer that runs for days does not keep every
	// market it ever saw (default DefaultForgetClosed; negative keeps them all).
	ForgetClosed time.Duration
	// Handler, if set, is called on the consumer's goroutine after every change of a
	// book or of its state. The *Book is read-only and valid only during the call.
	// The handler must not call Close.
	Handler func(Update)
	// Logger receives lifecycle events and the first instance of each kind of
	// problem; per-message problems are only counted. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock for lag and refetch pacing (default time.Now).
	Now func() time.Time
}

// Update is what a Handler receives.
type Update struct {
	// Type is the message type that caused the update, or "resync" for a book taken
	// from the books stream.
	Type string
	// Msg is the message applied (nil when Type is "resync"). Read-only.
	Msg *Message
	// Book is the asset's book after the update. Read-only, valid during the call.
	Book *Book
	// Lag is now minus the book's ts_ms.
	Lag time.Duration
}

// Consumer keeps the books of the selected assets from a polyfeed stream.
//
// Start it once, Close it once. Book, Books, Lag, Live and Stats may be called from
// any goroutine at any time; Handler runs on the consumer's one goroutine.
type Consumer struct {
	cfg    Config
	log    *slog.Logger
	js     jetstream.JetStream
	books  jetstream.Stream
	events jetstream.Stream
	assets map[string]bool
	market map[string]bool
	filter []string // events subject filter

	c  counters
	mu sync.Mutex // guards t's books against readers; only run writes
	t  *tracker

	// candidates are the books stream's books read at Start, for assets that turn
	// out to have no book in the look-back window. Only run uses them.
	candidates map[string]*Message
	live       atomic.Bool
	// created is when the events stream being read was created; only run uses it
	// after Start.
	created    time.Time
	lastCheck  time.Time
	lastForget time.Time // last sweep for closed books to forget; run goroutine only
	from       time.Time // start time of the replay being read; run goroutine only

	cancel  context.CancelFunc
	done    chan struct{}
	started atomic.Bool
	closed  atomic.Bool
	itMu    sync.Mutex
	it      jetstream.MessagesContext

	once map[string]bool // problem kinds already logged; run goroutine only
}

// New checks cfg and fills its defaults. It does not touch the network.
func New(cfg Config) (*Consumer, error) {
	if cfg.Conn == nil {
		return nil, errors.New("cannot create consumer: Conn is nil")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if err := ValidatePrefix(cfg.Prefix); err != nil {
		return nil, fmt.Errorf("cannot create consumer: %w", err)
	}
	if cfg.Lookback <= 0 {
		cfg.Lookback = DefaultLookback
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if cfg.RefetchEvery <= 0 {
		cfg.RefetchEvery = DefaultRefetchEvery
	}
	if cfg.ForgetClosed == 0 {
		cfg.ForgetClosed = DefaultForgetClosed
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Consumer{cfg: cfg, log: cfg.Logger, done: make(chan struct{}), once: map[string]bool{}}
	c.t = newTracker(&c.c, cfg.RefetchEvery)
	for _, a := range cfg.Assets {
		if err := checkToken(a); err != nil {
			return nil, fmt.Errorf("cannot create consumer: asset %w", err)
		}
		if c.assets == nil {
			c.assets = map[string]bool{}
		}
		c.assets[a] = true
	}
	for _, m := range cfg.Markets {
		if c.market == nil {
			c.market = map[string]bool{}
		}
		c.market[m] = true
	}
	return c, nil
}

func checkToken(s string) error {
	if s == "" {
		return errors.New("id is empty")
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; b == '.' || b == '*' || b == '>' || b <= ' ' {
			return fmt.Errorf("id %q is not one subject token", s)
		}
	}
	return nil
}

// serverFiltered reports whether the server filters by asset (assets listed, no
// markets, and not too many).
func (c *Consumer) serverFiltered() bool {
	return len(c.assets) > 0 && len(c.market) == 0 && len(c.assets) <= maxSubjectFilters
}

// wants reports whether a message of asset in market is selected.
func (c *Consumer) wants(asset, market string) bool {
	if c.assets == nil && c.market == nil {
		return true
	}
	return c.assets[asset] || c.market[market]
}

// Start looks up both streams, reads the books stream's latest books for the selected
// assets, and starts replaying the events stream from Lookback ago, then live. It
// fails if a stream is missing or unreachable; after it returns, server restarts and
// lost connections are ridden out.
func (c *Consumer) Start(ctx context.Context) error {
	if c.closed.Load() || !c.started.CompareAndSwap(false, true) {
		return errors.New("cannot start consumer: already started or closed")
	}
	start := c.cfg.Now().Add(-c.cfg.Lookback) // the window ends now, not after the lookups below
	js, err := jetstream.New(c.cfg.Conn)
	if err != nil {
		return fmt.Errorf("cannot start consumer: %w", err)
	}
	c.js = js
	if c.events, err = js.Stream(ctx, EventsStream(c.cfg.Prefix)); err != nil {
		return fmt.Errorf("cannot look up stream %s: %w", EventsStream(c.cfg.Prefix), err)
	}
	if c.books, err = js.Stream(ctx, BooksStream(c.cfg.Prefix)); err != nil {
		return fmt.Errorf("cannot look up stream %s: %w", BooksStream(c.cfg.Prefix), err)
	}
	info, err := c.events.Info(ctx)
	if err != nil {
		return fmt.Errorf("cannot look up stream %s: %w", EventsStream(c.cfg.Prefix), err)
	}
	c.created = info.Created
	if err := c.loadCandidates(ctx); err != nil {
		return err
	}
	if c.serverFiltered() {
		for a := range c.assets {
			c.filter = append(c.filter, Subject(c.cfg.Prefix, "*", a))
		}
	} else {
		c.filter = []string{AllSubjects(c.cfg.Prefix)}
	}
	c.log.Info("stream consumer starting", "prefix", c.cfg.Prefix, "lookback", c.cfg.Lookback,
		"assets", len(c.assets), "markets", len(c.market), "books_known", len(c.candidates))
	runCtx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go c.run(runCtx, start)
	return nil
}

// loadCandidates reads the latest book of every selected asset from the books stream.
//
// The read is an ordered consumer, which runs on one node of the stream's cluster.
// When that node dies while our connection, to another node, stays up, nothing
// tells the client: deliveries just stop. So a pause is taken for the end of the
// read only when the server says nothing is left to deliver; when it cannot say, or
// says messages are left, twice in a row with no message between, the read starts
// over on a new consumer (the map keeps the latest book of each asset either way),
// retrying until ctx ends, since the stream may still be electing a leader then.
func (c *Consumer) loadCandidates(ctx context.Context) error {
	c.candidates = map[string]*Message{}
	filter := []string{BookSubjects(c.cfg.Prefix)}
	if c.serverFiltered() {
		filter = filter[:0]
		for a := range c.assets {
			filter = append(filter, Subject(c.cfg.Prefix, TypeBook, a))
		}
	}
	var readUpTo uint64 // the books stream's last sequence read, across reads
	for stalled := false; ; {
		err := c.readBooks(ctx, filter, &readUpTo)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || !(stalled || errors.Is(err, errReadStalled)) {
			return fmt.Errorf("cannot read stream %s: %w", BooksStream(c.cfg.Prefix), err)
		}
		if !stalled {
			c.log.Warn("the read of the books stream stopped delivering; reading it again",
				"stream", BooksStream(c.cfg.Prefix), "err", err)
		}
		stalled = true
		select {
		case <-ctx.Done():
		case <-time.After(readRetryWait):
		}
	}
}

// errReadStalled is readBooks' error when its consumer stopped delivering.
var errReadStalled = errors.New("consumer stopped delivering")

// readBooks reads the books stream once, into c.candidates, skipping what an
// earlier read took (sequences up to *readUpTo, which it advances).
func (c *Consumer) readBooks(ctx context.Context, filter []string, readUpTo *uint64) error {
	oc, err := c.books.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: filter, DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return err
	}
	it, err := oc.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	suspect := "" // what the last check after a pause found; "" nothing yet
	for {
		msg, err := it.Next(jetstream.NextMaxWait(defaultIdle))
		if errors.Is(err, nats.ErrTimeout) {
			if err := ctx.Err(); err != nil {
				return err
			}
			found := c.undelivered(ctx, oc)
			if found == "" {
				return nil // nothing (more) to read
			}
			if suspect != "" {
				return fmt.Errorf("%w: %s", errReadStalled, found)
			}
			suspect = found
			continue
		}
		if err != nil {
			return err
		}
		suspect = ""
		md, mdErr := msg.Metadata()
		// A read that starts over is delivered, in stream order again, what an
		// earlier one already took: skip it, or its broken messages would be
		// counted (and logged) twice.
		if mdErr != nil || md.Sequence.Stream > *readUpTo {
			if m, ok := c.decode(msg.Subject(), msg.Data()); ok && m.Type == TypeBook {
				c.candidates[m.Asset] = &m
			}
			if mdErr == nil {
				*readUpTo = md.Sequence.Stream
			}
		}
		if mdErr == nil && md.NumPending == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// undelivered asks the server whether oc has messages left to deliver: "" if it
// has none, else what it found (an error, or the number left).
func (c *Consumer) undelivered(ctx context.Context, oc jetstream.Consumer) string {
	ictx, cancel := context.WithTimeout(ctx, c.cfg.FetchTimeout)
	defer cancel()
	info, err := oc.Info(ictx)
	switch {
	case err != nil:
		return "cannot read its state: " + err.Error()
	case info.NumPending > 0:
		return fmt.Sprintf("%d messages left to deliver", info.NumPending)
	}
	return ""
}

// decode parses one message, checks it against its subject and the selection, and
// counts it. ok is false for a broken or unselected message.
func (c *Consumer) decode(subject string, data []byte) (Message, bool) {
	typ, asset, ok := parseSubject(c.cfg.Prefix, subject)
	if !ok {
		c.c.decodeErrors.Add(1)
		c.logOnce("subject", "message on a subject outside the contract", "subject", subject)
		return Message{}, false
	}
	m, err := Decode(data)
	if err == nil && (m.Type != typ || m.Asset != asset) {
		err = fmt.Errorf("cannot decode message: type %q asset %q disagree with the subject", m.Type, m.Asset)
	}
	if err != nil {
		c.c.decodeErrors.Add(1)
		c.logOnce("decode", "message breaks the stream contract; counting the rest", "subject", subject, "err", err)
		return Message{}, false
	}
	return m, c.wants(m.Asset, m.Market)
}

// logOnce logs the first problem of each kind; the counters carry the rest.
func (c *Consumer) logOnce(kind, msg string, args ...any) {
	if c.once[kind] {
		return
	}
	c.once[kind] = true
	c.log.Warn(msg, args...)
}

// run owns the events consumer: replay from start, then live, recreating the
// consumer after the last stream sequence it processed whenever it fails.
func (c *Consumer) run(ctx context.Context, start time.Time) {
	defer close(c.done)
	var last uint64 // last events stream sequence processed
	for ctx.Err() == nil {
		cfg := jetstream.OrderedConsumerConfig{FilterSubjects: c.filter}
		if last == 0 {
			c.from = start
			cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
		} else {
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, last+1
		}
		oc, it, err := c.open(ctx, cfg)
		if err != nil {
			if ctx.Err() == nil {
				c.logOnce("open", "cannot open the events consumer; retrying", "err", err)
				c.c.restarts.Add(1)
				sleep(ctx, time.Second)
			}
			continue
		}
		var recreated bool
		last, recreated = c.consume(ctx, oc, it, last)
		it.Stop()
		if recreated {
			// A new stream numbers from 1: read it again from the look-back window,
			// by time. Messages seen before are ignored by the rules (old seqs).
			last, start = 0, c.cfg.Now().Add(-c.cfg.Lookback)
		}
	}
}

func (c *Consumer) open(ctx context.Context, cfg jetstream.OrderedConsumerConfig) (jetstream.Consumer, jetstream.MessagesContext, error) {
	oc, err := c.events.OrderedConsumer(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	it, err := oc.Messages()
	if err != nil {
		return nil, nil, err
	}
	c.itMu.Lock()
	defer c.itMu.Unlock()
	if c.closed.Load() {
		it.Stop()
		return nil, nil, errors.New("consumer closed")
	}
	c.it = it
	return oc, it, nil
}

// consume processes messages until the iterator fails, the events stream turns out
// to have been recreated, or the consumer closes. It returns the last stream sequence
// processed and whether the stream was recreated.
func (c *Consumer) consume(ctx context.Context, oc jetstream.Consumer, it jetstream.MessagesContext, last uint64) (uint64, bool) {
	var w stallWatch
	for ctx.Err() == nil {
		msg, err := it.Next(jetstream.NextMaxWait(defaultIdle))
		c.forgetClosed()
		if errors.Is(err, nats.ErrTimeout) {
			if c.replayed(ctx, last) {
				c.catchUp(ctx)
			}
			if c.recreated(ctx, last) {
				return last, true
			}
			if c.stalled(ctx, oc, &w, last) {
				return last, false
			}
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				c.logOnce("next", "events consumer failed; recreating it", "err", err)
				c.c.restarts.Add(1)
				sleep(ctx, 100*time.Millisecond)
			}
			return last, false
		}
		md, err := msg.Metadata()
		if err != nil {
			c.c.decodeErrors.Add(1)
			continue
		}
		last = md.Sequence.Stream
		w.suspect = ""
		if m, ok := c.decode(msg.Subject(), msg.Data()); ok {
			c.c.received.Add(1)
			c.process(ctx, &m)
		}
		if md.NumPending == 0 {
			c.catchUp(ctx)
		}
	}
	return last, false
}

// replayed reports whether the look-back replay is over after the events consumer
// delivered nothing for a while. A loaded process can go that long between two
// messages while the replay still has messages pending, and ending it early would
// show assets not reached yet as silent; so with every asset selected, the stream's
// last sequence must have been read. A filtered replay (or a failed look-up) trusts
// the pause.
func (c *Consumer) replayed(ctx context.Context, last uint64) bool {
	if c.live.Load() || c.serverFiltered() {
		return true
	}
	info, err := c.events.Info(ctx)
	if err != nil {
		return true
	}
	// Done when the last message stored was read, when nothing is stored at all
	// (a purged stream keeps its last sequence but no message: waiting to read it
	// would wait for the next message published), or when nothing was read and
	// nothing stored since the replay's start time.
	return info.State.LastSeq <= last || info.State.Msgs == 0 ||
		last == 0 && info.State.LastTime.Before(c.from)
}

// recreated reports, at most once per recreatedCheckEvery, whether the events stream
// was deleted and created again since it was last seen: a new creation time, or
// fewer messages than already read. An ordered consumer would otherwise wait, silent,
// for the new stream to reach the old sequence.
func (c *Consumer) recreated(ctx context.Context, last uint64) bool {
	now := time.Now()
	if now.Sub(c.lastCheck) < recreatedCheckEvery || !c.cfg.Conn.IsConnected() {
		return false
	}
	c.lastCheck = now
	ictx, cancel := context.WithTimeout(ctx, c.cfg.FetchTimeout)
	defer cancel()
	info, err := c.events.Info(ictx)
	if err != nil {
		return false
	}
	if info.Created.Equal(c.created) && info.State.LastSeq >= last {
		return false
	}
	c.created = info.Created
	c.c.restarts.Add(1)
	c.log.Warn("events stream was recreated; reading it again from the look-back window",
		"stream", EventsStream(c.cfg.Prefix), "last_seq", info.State.LastSeq, "read_up_to", last)
	return true
}

// stallWatch is one events consumer's state for stalled, kept by consume.
type stallWatch struct {
	next    time.Time // no check before
	suspect string    // what the last check found wrong since the last message; "" nothing
}

// stalled reports, at most once per stallCheckEvery while the events consumer
// delivers nothing, whether it has stopped serving us, so that consume opens it
// again after the last sequence read. Nothing else would notice when the one
// server that runs it (an ordered consumer is R1, on one node of the stream's
// cluster) dies while our connection, to another node, stays up: no reconnect, no
// error from Next, and no heartbeat check either, since the client library arms
// its check (two missed 5 s heartbeats) anew in each Next call and ours return
// after defaultIdle. It asks the server for the consumer's state: an error (the
// consumer is offline or gone, or nobody answers), or messages pending that were
// not delivered, found by two checks in a row with no message between them, is a
// stall. Requiring two spares a consumer that is merely slow to answer once.
func (c *Consumer) stalled(ctx context.Context, oc jetstream.Consumer, w *stallWatch, last uint64) bool {
	now := time.Now()
	if now.Before(w.next) || !c.cfg.Conn.IsConnected() {
		return false
	}
	ictx, cancel := context.WithTimeout(ctx, c.cfg.FetchTimeout)
	info, err := oc.Info(ictx)
	cancel()
	w.next = time.Now().Add(stallCheckEvery)
	if ctx.Err() != nil {
		return false
	}
	var found string
	switch {
	case err != nil:
		found = "cannot read its state: " + err.Error()
	case info.NumPending > 0 && info.Delivered.Stream <= last:
		found = fmt.Sprintf("%d messages pending, none delivered after stream sequence %d", info.NumPending, last)
	}
	prev := w.suspect
	w.suspect = found
	if found == "" || prev == "" {
		return false
	}
	c.c.restarts.Add(1)
	c.log.Warn("events consumer stopped delivering; opening it again after the last message read",
		"stream", EventsStream(c.cfg.Prefix), "read_up_to", last, "found", found)
	return true
}

// forgetClosed drops the books closed for longer than ForgetClosed, sweeping at
// most every ForgetClosed/4 (and at least every forgetSweepMax).
func (c *Consumer) forgetClosed() {
	if c.cfg.ForgetClosed < 0 {
		return
	}
	now := c.cfg.Now()
	if now.Sub(c.lastForget) < min(c.cfg.ForgetClosed/4, forgetSweepMax) {
		return
	}
	c.lastForget = now
	c.mu.Lock()
	c.t.forget(now.Add(-c.cfg.ForgetClosed))
	c.mu.Unlock()
}

// process applies one events message, fetching from the books stream when the rules
// ask for it.
func (c *Consumer) process(ctx context.Context, m *Message) {
	now := c.cfg.Now()
	c.mu.Lock()
	v := c.t.handle(m, now)
	c.mu.Unlock()
	if v.fetch {
		if c.resync(ctx, v.a) {
			c.notify("resync", nil, &v.a.book, now)
			c.mu.Lock()
			v = c.t.handle(m, now) // applies on top, or is old against the book
			c.mu.Unlock()
		} else {
			c.c.ignored.Add(1)
			v.changed = true // the asset's state changed before the fetch
		}
	}
	if v.changed {
		c.notify(m.Type, m, &v.a.book, now)
	}
}

// resync fetches an asset's last book from the books stream and offers it.
func (c *Consumer) resync(ctx context.Context, a *asset) bool {
	if !c.cfg.Conn.IsConnected() {
		c.mu.Lock()
		c.t.missed()
		c.mu.Unlock()
		return false
	}
	fctx, cancel := context.WithTimeout(ctx, c.cfg.FetchTimeout)
	defer cancel()
	raw, err := c.books.GetLastMsgForSubject(fctx, Subject(c.cfg.Prefix, TypeBook, a.book.Asset))
	var m Message
	ok := err == nil
	if ok {
		m, ok = c.decode(raw.Subject, raw.Data)
		ok = ok && m.Type == TypeBook
	} else if !errors.Is(err, jetstream.ErrMsgNotFound) {
		c.logOnce("fetch", "cannot fetch a book from the books stream", "asset", a.book.Asset, "err", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !ok {
		c.t.missed()
		return false
	}
	return c.t.offer(a, &m)
}

// catchUp runs once, when the replay of the look-back window is done: from then on
// an asset without a book fetches one, and the selected assets that had no book in
// the window take theirs from the books stream.
func (c *Consumer) catchUp(ctx context.Context) {
	if c.live.Load() {
		return
	}
	c.mu.Lock()
	c.t.live = true
	c.mu.Unlock()
	c.live.Store(true)
	now := c.cfg.Now()
	for id, m := range c.candidates {
		c.mu.Lock()
		a, seen := c.t.assets[id]
		if seen && a.synced {
			c.mu.Unlock()
			continue
		}
		if !seen {
			// Silent for the whole window although books come at least every 60 s:
			// the market closed or its publisher is gone. Show the book, as stale.
			a = c.t.get(id, m.Market)
			c.t.offer(a, m)
			a.book.State, a.book.Reason = Stale, "no message in the look-back window"
			c.mu.Unlock()
			c.notify("resync", nil, &a.book, now)
			continue
		}
		c.mu.Unlock()
		if c.resync(ctx, a) {
			c.notify("resync", nil, &a.book, now)
		}
	}
	c.candidates = nil
	c.log.Info("stream consumer caught up", "assets", c.assetCount())
}

func (c *Consumer) assetCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.t.assets)
}

func (c *Consumer) notify(typ string, m *Message, b *Book, now time.Time) {
	if c.cfg.Handler == nil {
		return
	}
	if m == nil {
		typ = "resync"
	}
	c.cfg.Handler(Update{Type: typ, Msg: m, Book: b, Lag: lag(now, b.TsMs)})
}

func lag(now time.Time, tsMs int64) time.Duration {
	return now.Sub(time.UnixMilli(tsMs))
}

// Close stops the consumer and waits for its goroutine. It does not close Conn. It is
// safe to call more than once and from any goroutine but the Handler.
func (c *Consumer) Close() error {
	if !c.closed.CompareAndSwap(false, true) || !c.started.Load() || c.cancel == nil {
		return nil
	}
	c.cancel()
	c.itMu.Lock()
	if c.it != nil {
		c.it.Stop()
	}
	c.itMu.Unlock()
	<-c.done
	return nil
}

// Live reports whether the look-back window has been replayed.
func (c *Consumer) Live() bool { return c.live.Load() }

// Stats returns the counters.
func (c *Consumer) Stats() Stats { return c.c.snapshot() }

// Book returns a copy of one asset's book.
func (c *Consumer) Book(asset string) (Book, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.t.assets[asset]
	if !ok {
		return Book{}, false
	}
	return a.book.Clone(), true
}

// Books returns a copy of every known asset's book, in no particular order.
func (c *Consumer) Books() []Book {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Book, 0, len(c.t.assets))
	for _, a := range c.t.assets {
		out = append(out, a.book.Clone())
	}
	return out
}

// Lag returns now minus the ts_ms of the last message applied to asset's book.
func (c *Consumer) Lag(asset string) (time.Duration, bool) {
	c.mu.Lock()
	a, ok := c.t.assets[asset]
	var ts int64
	if ok {
		ts = a.book.TsMs
	}
	c.mu.Unlock()
	if !ok || ts == 0 {
		return 0, false
	}
	return lag(c.cfg.Now(), ts), true
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
