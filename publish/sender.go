package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/polyfeed/polyfeed/ring"
)

// outMsg is one encoded message waiting for the sender.
type outMsg struct {
	subject string
	asset   string
	epoch   int64
	seq     uint64
	data    []byte // a slice of the handler's slab: the sender only reads it
	w       int    // the worker whose handler queued it: loss notes go back there
	book    bool   // a book: it carries Nats-Msg-Id (see sender)
}

// sender publishes every worker's queue: one goroutine for all of them, so
// that one wake-up, one write and one acknowledgement carry the messages of
// every worker (PERFORMANCE.md measures what that saves: little, as most of
// publishing's cost is per message in the client and the server). It is
// the only goroutine that publishes, so a slow or absent server makes it
// wait, never a worker: the queues in front of it are bounded, and what
// does not fit is dropped by the handlers.
//
// A sender that was idle and is woken waits Config.Linger before it
// drains the queues, so that one round carries what arrived meanwhile;
// a busy sender never waits.
//
// Acknowledgements are per batch, not per message. Messages are plain NATS
// publishes into the stream's subjects; the last message of a batch
// carries a reply subject, so JetStream acknowledges it, and since
// JetStream stores one connection's messages in order, that
// acknowledgement covers the batch. A batch closes when it holds
// MaxPendingAcks (at most 256) messages, or with the last message of the
// first round that starts when it is ackEvery old. A batch left open when
// no round follows within ackEvery (the messages stopped) is closed by the
// sender's timer, which publishes the batch's last message again with a
// reply subject: a probe (the same Nats-Msg-Id: JetStream stores it once
// and acknowledges the duplicate). The timer counts from the batch's last
// round, not from its opening: with messages every few milliseconds a
// round closes the batch, and no probe is sent (at 2,000 messages/s a
// probe at the batch's ackEvery added about 8 % to the messages through
// the server). So a batch asks for its acknowledgement within 2 ackEvery.
//
// Nats-Msg-Id costs the server a header scan and an entry in its
// duplicate window per message, and only a message sent twice needs it.
// The sender sends a message twice only as a probe, and only the last
// message of a round that leaves its batch open can be probed; so those
// carry the header, and the messages that ask for an acknowledgement and
// the books (whose watchers, ours and other instances', read asset and
// epoch from it). The others carry none. Nothing else is ever sent again:
// an error reply, no reply within AckTimeout, or a disconnect marks every
// asset of the batch lost (stale and a fresh book follow, with new seqs).
// One error reply is not a loss: a clustered stream answers a probe whose
// original is still being replicated with 409 "duplicate message id is in
// process" (err_code 10158); the probe is sent again after probeRetry,
// within the same AckTimeout. Counting it lost sent a stale notice and a
// repair book per asset for messages that were stored. What the server
// drops silently inside an acknowledged batch, consumers still see as a
// seq gap, which the contract tells them to repair from BOOKS.
//
// Acknowledgements arrive on a channel subscription, which the client's
// reader fills directly; the sender reads it in the same select it parks
// in, so batches, the timer and the acknowledgements belong to the sender
// goroutine alone and need no lock. Only the counters below are shared.
type sender struct {
	p     *Publisher
	qs    []*ring.SPSC[outMsg] // one per worker
	ins   []*inbox             // one per worker: loss notes
	bell  *bell
	js    jetstream.JetStream // stream management only
	nc    *nats.Conn
	batch []outMsg
	max   int // messages per acknowledged batch
	next  int // the queue the next round starts with, for fairness

	msg   nats.Msg // reused for every publish; nats.go copies it out
	hdr   nats.Header
	id    []string
	idBuf []byte
	reply []byte // inbox prefix, then the batch number

	inboxPrefix string
	sub         *nats.Subscription
	acks        chan *nats.Msg
	fails       chan error  // disconnects, from the client's callback goroutine
	timer       *time.Timer // the batch probe and the acknowledgement deadline
	armed       time.Time   // when timer fires; zero when stopped

	batches []*ackBatch // oldest first
	open    *ackBatch   // the batch new messages join; not acknowledged yet
	free    []*ackBatch
	nextID  uint64

	inFlight  atomic.Int64 // messages sent, not yet acknowledged or lost
	published atomic.Uint64
	dropped   atomic.Uint64
	probes    atomic.Uint64 // batches' last messages published again to ask for the acknowledgement
	retried   atomic.Uint64 // probes sent again (original still being replicated)
	rounds    atomic.Uint64 // rounds that took messages (the benchmarks' messages per round)
}

