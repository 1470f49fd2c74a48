package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/polyfeed/polyfeed/ring"
)

// outMsg is one encoded message waiting for its sender.
type outMsg struct {
	subject string
	asset   string
	epoch   int64
	seq     uint64
	data    []byte // a slice of the handler's slab: the sender only reads it
}

// sender publishes one worker's queue. It is the only goroutine that
// publishes that worker's messages, so a slow or absent server makes it
// wait, never the worker: the queue in front of it is bounded, and what
// does not fit is dropped by the handler.
//
// Acknowledgements are per batch, not per message. Messages are plain NATS
// publishes into the stream's subjects; the last message of a batch
// carries a reply subject, so JetStream acknowledges it, and since
// JetStream stores one connection's messages in order, that
// acknowledgement covers the batch. A batch closes when it holds
// MaxPendingAcks (at most 256) messages or is ackEvery old; a batch still
// open when the queue runs dry is closed by the probe timer, which
// publishes its last message again with a reply subject (the same
// Nats-Msg-Id: JetStream stores it once and acknowledges the duplicate).
// An error reply, no reply within AckTimeout, or a disconnect marks every
// asset of the batch lost (stale and a fresh book follow). What the server
// drops silently inside an acknowledged batch, consumers still see as a
// seq gap, which the contract tells them to repair from BOOKS.
//
// Every publish happens with mu held, so the probe cannot close a batch
// between a message's record and its publish.
type sender struct {
	p     *Publisher
	q     *ring.SPSC[outMsg]
	js    jetstream.JetStream // stream management only
	nc    *nats.Conn
	in    *inbox
	batch []outMsg
	max   int // messages per acknowledged batch

	msg   nats.Msg // reused for every publish; nats.go copies it out
	hdr   nats.Header
	id    []string
	idBuf []byte
	reply []byte // inbox prefix, then the batch number

	inboxPrefix string
	sub         *nats.Subscription
	timer       *time.Timer // fails batches not acknowledged within AckTimeout
	probe       *time.Timer // closes the open batch when the queue ran dry

	mu       sync.Mutex // guards publishing, batches, open and free: the sender, the ack callback and the timers
	batches  []*ackBatch
	open     *ackBatch // the batch new messages join; not acknowledged yet
	free     []*ackBatch
	nextID   uint64
	inFlight atomic.Int64 // messages sent, not yet acknowledged or lost

	published atomic.Uint64
	dropped   atomic.Uint64
	_         [48]byte
}

// ackEvery bounds how long a batch stays open: the acknowledgement of
// every message is asked for within it.
const ackEvery = 5 * time.Millisecond

// ackBatch is one batch of messages acknowledged together.
type ackBatch struct {
	id     uint64
	opened time.Time
	asked  time.Time // zero while open
	n      int
	notes  []note // one per message: its asset and epoch, for the loss notes
	// the last message, for the probe
	subject, msgID string
	data           []byte
}

func newSender(p *Publisher, q *ring.SPSC[outMsg], in *inbox) (*sender, error) {
	js, err := jetstream.New(p.cfg.Conn)
	if err != nil {
		return nil, err
	}
	s := &sender{
		p: p, q: q, js: js, nc: p.cfg.Conn, in: in,
		batch: make([]outMsg, 256), max: min(256, p.cfg.MaxPendingAcks),
		id: make([]string, 1),
	}
	s.hdr = nats.Header{jetstream.MsgIDHeader: s.id}
	s.inboxPrefix = p.cfg.Conn.NewRespInbox() + "."
	return s, nil
}

// start subscribes to the acknowledgements. The client delivers them on
// one goroutine of its own for the whole subscription: one hop per batch.
func (s *sender) start() error {
	sub, err := s.nc.Subscribe(s.inboxPrefix+"*", s.acked)
	if err != nil {
		return fmt.Errorf("cannot subscribe to acknowledgements: %w", err)
	}
	_ = sub.SetPendingLimits(-1, -1)
	s.sub = sub
	s.timer = time.AfterFunc(time.Hour, s.expire)
	s.timer.Stop()
	s.probe = time.AfterFunc(time.Hour, s.closeOpen)
	s.probe.Stop()
	return nil
}

