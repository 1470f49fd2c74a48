package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// bookHeader is the part of a stream `book` message a handover reads
// (docs/STREAM.md, wire version 1).
type bookHeader struct {
	V       int    `json:"v"`
	Type    string `json:"type"`
	AssetID string `json:"asset_id"`
	Epoch   uint64 `json:"epoch"`
}

// maxEpoch is the largest epoch the wire allows (2^53-1, exact in JavaScript).
const maxEpoch = 1<<53 - 1

// parseBook reads the asset and epoch of a version-1 `book` message. Anything
// else (another version or type, bad JSON, an epoch out of range) is not a
// book.
func parseBook(data []byte) (asset string, epoch uint64, ok bool) {
	var h bookHeader
	if err := json.Unmarshal(data, &h); err != nil {
		return "", 0, false
	}
	if h.V != 1 || h.Type != "book" || h.AssetID == "" || h.Epoch == 0 || h.Epoch > maxEpoch {
		return "", 0, false
	}
	return h.AssetID, h.Epoch, true
}

// BookSubject returns the subject of an asset's books under prefix.
func BookSubject(prefix, assetID string) string { return prefix + ".v1.book." + assetID }

// eventsStream names the stream that owns every subject of the wire: a book
// is in it as soon as its publish is acknowledged (the books stream sources
// from it, a little later).
func eventsStream(prefix string) string { return strings.ToUpper(prefix) + "_EVENTS" }

// WaitBook waits until a `book` for assetID with an epoch above `above`
// appears on the stream and returns its epoch: the sign that the asset's new
// publisher is live. It sees only books published after it subscribed. Safe
// for concurrent use; it owns no goroutine beyond the call.
func WaitBook(ctx context.Context, nc *nats.Conn, prefix, assetID string, above uint64) (uint64, error) {
	sub, err := nc.SubscribeSync(BookSubject(prefix, assetID))
	if err != nil {
		return 0, fmt.Errorf("cannot watch books of %s: %w", assetID, err)
	}
	defer sub.Unsubscribe() //nolint:errcheck // nothing to do about it
	for {
		msg, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return 0, fmt.Errorf("cannot see a new book of %s: %w", assetID, err)
		}
		if a, epoch, ok := parseBook(msg.Data); ok && a == assetID && epoch > above {
			return epoch, nil
		}
	}
}

// handover is one market this member still publishes although the
// assignment gave it to another member: make before break.
type handover struct {
	assets    []string
	above     map[string]uint64 // our epoch per asset; the new owner's is higher
	known     map[string]bool   // above is known for the asset
	maxSeen   map[string]uint64 // highest book epoch seen since subscribing, ours included
	subs      []*nats.Subscription
	started   time.Time
	deadline  time.Time
	announced time.Time // last claim sent; zero until the epochs are known
}

// done reports whether every asset has a book above our epoch on the
// stream. With a Publisher our epoch is read again first: it rises while we
// still publish (a restart asked for by a claim, or the first book of an
// asset whose snapshot came after the handover started), and a book of
// ours must never pass for the new publisher's. An asset our publisher
// does not publish (no epoch) has nothing to hand over. An asset whose
// restart is still on its way to the publisher (restarting) is not done:
// its next epoch is not known yet. hs.mu held.
func (hs *handovers) done(h *handover) bool {
	hs.refresh(h)
	for _, a := range h.assets {
		if hs.restarting != nil && hs.restarting(a) {
			return false
		}
		if hs.cfg.Publisher != nil && h.above[a] == 0 {
			continue // we publish nothing of it: nothing to hand over
		}
		if !h.known[a] || h.maxSeen[a] <= h.above[a] {
			return false
		}
	}
	return true
}

// refresh raises the handover's epochs to the publisher's current ones.
// hs.mu held.
func (hs *handovers) refresh(h *handover) {
	if hs.cfg.Publisher == nil {
		return
	}
	for _, a := range h.assets {
		if e, ok := hs.cfg.Publisher.Epoch(a); ok && e > h.above[a] {
			h.above[a] = e
		}
		h.known[a] = true
	}
}