// ackEvery bounds how long a batch stays open: the acknowledgement of
// every message is asked for within it.
const ackEvery = 5 * time.Millisecond

// probeRetry is how long the sender waits before it asks again for a
// batch whose probe met its original still being replicated.
const probeRetry = 20 * time.Millisecond

// errCodeInProcess is JetStream's "duplicate message id is in process".
var errCodeInProcess = []byte(`"err_code":10158`)

// roundMax bounds the messages one round takes from the queues before it
// publishes them.
const roundMax = 512

// ackBatch is one batch of messages acknowledged together.
type ackBatch struct {
	id     uint64
	opened time.Time
	sent   time.Time // the last round that published into it: the probe is due ackEvery after
	asked  time.Time // zero while open
	n      int
	lost   []loss // one per message: whom to tell if the batch is lost
	// the last message, for the probe; kept after a probe for its retry
	subject, msgID string
	data           []byte
	probed         bool      // asked by a probe (the last message published again)
	retryAt        time.Time // when to send the probe again; zero if not due
}

// loss is what a lost message's handler needs to hear.
type loss struct {
	w     int
	asset string
	epoch int64
}

func newSender(p *Publisher, qs []*ring.SPSC[outMsg], ins []*inbox, b *bell) (*sender, error) {
	js, err := jetstream.New(p.cfg.Conn)
	if err != nil {
		return nil, err
	}
	s := &sender{
		p: p, qs: qs, ins: ins, bell: b, js: js, nc: p.cfg.Conn,
		batch: make([]outMsg, roundMax), max: min(256, p.cfg.MaxPendingAcks),
		id: make([]string, 1),
		// Every outstanding batch holds at least one message, so at most
		// MaxPendingAcks acknowledgements can be on their way at once.
		acks:  make(chan *nats.Msg, p.cfg.MaxPendingAcks+1),
		fails: make(chan error, 1),
	}
	s.hdr = nats.Header{jetstream.MsgIDHeader: s.id}
	s.inboxPrefix = p.cfg.Conn.NewRespInbox() + "."
	s.timer = time.NewTimer(time.Hour)
	s.timer.Stop()
	return s, nil
}

// start subscribes to the acknowledgements.
func (s *sender) start() error {
	sub, err := s.nc.ChanSubscribe(s.inboxPrefix+"*", s.acks)
	if err != nil {
		return fmt.Errorf("cannot subscribe to acknowledgements: %w", err)
	}
	s.sub = sub
	return nil
}

// disconnected fails every pending batch (the client's callback goroutine:
// no reply can come for them). The sender does it at its next select.
func (s *sender) disconnected(err error) {
	select {
	case s.fails <- err:
	default: // one pending is enough: it fails all
	}
}

// run publishes until done is closed, then publishes what is still queued
// and waits (bounded by flushWait) for the acknowledgements.
func (s *sender) run(done <-chan struct{}, flushWait time.Duration) {
	for {
		if s.round() > 0 {
			s.poll()
			continue
		}
		if !s.park(done) {
			break
		}
	}
	for s.round() > 0 {
		s.poll() // what the handlers queued before the engine stopped
	}
	s.closeOpen()
	_ = s.nc.FlushTimeout(flushWait)
	deadline := time.NewTimer(flushWait)
	for s.inFlight.Load() > 0 {
		select {
		case m := <-s.acks:
			s.acked(m)
			continue
		case err := <-s.fails:
			s.failAll(err)
			continue
		case <-deadline.C:
		}
		break
	}
	deadline.Stop()
	s.timer.Stop()
	_ = s.sub.Unsubscribe()
	s.failAll(errors.New("publisher stopped before the acknowledgement"))
}