// run publishes until done is closed, then publishes what is still queued
// and waits (bounded by flushWait) for the acknowledgements.
func (s *sender) run(done <-chan struct{}, flushWait time.Duration) {
	for {
		n := s.q.PopBatch(s.batch)
		if n == 0 {
			if !s.q.Wait(done) {
				break
			}
			if s.p.cfg.Linger > 0 {
				// Woken by one message: let a few more join it, so that one
				// write and one acknowledgement carry several.
				time.Sleep(s.p.cfg.Linger)
			}
			continue
		}
		s.sendAll(s.batch[:n])
	}
	for n := s.q.PopBatch(s.batch); n > 0; n = s.q.PopBatch(s.batch) {
		s.sendAll(s.batch[:n])
	}
	s.closeOpen()
	_ = s.nc.FlushTimeout(flushWait)
	for deadline := time.Now().Add(flushWait); s.inFlight.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	s.timer.Stop()
	s.probe.Stop()
	_ = s.sub.Unsubscribe()
	s.failAll(errors.New("publisher stopped before the acknowledgement"))
}

func (s *sender) sendAll(ms []outMsg) {
	for len(ms) > 0 {
		k := min(len(ms), s.max)
		s.sendBatch(ms[:k])
		ms = ms[k:]
	}
	clear(s.batch) // release the slabs
}

// sendBatch publishes ms into the open batch, and asks for the batch's
// acknowledgement when it is full or ackEvery old.
func (s *sender) sendBatch(ms []outMsg) {
	if !s.p.ready.Load() || !s.room(len(ms)) {
		// Unreachable (fail fast instead of filling a reconnect buffer), or
		// too many unacknowledged messages for AckTimeout.
		s.lose(ms)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.open
	if b == nil {
		b = s.newBatch()
		s.open = b
	}
	now := time.Now()
	ask := b.n+len(ms) >= s.max || now.Sub(b.opened) >= ackEvery
	for i := range ms {
		m := &ms[i]
		b.n++
		s.inFlight.Add(1)
		b.notes = append(b.notes, note{kind: noteLost, asset: m.asset, epoch: m.epoch})
		s.idBuf = appendMsgID(s.idBuf[:0], m.asset, m.epoch, m.seq)
		s.id[0] = string(s.idBuf)
		last := i == len(ms)-1
		reply := ""
		if last && ask {
			reply = s.replyTo(b, now)
		}
		if err := s.publish(m.subject, m.data, reply); err != nil {
			s.open = nil
			s.failBatch(b, err)
			s.lose(ms[i+1:])
			return
		}
		if last && !ask {
			b.subject, b.data, b.msgID = m.subject, m.data, s.id[0]
		}
	}
	if !ask && b.n == len(ms) {
		s.probe.Reset(ackEvery) // the batch's first messages: close it in time
	}
}

// publish sends one message with the reused nats.Msg and header (the
// header's id is s.id[0]); with s.mu held.
func (s *sender) publish(subject string, data []byte, reply string) error {
	s.msg = nats.Msg{Subject: subject, Reply: reply, Data: data, Header: s.hdr}
	return s.nc.PublishMsg(&s.msg)
}

// replyTo closes b: its next publish asks for the acknowledgement; with
// s.mu held.
func (s *sender) replyTo(b *ackBatch, now time.Time) string {
	s.open = nil
	b.asked = now
	b.subject, b.data = "", nil
	if len(s.batches) == 0 || s.batches[0] == b {
		s.timer.Reset(s.p.cfg.AckTimeout)
	}
	s.reply = strconv.AppendUint(append(s.reply[:0], s.inboxPrefix...), b.id, 10)
	return string(s.reply)
}

// closeOpen asks for the open batch's acknowledgement by publishing its
// last message again with a reply subject (probe timer, and the sender
// when it stops).
func (s *sender) closeOpen() {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.open
	if b == nil || b.subject == "" {
		return
	}
	subject, data := b.subject, b.data
	s.id[0] = b.msgID
	reply := s.replyTo(b, time.Now())
	if err := s.publish(subject, data, reply); err != nil {
		s.failBatch(b, err)
	}
}

// room waits until n more messages fit under MaxPendingAcks, for at most
// AckTimeout.
func (s *sender) room(n int) bool {
	limit := int64(s.p.cfg.MaxPendingAcks)
	if s.inFlight.Load()+int64(n) <= limit {
		return true
	}
	for deadline := time.Now().Add(s.p.cfg.AckTimeout); time.Now().Before(deadline) && s.p.ready.Load(); {
		time.Sleep(100 * time.Microsecond)
		if s.inFlight.Load()+int64(n) <= limit {
			return true
		}
	}
	return false
}

// newBatch opens the next batch; with s.mu held.
func (s *sender) newBatch() *ackBatch {
	var b *ackBatch
	if k := len(s.free); k > 0 {
		b, s.free = s.free[k-1], s.free[:k-1]
	} else {
		b = &ackBatch{}
	}
	s.nextID++
	b.id, b.opened, b.asked, b.n, b.notes = s.nextID, time.Now(), time.Time{}, 0, b.notes[:0]
	s.batches = append(s.batches, b)
	return b
}

// acked runs on the client's delivery goroutine for each reply.
func (s *sender) acked(m *nats.Msg) {
	if len(m.Subject) <= len(s.inboxPrefix) {
		return
	}
	id, err := strconv.ParseUint(m.Subject[len(s.inboxPrefix):], 10, 64)
	if err != nil {
		return
	}
	switch {
	case len(m.Data) == 0 && m.Header.Get("Status") == "503":
		s.fail(id, jetstream.ErrNoStreamResponse)
	case bytes.Contains(m.Data, []byte(`"error"`)):
		s.fail(id, fmt.Errorf("cannot store message: %s", m.Data))
	default:
		s.done(id)
	}
}

// done counts batch id published.
func (s *sender) done(id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, b := range s.batches {
		if b.id == id {
			s.published.Add(uint64(b.n))
			s.remove(i)
			return
		}
	}
}

// fail marks every asset of batch id lost.
func (s *sender) fail(id uint64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, b := range s.batches {
		if b.id == id {
			s.lostBatch(b, err)
			s.remove(i)
			return
		}
	}
}

// failBatch marks every asset of b lost; with s.mu held.
func (s *sender) failBatch(b *ackBatch, err error) {
	for i, x := range s.batches {
		if x == b {
			s.lostBatch(b, err)
			s.remove(i)
			return
		}
	}
}

// expire fails the batches older than AckTimeout (timer goroutine).
func (s *sender) expire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	cutoff := time.Now().Add(-s.p.cfg.AckTimeout)
	for len(s.batches) > 0 && !s.batches[0].asked.IsZero() && !s.batches[0].asked.After(cutoff) {
		s.lostBatch(s.batches[0], nats.ErrTimeout)
		s.remove(0)
	}
	if len(s.batches) > 0 {
		next := ackEvery // the first batch is still open: the probe asks soon
		if b := s.batches[0]; !b.asked.IsZero() {
			next = max(time.Until(b.asked.Add(s.p.cfg.AckTimeout)), time.Millisecond)
		}
		s.timer.Reset(next)
	}
}

