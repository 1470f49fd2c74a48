package publish

import (
	"context"
	"errors"
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
	data    []byte
}

// sender publishes one worker's queue. It is the only goroutine that
// touches that worker's JetStream context, so a slow or absent server makes
// it wait, never the worker: the queue in front of it is bounded, and what
// does not fit is dropped by the handler.
type sender struct {
	p     *Publisher
	q     *ring.SPSC[outMsg]
	js    jetstream.JetStream
	in    *inbox
	batch []outMsg

	published atomic.Uint64
	dropped   atomic.Uint64
	_         [48]byte
}

func newSender(p *Publisher, q *ring.SPSC[outMsg], in *inbox) (*sender, error) {
	s := &sender{p: p, q: q, in: in, batch: make([]outMsg, 256)}
	js, err := jetstream.New(p.cfg.Conn,
		jetstream.WithPublishAsyncMaxPending(p.cfg.MaxPendingAcks),
		jetstream.WithPublishAsyncTimeout(p.cfg.AckTimeout),
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, _ *nats.Msg, _ *jetstream.PubAck) {
			s.published.Add(1)
		}),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
			s.lost(m.Header.Get(jetstream.MsgIDHeader), err)
		}),
	)
	if err != nil {
		return nil, err
	}
	s.js = js
	return s, nil
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
				// write carries several (fewer wakeups and syscalls on both
				// sides at moderate rates).
				time.Sleep(s.p.cfg.Linger)
			}
			continue
		}
		s.sendAll(s.batch[:n])
	}
	for n := s.q.PopBatch(s.batch); n > 0; n = s.q.PopBatch(s.batch) {
		s.sendAll(s.batch[:n])
	}
	if s.js.PublishAsyncPending() > 0 {
		select {
		case <-s.js.PublishAsyncComplete():
		case <-time.After(flushWait):
		}
	}
}

func (s *sender) sendAll(ms []outMsg) {
	for i := range ms {
		s.send(&ms[i])
	}
	clear(ms) // release the payloads
}

func (s *sender) send(m *outMsg) {
	if !s.p.ready.Load() {
		// Unreachable: fail fast instead of stalling on a reconnect buffer.
		s.dropped.Add(1)
		s.in.put(note{kind: noteLost, asset: m.asset, epoch: m.epoch})
		return
	}
	msg := &nats.Msg{
		Subject: m.subject,
		Data:    m.data,
		Header:  nats.Header{jetstream.MsgIDHeader: []string{msgID(m.asset, m.epoch, m.seq)}},
	}
	// At MaxPendingAcks the client waits up to its stall wait and then
	// fails; the sender keeps waiting (the queue in front absorbs it, and
	// the worker drops what does not fit), for at most AckTimeout.
	for deadline := time.Now().Add(s.p.cfg.AckTimeout); ; {
		_, err := s.js.PublishMsgAsync(msg)
		if err == nil {
			return
		}
		if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) || time.Now().After(deadline) || !s.p.ready.Load() {
			s.dropped.Add(1)
			s.in.put(note{kind: noteLost, asset: m.asset, epoch: m.epoch})
			s.p.failed("cannot publish", err, m.asset)
			return
		}
	}
}

// lost records a message the server did not acknowledge.
func (s *sender) lost(id string, err error) {
	s.dropped.Add(1)
	asset, epoch, _, ok := parseMsgID(id)
	if ok {
		s.in.put(note{kind: noteLost, asset: asset, epoch: epoch})
	}
	s.p.failed("message not acknowledged", err, asset)
}

// pending is the number of unacknowledged messages.
func (s *sender) pending() int { return s.js.PublishAsyncPending() }

// ensure is used by Start and the reconnect loop (any sender's context
// will do: stream management is not per worker).
func (s *sender) ensure(ctx context.Context) error { return ensureStreams(ctx, s.js, &s.p.cfg) }