// park waits, with every queue empty, for a handler's bell, an
// acknowledgement, the timer, a disconnect or done. It returns false when
// done is closed. Woken by the bell, it lingers (Config.Linger) before it
// returns, so that the next round carries what arrives meanwhile.
func (s *sender) park(done <-chan struct{}) bool {
	s.bell.sleeping.Store(1)
	if s.queued() {
		s.bell.sleeping.Store(0)
		return true
	}
	for {
		s.arm(time.Time{})
		select {
		case <-s.bell.ch:
			s.bell.sleeping.Store(0) // usually already 0: ring cleared it
			if s.queued() {
				s.linger(done)
				return true
			}
			s.bell.sleeping.Store(1) // a stale token: announce again, look again
			if s.queued() {
				s.bell.sleeping.Store(0)
				return true
			}
		case m := <-s.acks:
			s.acked(m)
		case err := <-s.fails:
			s.failAll(err)
		case <-s.timer.C:
			s.fired(time.Now())
		case <-done:
			s.bell.sleeping.Store(0)
			return false
		}
	}
}

// fired serves the timer having fired at now: it is no longer armed.
func (s *sender) fired(now time.Time) {
	s.armed = time.Time{}
	s.tick(now)
}

// poll serves, without waiting, what arrived while the sender was busy:
// acknowledgements, a disconnect, and the timer (armed for the open
// batch's probe and the oldest acknowledgement's deadline).
func (s *sender) poll() {
	s.arm(time.Time{})
	for {
		select {
		case m := <-s.acks:
			s.acked(m)
		case err := <-s.fails:
			s.failAll(err)
		case <-s.timer.C:
			s.fired(time.Now())
			s.arm(time.Time{})
		default:
			return
		}
	}
}

// linger waits Config.Linger after an idle sender was woken, serving
// acknowledgements and the timer meanwhile.
func (s *sender) linger(done <-chan struct{}) {
	d := s.p.cfg.Linger
	if d <= 0 {
		return
	}
	until := time.Now().Add(d)
	for {
		s.arm(until)
		select {
		case m := <-s.acks:
			s.acked(m)
			continue
		case err := <-s.fails:
			s.failAll(err)
			continue
		case <-s.timer.C:
			now := time.Now()
			s.fired(now)
			if now.Before(until) {
				continue
			}
		case <-done:
		}
		return
	}
}

// queued reports whether any queue holds a published message.
func (s *sender) queued() bool {
	for _, q := range s.qs {
		if q.Len() > 0 {
			return true
		}
	}
	return false
}

// arm sets the timer to the earliest of extra (if not zero), the open
// batch's probe and the oldest asked batch's deadline.
func (s *sender) arm(extra time.Time) {
	at := extra
	earlier := func(t time.Time) {
		if at.IsZero() || t.Before(at) {
			at = t
		}
	}
	if b := s.open; b != nil && b.subject != "" {
		earlier(b.sent.Add(ackEvery))
	}
	for _, b := range s.batches {
		if !b.asked.IsZero() {
			earlier(b.asked.Add(s.p.cfg.AckTimeout))
			break
		}
	}
	for _, b := range s.batches {
		if !b.retryAt.IsZero() {
			earlier(b.retryAt)
		}
	}
	if at.Equal(s.armed) {
		return
	}
	s.armed = at
	if at.IsZero() {
		s.timer.Stop()
		return
	}
	s.timer.Reset(max(time.Until(at), 0))
}

// tick probes the open batch when no round published into it for
// ackEvery, sends due probes again, and fails the batches whose
// acknowledgement is AckTimeout late.
func (s *sender) tick(now time.Time) {
	if b := s.open; b != nil && b.subject != "" && !now.Before(b.sent.Add(ackEvery)) {
		if s.queued() {
			// The sender was kept from running: the queued round asks
			// (the batch is ackEvery old). Moving the probe on keeps the
			// timer from firing again and again until it does.
			b.sent = now
		} else {
			s.closeOpen()
		}
	}
	for i := 0; i < len(s.batches); i++ {
		if b := s.batches[i]; !b.retryAt.IsZero() && !now.Before(b.retryAt) {
			n := len(s.batches)
			if s.reprobe(b); len(s.batches) < n {
				i-- // a failed publish removed b
			}
		}
	}
	cutoff := now.Add(-s.p.cfg.AckTimeout)
	for len(s.batches) > 0 && !s.batches[0].asked.IsZero() && !s.batches[0].asked.After(cutoff) {
		s.lostBatch(s.batches[0], nats.ErrTimeout)
		s.remove(0)
	}
}