// handovers tracks the markets being handed over. Book callbacks run on the
// NATS client's delivery goroutine; start, cancel and collect run on the
// controller's. All state is under mu.
type handovers struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	cfg      *Config
	wake     func()
	announce func(conditionID string, epochs map[string]uint64)
	// restarting reports whether a Publisher.Restart of the asset has not
	// shown in Publisher.Epoch yet (claims.restarting); nil: never.
	restarting func(asset string) bool
	mu         sync.Mutex
	m          map[string]*handover // by condition id
	events     jetstream.Stream     // nil until found
	badBook    uint64
}

// newHandovers returns the tracker; its announce must be set before use.
func newHandovers(nc *nats.Conn, js jetstream.JetStream, cfg *Config, wake func()) *handovers {
	return &handovers{nc: nc, js: js, cfg: cfg, wake: wake, m: map[string]*handover{}}
}

// start begins handing over a market: it subscribes to its assets' books
// first and then learns the epochs they are published under, so a book that
// lands in between is not missed. since is the server time of the membership
// event behind the change (zero if unknown): without a Publisher, a book the
// stream stored after it is taken for the new publisher's.
func (hs *handovers) start(ctx context.Context, conditionID string, assets []string, now, since time.Time) error {
	h := &handover{
		assets:   assets,
		above:    map[string]uint64{},
		known:    map[string]bool{},
		maxSeen:  map[string]uint64{},
		started:  now,
		deadline: now.Add(hs.cfg.HandoverTimeout),
	}
	hs.mu.Lock()
	if _, ok := hs.m[conditionID]; ok {
		hs.mu.Unlock()
		return nil
	}
	hs.m[conditionID] = h
	hs.mu.Unlock()
	for _, a := range assets {
		sub, err := hs.nc.Subscribe(BookSubject(hs.cfg.Prefix, a), func(msg *nats.Msg) { hs.onBook(conditionID, msg.Data) })
		if err != nil {
			return fmt.Errorf("cannot watch books of %s: %w", a, err)
		}
		hs.mu.Lock()
		h.subs = append(h.subs, sub)
		hs.mu.Unlock()
	}
	for _, a := range assets {
		if hs.cfg.Publisher != nil {
			// Our epoch is the publisher's (done reads it again), 0 while
			// it publishes nothing. A new publisher quicker than our settle
			// delay answers our claim with its epochs, so the stream need
			// not be read: at start-up a member hands over thousands of
			// markets at once, and one request per asset on this goroutine
			// held the controller for seconds.
			hs.mu.Lock()
			h.above[a], h.known[a] = 0, true
			hs.mu.Unlock()
			continue
		}
		// The new publisher may have been quicker than our settle delay:
		// its book is then already the latest on the events stream.
		last, at, lastOK := hs.lastBook(ctx, a)
		above, ok := last, lastOK
		if lastOK && last > 0 && !since.IsZero() && !at.Before(since) {
			// Stored after the member that takes the market appeared: its
			// book, not ours (ours come at most once a minute when idle;
			// one that falls in this window only ends the handover early).
			above = last - 1
		}
		hs.mu.Lock()
		h.above[a], h.known[a] = above, ok
		if lastOK && last > h.maxSeen[a] {
			h.maxSeen[a] = last
		}
		hs.mu.Unlock()
	}
	hs.mu.Lock()
	h.announced = now
	epochs := hs.claimEpochs(h)
	hs.mu.Unlock()
	if len(epochs) > 0 {
		hs.announce(conditionID, epochs)
	}
	hs.wake()
	return nil
}

// claimEpochs returns the epochs the new publisher has to overtake: ours
// as they are now. hs.mu held.
func (hs *handovers) claimEpochs(h *handover) map[string]uint64 {
	hs.refresh(h)
	m := map[string]uint64{}
	for _, a := range h.assets {
		if hs.restarting != nil && hs.restarting(a) {
			continue // claimed once the new epoch is known
		}
		if h.known[a] && h.above[a] > 0 && h.maxSeen[a] <= h.above[a] {
			m[a] = h.above[a]
		}
	}
	return m
}