// failAll fails every pending batch: on stop, and on a disconnect, after
// which no reply can come.
func (s *sender) failAll(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.batches) > 0 {
		s.lostBatch(s.batches[0], err)
		s.remove(0)
	}
	s.open = nil
}

// remove drops batches[i] and keeps it for reuse; with s.mu held.
func (s *sender) remove(i int) {
	b := s.batches[i]
	s.inFlight.Add(-int64(b.n))
	copy(s.batches[i:], s.batches[i+1:])
	s.batches[len(s.batches)-1] = nil
	s.batches = s.batches[:len(s.batches)-1]
	if s.open == b {
		s.open = nil
	}
	clear(b.notes)
	b.subject, b.data, b.msgID = "", nil, ""
	s.free = append(s.free, b)
}

// lostBatch tells the handler every asset of b lost a message; with s.mu held.
func (s *sender) lostBatch(b *ackBatch, err error) {
	s.dropped.Add(uint64(b.n))
	for _, n := range b.notes {
		s.in.put(n)
	}
	if len(b.notes) > 0 {
		s.p.failed("message not acknowledged", err, b.notes[0].asset)
	}
}

// lose counts ms dropped before they were sent.
func (s *sender) lose(ms []outMsg) {
	for i := range ms {
		s.dropped.Add(1)
		s.in.put(note{kind: noteLost, asset: ms[i].asset, epoch: ms[i].epoch})
	}
}

// pending is the number of unacknowledged messages.
func (s *sender) pending() int { return int(s.inFlight.Load()) }

// ensure is used by Start and the reconnect loop (any sender's context
// will do: stream management is not per worker).
func (s *sender) ensure(ctx context.Context) error { return ensureStreams(ctx, s.js, &s.p.cfg) }