// round takes up to roundMax messages from the queues, starting with a
// different queue each round, and publishes them. It returns how many it
// took.
func (s *sender) round() int {
	n := 0
	for i := range s.qs {
		q := s.qs[(s.next+i)%len(s.qs)]
		n += q.PopBatch(s.batch[n:])
		if n == len(s.batch) {
			break
		}
	}
	s.next = (s.next + 1) % len(s.qs)
	if n == 0 {
		return 0
	}
	s.rounds.Add(1)
	ms := s.batch[:n]
	for len(ms) > 0 {
		k := min(len(ms), s.max)
		s.send(ms[:k])
		ms = ms[k:]
	}
	clear(s.batch[:n]) // release the slabs
	return n
}

// send publishes ms into the open batch, and asks for the batch's
// acknowledgement when it is full or ackEvery old.
func (s *sender) send(ms []outMsg) {
	if !s.p.ready.Load() || !s.room(len(ms)) {
		// Unreachable (fail fast instead of filling a reconnect buffer), or
		// too many unacknowledged messages for AckTimeout.
		s.lose(ms)
		return
	}
	b := s.open
	if b == nil {
		b = s.newBatch()
		s.open = b
	}
	now := time.Now()
	b.sent = now
	ask := b.n+len(ms) >= s.max || now.Sub(b.opened) >= ackEvery
	for i := range ms {
		m := &ms[i]
		b.n++
		s.inFlight.Add(1)
		b.lost = append(b.lost, loss{w: m.w, asset: m.asset, epoch: m.epoch})
		last := i == len(ms)-1
		reply := ""
		if last && ask {
			reply = s.replyTo(b, now)
		}
		var err error
		if reply == "" && !m.book && !last {
			err = s.nc.Publish(m.subject, m.data) // asks for nothing, cannot be probed
		} else {
			s.idBuf = appendMsgID(s.idBuf[:0], m.asset, m.epoch, m.seq)
			// The header is encoded into the connection's buffer by the
			// publish: a view of idBuf serves, and is cloned only when kept.
			s.id[0] = unsafe.String(unsafe.SliceData(s.idBuf), len(s.idBuf))
			err = s.publish(m.subject, m.data, reply)
		}
		if err != nil {
			s.failBatch(b, err)
			s.lose(ms[i+1:])
			return
		}
		if last && !ask {
			b.subject, b.data, b.msgID = m.subject, m.data, string(s.idBuf)
		}
	}
}

// publish sends one message with Nats-Msg-Id (s.id[0]), with the reused
// nats.Msg and header.
func (s *sender) publish(subject string, data []byte, reply string) error {
	s.msg = nats.Msg{Subject: subject, Reply: reply, Data: data, Header: s.hdr}
	err := s.nc.PublishMsg(&s.msg)
	s.id[0] = ""
	return err
}

// replyTo closes b: its next publish asks for the acknowledgement.
func (s *sender) replyTo(b *ackBatch, now time.Time) string {
	if s.open == b {
		s.open = nil
	}
	b.asked = now
	b.subject, b.data = "", nil
	return s.replySubject(b)
}

// replySubject is the inbox subject b's acknowledgement comes back on.
func (s *sender) replySubject(b *ackBatch) string {
	s.reply = strconv.AppendUint(append(s.reply[:0], s.inboxPrefix...), b.id, 10)
	return string(s.reply)
}

// closeOpen asks for the open batch's acknowledgement by publishing its
// last message again with a reply subject (the timer, a sender waiting for
// room, and the sender when it stops).
func (s *sender) closeOpen() {
	b := s.open
	if b == nil || b.subject == "" {
		return
	}
	subject, data, id := b.subject, b.data, b.msgID
	s.id[0] = id
	reply := s.replyTo(b, time.Now())
	b.subject, b.data, b.msgID, b.probed = subject, data, id, true
	s.probes.Add(1)
	if err := s.publish(subject, data, reply); err != nil {
		s.failBatch(b, err)
	}
}

// reprobe publishes a probed batch's last message again, with the same
// reply subject; AckTimeout still counts from the first ask.
func (s *sender) reprobe(b *ackBatch) {
	b.retryAt = time.Time{}
	s.retried.Add(1)
	s.id[0] = b.msgID
	if err := s.publish(b.subject, b.data, s.replySubject(b)); err != nil {
		s.failBatch(b, err)
	}
}