// reannounce sends the claims of unfinished handovers again, once per
// second each, in case the first was lost or came before the new publisher
// took the market.
func (hs *handovers) reannounce(now time.Time) {
	type claimOut struct {
		cid    string
		epochs map[string]uint64
	}
	var out []claimOut
	hs.mu.Lock()
	for cid, h := range hs.m {
		if !h.announced.IsZero() && now.Sub(h.announced) >= time.Second && !hs.done(h) {
			h.announced = now
			if e := hs.claimEpochs(h); len(e) > 0 {
				out = append(out, claimOut{cid, e})
			}
		}
	}
	hs.mu.Unlock()
	for _, c := range out {
		hs.announce(c.cid, c.epochs)
	}
}

// lastBook returns the epoch of the asset's latest book on the events stream
// and when the server stored it (0 when it has none in its window). ok is
// false when the stream cannot be read.
//
// Without a Publisher that epoch stands in for ours when it was stored before
// the membership event: we are still the publisher, so the latest book is
// normally ours. If our own periodic book lands after the event it is taken
// for the new publisher's, and if the new publisher's book was stored before
// the event (clock skew between NATS nodes), the handover ends at its
// timeout; wire Config.Publisher to make both exact.
func (hs *handovers) lastBook(ctx context.Context, asset string) (uint64, time.Time, bool) {
	if hs.events == nil {
		s, err := hs.js.Stream(ctx, eventsStream(hs.cfg.Prefix))
		if err != nil {
			return 0, time.Time{}, false
		}
		hs.events = s
	}
	msg, err := hs.events.GetLastMsgForSubject(ctx, BookSubject(hs.cfg.Prefix, asset))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, time.Time{}, true
	}
	if err != nil {
		return 0, time.Time{}, false
	}
	if _, e, ok := parseBook(msg.Data); ok {
		return e, msg.Time, true
	}
	return 0, time.Time{}, false
}

func (hs *handovers) onBook(conditionID string, data []byte) {
	asset, epoch, ok := parseBook(data)
	if !ok {
		hs.mu.Lock()
		hs.badBook++
		hs.mu.Unlock()
		return
	}
	hs.seen(conditionID, map[string]uint64{asset: epoch})
}

// seen records epochs the new publisher is known to publish under: from its
// books, or from its answer to our claim.
func (hs *handovers) seen(conditionID string, epochs map[string]uint64) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	h := hs.m[conditionID]
	if h == nil {
		return
	}
	for asset, epoch := range epochs {
		if _, ours := h.above[asset]; ours && epoch > h.maxSeen[asset] {
			h.maxSeen[asset] = epoch
		}
	}
	if hs.done(h) {
		hs.wake()
	}
}

// cancel stops handing over a market that came back to this member.
func (hs *handovers) cancel(conditionID string) {
	hs.mu.Lock()
	h := hs.m[conditionID]
	delete(hs.m, conditionID)
	hs.mu.Unlock()
	if h != nil {
		unsubscribe(h.subs)
	}
}

// collect ends the handovers that are done or past their deadline (unless
// frozen, when no deadline passes: nobody can publish anyway) and returns
// them.
func (hs *handovers) collect(now time.Time, frozen bool) (done, timedOut []string, took []time.Duration) {
	var ended []*handover
	hs.mu.Lock()
	for cid, h := range hs.m {
		switch {
		case hs.done(h):
			done = append(done, cid)
			took = append(took, now.Sub(h.started))
		case !frozen && now.After(h.deadline):
			timedOut = append(timedOut, cid)
		default:
			continue
		}
		delete(hs.m, cid)
		ended = append(ended, h)
	}
	hs.mu.Unlock()
	for _, h := range ended {
		unsubscribe(h.subs)
	}
	return done, timedOut, took
}

// extend pushes every deadline past now + HandoverTimeout (after a freeze).
func (hs *handovers) extend(now time.Time) {
	hs.mu.Lock()
	for _, h := range hs.m {
		if d := now.Add(hs.cfg.HandoverTimeout); h.deadline.Before(d) {
			h.deadline = d
		}
	}
	hs.mu.Unlock()
}

func (hs *handovers) len() int {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return len(hs.m)
}

// stop ends every handover.
func (hs *handovers) stop() {
	hs.mu.Lock()
	all := hs.m
	hs.m = map[string]*handover{}
	hs.mu.Unlock()
	for _, h := range all {
		unsubscribe(h.subs)
	}
}

func unsubscribe(subs []*nats.Subscription) {
	for _, s := range subs {
		_ = s.Unsubscribe() // fails only when the connection is closed, which ends it too
	}
}