// room waits until n more messages fit under MaxPendingAcks, for at most
// AckTimeout, serving acknowledgements meanwhile.
func (s *sender) room(n int) bool {
	limit := int64(s.p.cfg.MaxPendingAcks)
	if s.inFlight.Load()+int64(n) <= limit {
		return true
	}
	s.closeOpen() // its acknowledgement is what frees room
	deadline := time.NewTimer(s.p.cfg.AckTimeout)
	defer deadline.Stop()
	for s.inFlight.Load()+int64(n) > limit {
		if !s.p.ready.Load() {
			return false
		}
		s.arm(time.Time{})
		select {
		case m := <-s.acks:
			s.acked(m)
		case err := <-s.fails:
			s.failAll(err)
		case <-s.timer.C:
			s.fired(time.Now())
		case <-deadline.C:
			return false
		}
	}
	return true
}

// newBatch opens the next batch.
func (s *sender) newBatch() *ackBatch {
	var b *ackBatch
	if k := len(s.free); k > 0 {
		b, s.free = s.free[k-1], s.free[:k-1]
	} else {
		b = &ackBatch{}
	}
	s.nextID++
	now := time.Now()
	b.id, b.opened, b.sent, b.asked, b.n, b.lost = s.nextID, now, now, time.Time{}, 0, b.lost[:0]
	s.batches = append(s.batches, b)
	return b
}

// acked handles one reply.
func (s *sender) acked(m *nats.Msg) {
	if len(m.Subject) <= len(s.inboxPrefix) {
		return
	}
	id, err := strconv.ParseUint(m.Subject[len(s.inboxPrefix):], 10, 64)
	if err != nil {
		return
	}
	i := s.find(id)
	if i < 0 {
		return // already failed (timeout, disconnect)
	}
	switch b := s.batches[i]; {
	case b.probed && bytes.Contains(m.Data, errCodeInProcess):
		b.retryAt = time.Now().Add(probeRetry)
		s.arm(time.Time{})
		return
	case len(m.Data) == 0 && m.Header.Get("Status") == "503":
		s.lostBatch(s.batches[i], jetstream.ErrNoStreamResponse)
	case bytes.Contains(m.Data, []byte(`"error"`)):
		s.lostBatch(s.batches[i], fmt.Errorf("cannot store message: %s", m.Data))
	default:
		s.published.Add(uint64(s.batches[i].n))
	}
	s.remove(i)
}

// find returns the index of batch id, or -1.
func (s *sender) find(id uint64) int {
	for i, b := range s.batches {
		if b.id == id {
			return i
		}
	}
	return -1
}

// failBatch marks every asset of b lost.
func (s *sender) failBatch(b *ackBatch, err error) {
	for i, x := range s.batches {
		if x == b {
			s.lostBatch(b, err)
			s.remove(i)
			return
		}
	}
}

// failAll fails every pending batch: on stop, and on a disconnect, after
// which no reply can come.
func (s *sender) failAll(err error) {
	for len(s.batches) > 0 {
		s.lostBatch(s.batches[0], err)
		s.remove(0)
	}
	s.open = nil
}

// remove drops batches[i] and keeps it for reuse.
func (s *sender) remove(i int) {
	b := s.batches[i]
	s.inFlight.Add(-int64(b.n))
	copy(s.batches[i:], s.batches[i+1:])
	s.batches[len(s.batches)-1] = nil
	s.batches = s.batches[:len(s.batches)-1]
	if s.open == b {
		s.open = nil
	}
	clear(b.lost)
	b.subject, b.data, b.msgID, b.probed, b.retryAt = "", nil, "", false, time.Time{}
	s.free = append(s.free, b)
}

// lostBatch tells the handlers every asset of b lost a message.
func (s *sender) lostBatch(b *ackBatch, err error) {
	s.dropped.Add(uint64(b.n))
	for _, l := range b.lost {
		s.ins[l.w].put(note{kind: noteLost, asset: l.asset, epoch: l.epoch})
	}
	if len(b.lost) > 0 {
		s.p.failed("message not acknowledged", err, b.lost[0].asset)
	}
}

// lose counts ms dropped before they were sent.
func (s *sender) lose(ms []outMsg) {
	for i := range ms {
		s.dropped.Add(1)
		s.ins[ms[i].w].put(note{kind: noteLost, asset: ms[i].asset, epoch: ms[i].epoch})
	}
}

// pending is the number of unacknowledged messages.
func (s *sender) pending() int { return int(s.inFlight.Load()) }

// ensure is used by Start and the reconnect loop.
func (s *sender) ensure(ctx context.Context) error { return ensureStreams(ctx, s.js, &s.p.cfg) }
