package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Role is what this member does with a market.
type Role uint8

// Roles. The engine carries (subscribes, keeps the book of) every market
// whose role is not RoleNone and publishes those of RolePublisher and
// RoleReleasing.
const (
	RoleNone      Role = iota // not ours: do not subscribe
	RoleReplica               // carry a warm book, do not publish
	RolePublisher             // carry and publish
	RoleReleasing             // assigned away; keep publishing until the new publisher's book is on the stream
)

var roleNames = [...]string{"none", "replica", "publisher", "releasing"}

func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return fmt.Sprintf("Role(%d)", r)
}

// view is one immutable state of this member's ownership.
type view struct {
	gen       uint64
	assign    *Assignment
	releasing map[string]bool // condition ids still published while handed over
	self      string
}

func (v *view) role(conditionID string) Role {
	switch r := v.assign.Rank(conditionID, v.self); {
	case r == 0:
		return RolePublisher
	case v.releasing[conditionID]:
		return RoleReleasing
	case r > 0:
		return RoleReplica
	}
	return RoleNone
}

// Node is this instance's membership in a cluster. Create it with New, then
// Start; Stop (after an optional Drain) leaves the cluster.
//
// Role, Owns, Publishes, Gen and Changes are safe from any goroutine at any
// time and do not allocate; Markets, ShareMarkets, RemoveMarket and Stats are
// safe from any goroutine after Start. Start, Drain and Stop are serialised by
// the caller.
type Node struct {
	cfg   Config
	nc    *nats.Conn
	nonce string

	js        jetstream.JetStream
	members   *membership
	listing   *listing
	handovers *handovers
	claims    *claims
	moves     *moves // nil without a Publisher

	view    atomic.Pointer[view]
	changes chan struct{} // cap 1: a coalescing "re-read the roles" signal
	wakeCh  chan struct{} // cap 1: a coalescing "something changed" signal to the controller
	drainCh chan struct{} // cap 1: Drain asks the controller to act now

	// listingDirty is set by every listing change and turned into one
	// Changes signal per controller tick: a listing of 50,000 markets arrives
	// as 50,000 updates, and the engine walks its markets on every signal.
	listingDirty atomic.Bool

	started atomic.Bool
	stopped atomic.Bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	frozen            atomic.Bool
	handoversIn       atomic.Uint64
	handoversOut      atomic.Uint64
	handoverTimeouts  atomic.Uint64
	handoverMaxMs     atomic.Int64
	membershipChanges atomic.Uint64
	freezes           atomic.Uint64
	lastChange        atomic.Pointer[change]
}

type change struct {
	at             time.Time
	joined, left   []string
	members        []string
	marketsMovedIn int
}

// New validates cfg and returns a Node that uses nc (shared with the stream
// publisher; the Node never closes it). It does no I/O.
func New(nc *nats.Conn, cfg Config) (*Node, error) {
	if nc == nil {
		return nil, fmt.Errorf("%w: no NATS connection", ErrConfig)
	}
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on supported platforms
	n := &Node{
		cfg:     cfg,
		nc:      nc,
		nonce:   hex.EncodeToString(b[:]),
		changes: make(chan struct{}, 1),
		wakeCh:  make(chan struct{}, 1),
		drainCh: make(chan struct{}, 1),
	}
	n.view.Store(&view{assign: NewAssignment([]string{cfg.ID}, cfg.Replicas), self: cfg.ID})
	return n, nil
}

// ID returns this member's id.
func (n *Node) ID() string { return n.cfg.ID }

// Role returns this member's role for a market (by condition id). Markets
// not in the shared listing get the plain assignment (no handover state).
func (n *Node) Role(conditionID string) Role { return n.view.Load().role(conditionID) }

// Owns reports whether this member carries the market: subscribe it and keep
// its book.
func (n *Node) Owns(conditionID string) bool { return n.Role(conditionID) != RoleNone }

// Publishes reports whether this member publishes the market's assets.
func (n *Node) Publishes(conditionID string) bool {
	r := n.Role(conditionID)
	return r == RolePublisher || r == RoleReleasing
}

// Gen returns the generation of the roles; it changes whenever any role may
// have changed, so a caller can cache roles and look again only then.
func (n *Node) Gen() uint64 { return n.view.Load().gen }

// Changes returns a channel that receives (coalesced) after roles or the
// shared listing changed: re-read Markets and the roles of your markets.
func (n *Node) Changes() <-chan struct{} { return n.changes }

func (n *Node) notify() {
	select {
	case n.changes <- struct{}{}:
	default:
	}
}

func (n *Node) wake() {
	select {
	case n.wakeCh <- struct{}{}:
	default:
	}
}

// Markets returns the shared listing: every market any member listed.
func (n *Node) Markets() []Market { return n.listing.snapshot() }

// ShareMarkets writes this member's discovered markets to the shared listing
// (only those new, changed, or due for a refresh) and returns how many it
// wrote.
func (n *Node) ShareMarkets(ctx context.Context, ms []Market) (int, error) {
	return n.listing.put(ctx, ms)
}

// RemoveMarket removes a closed or resolved market from the shared listing.
func (n *Node) RemoveMarket(ctx context.Context, conditionID string) error {
	return n.listing.remove(ctx, conditionID)
}

// Start creates the cluster's buckets if needed, writes the first heartbeat,
// reads the members and the shared listing, and computes the first
// assignment before it returns; ctx bounds that start-up only.
func (n *Node) Start(ctx context.Context) error {
	if n.started.Swap(true) {
		return errors.New("cannot start cluster node: already started")
	}
	js, err := jetstream.New(n.nc, jetstream.WithPublishAsyncMaxPending(256))
	if err != nil {
		return fmt.Errorf("cannot open JetStream: %w", err)
	}
	n.js = js
	membersKV, marketsKV, err := n.buckets(ctx)
	if err != nil {
		return err
	}
	n.members = newMembership(membersKV, &n.cfg, n.nonce, n.wake)
	n.listing = newListing(js, marketsKV, &n.cfg, func() { n.listingDirty.Store(true) })
	n.handovers = newHandovers(n.nc, js, &n.cfg, n.wake)
	n.claims = newClaims(n.nc, &n.cfg, n.wake, n.handovers.seen)
	n.handovers.announce = n.claims.announce
	if err := n.claims.subscribe(); err != nil {
		return err
	}
	if n.cfg.Publisher != nil {
		n.handovers.restarting = n.claims.restarting
		n.moves = newMoves(n.nc, &n.cfg, n.claims, n.wake)
		if err := n.moves.subscribe(); err != nil {
			n.claims.unsubscribe()
			return err
		}
	}
	// The first heartbeat may wait up to Expiry: a loaded server that is
	// slower than one heartbeat period is no reason to refuse to start.
	if err := n.members.beat(ctx, n.cfg.Expiry); err != nil {
		n.claims.unsubscribe()
		if n.moves != nil {
			n.moves.unsubscribe()
		}
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.goRun(func() { n.members.heartbeatLoop(runCtx) })
	n.goRun(func() { n.members.watchLoop(runCtx) })
	n.goRun(func() { n.listing.watchLoop(runCtx) })
	for _, ready := range []chan struct{}{n.members.ready, n.listing.ready} {
		select {
		case <-ready:
		case <-ctx.Done():
			n.halt()
			return fmt.Errorf("cannot read cluster %s: %w", n.cfg.Cluster, ctx.Err())
		}
	}
	c := &controller{n: n}
	c.apply(runCtx, n.members.members(), time.Now(), true)
	n.goRun(func() { c.run(runCtx) })
	n.cfg.Logger.Info("joined cluster", "cluster", n.cfg.Cluster, "member", n.cfg.ID,
		"members", n.view.Load().assign.Members(), "replicas", n.cfg.Replicas)
	return nil
}

func (n *Node) buckets(ctx context.Context) (members, markets jetstream.KeyValue, err error) {
	members, err = n.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:         membersBucket(n.cfg.Cluster),
		Description:    "polyfeed cluster members: one key per live instance, rewritten every heartbeat",
		History:        1,
		TTL:            n.cfg.Expiry,
		LimitMarkerTTL: markerTTL,
		Storage:        jetstream.FileStorage,
		Replicas:       n.cfg.StorageReplicas,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("cannot create bucket %s: %w", membersBucket(n.cfg.Cluster), err)
	}
	markets, err = n.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      marketsBucket(n.cfg.Cluster),
		Description: "polyfeed cluster market listing: condition id -> market",
		History:     1,
		TTL:         n.cfg.ListingMaxAge,
		Storage:     jetstream.FileStorage,
		Replicas:    n.cfg.StorageReplicas,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("cannot create bucket %s: %w", marketsBucket(n.cfg.Cluster), err)
	}
	return members, markets, nil
}

func (n *Node) goRun(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

func (n *Node) halt() {
	if n.cancel != nil {
		n.cancel()
	}
	n.wg.Wait()
	if n.handovers != nil {
		n.handovers.stop()
	}
	if n.claims != nil {
		n.claims.unsubscribe()
	}
	if n.moves != nil {
		n.moves.unsubscribe()
	}
}

// Drain hands every market this member publishes to the others before it
// leaves: it announces that it is leaving, keeps publishing each market until
// the new publisher's book is on the stream (or HandoverTimeout), and
// returns when none is left or ctx ends. Roles are RoleNone afterwards; call
// Stop next.
func (n *Node) Drain(ctx context.Context) error {
	if !n.started.Load() || n.stopped.Load() {
		return errors.New("cannot drain cluster node: not running")
	}
	n.members.draining.Store(true)
	_ = n.members.beat(ctx, n.cfg.Heartbeat) // counted and logged; the others also see us go at Stop
	select {
	case n.drainCh <- struct{}{}:
	default:
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		v := n.view.Load()
		if len(v.releasing) == 0 && !slices.Contains(v.assign.Members(), n.cfg.ID) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cannot drain cluster node: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// Stop leaves the cluster: it stops the heartbeat, watches and handovers and
// deletes this member's key so the others take its markets at once. It is
// idempotent; ctx bounds the delete.
func (n *Node) Stop(ctx context.Context) error {
	if !n.started.Load() || n.stopped.Swap(true) {
		return nil
	}
	n.halt()
	if err := n.members.leave(ctx); err != nil {
		return err
	}
	n.cfg.Logger.Info("left cluster", "cluster", n.cfg.Cluster, "member", n.cfg.ID)
	return nil
}

// controller turns member-set changes into roles. It runs on one goroutine;
// its fields are its own.
type controller struct {
	n         *Node
	holdUntil time.Time
	pending   []string
	since     time.Time // when pending last changed
	first     time.Time // when pending first differed from the view
}

func (c *controller) run(ctx context.Context) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.n.drainCh:
			c.apply(ctx, c.n.members.members(), time.Now(), false)
		case <-c.n.wakeCh:
			c.step(ctx, time.Now())
		case <-t.C:
			if c.n.listingDirty.Swap(false) {
				c.n.notify()
			}
			c.step(ctx, time.Now())
		}
	}
}

// step is the controller's rule:
//   - while NATS or the heartbeat is down, nothing changes (frozen);
//   - when it returns, nothing changes for ReconnectHold while the members'
//     heartbeats come back;
//   - otherwise a new member set is acted on once it has been stable for
//     Settle (or changing for 5×Settle, so churn cannot starve it).
func (c *controller) step(ctx context.Context, now time.Time) {
	n := c.n
	down := !n.nc.IsConnected() || n.members.failing.Load()
	if down {
		if !n.frozen.Swap(true) {
			n.freezes.Add(1)
			n.cfg.Logger.Warn("cluster frozen: NATS unreachable; keeping every market", "member", n.cfg.ID)
		}
		c.finishHandovers(now, true)
		return
	}
	if n.frozen.Swap(false) {
		c.holdUntil = now.Add(n.cfg.ReconnectHold)
		n.handovers.extend(now)
		n.cfg.Logger.Info("cluster thawing: NATS is back; holding the assignment while heartbeats return",
			"member", n.cfg.ID, "hold", n.cfg.ReconnectHold)
	}
	holding := now.Before(c.holdUntil)
	c.finishHandovers(now, holding)
	if holding {
		return
	}
	n.handovers.reannounce(now)
	n.claims.resolve(n.view.Load(), now)
	if n.moves != nil {
		n.moves.resolve(n.view.Load(), now)
	}
	ms := n.members.members()
	cur := n.view.Load().assign.Members()
	if slices.Equal(ms, cur) {
		c.pending = nil
		return
	}
	if !slices.Equal(ms, c.pending) {
		if c.pending == nil {
			c.first = now
		}
		c.pending, c.since = ms, now
	}
	if now.Sub(c.since) >= n.cfg.Settle || now.Sub(c.first) >= 5*n.cfg.Settle {
		c.apply(ctx, ms, now, false)
		c.pending = nil
	}
}

// apply moves to a new member set: markets this member stops publishing are
// handed over (still published, RoleReleasing), markets it gains are counted.
func (c *controller) apply(ctx context.Context, members []string, now time.Time, initial bool) {
	n := c.n
	old := n.view.Load()
	next := &view{
		gen:       old.gen + 1,
		assign:    NewAssignment(members, n.cfg.Replicas),
		releasing: maps.Clone(old.releasing),
		self:      n.cfg.ID,
	}
	if next.releasing == nil {
		next.releasing = map[string]bool{}
	}
	type start struct {
		cid    string
		assets []string
	}
	var starts []start
	gained := 0
	for _, m := range n.listing.snapshot() {
		was := old.role(m.ConditionID)
		wasPub := was == RolePublisher || was == RoleReleasing
		if next.assign.Rank(m.ConditionID, n.cfg.ID) == 0 {
			if next.releasing[m.ConditionID] {
				delete(next.releasing, m.ConditionID)
				n.handovers.cancel(m.ConditionID)
			}
			if !wasPub && !initial {
				gained++
			}
			continue
		}
		// With no member left to take it (the last one drains), there is
		// nobody to wait for.
		if wasPub && !initial && len(members) > 0 && !next.releasing[m.ConditionID] {
			next.releasing[m.ConditionID] = true
			starts = append(starts, start{m.ConditionID, m.AssetIDs})
		}
	}
	n.view.Store(next)
	n.notify()
	n.handoversIn.Add(uint64(gained))
	if !initial || len(old.assign.Members()) > 1 {
		joined, left := diff(old.assign.Members(), members)
		n.membershipChanges.Add(1)
		n.lastChange.Store(&change{at: now, joined: joined, left: left, members: members, marketsMovedIn: gained})
		n.cfg.Logger.Info("cluster membership changed", "member", n.cfg.ID, "members", members,
			"joined", joined, "left", left, "gained", gained, "handing_over", len(starts))
	}
	failed, firstErr := 0, error(nil)
	since := time.Time{}
	if ns := n.members.changedAt.Load(); ns != 0 {
		since = time.Unix(0, ns)
	}
	for _, s := range starts {
		if err := n.handovers.start(ctx, s.cid, s.assets, now, since); err != nil {
			failed++
			firstErr = err
		}
	}
	if failed > 0 {
		n.cfg.Logger.Warn("cannot watch handovers; they end at their timeout", "markets", failed, "err", firstErr)
	}
}

// finishHandovers ends the handovers that completed (or timed out) and drops
// those markets from the releasing set.
func (c *controller) finishHandovers(now time.Time, frozen bool) {
	n := c.n
	done, timedOut, took := n.handovers.collect(now, frozen)
	if len(done)+len(timedOut) == 0 {
		return
	}
	old := n.view.Load()
	next := *old
	next.gen++
	next.releasing = maps.Clone(old.releasing)
	for _, cid := range slices.Concat(done, timedOut) {
		delete(next.releasing, cid)
	}
	n.view.Store(&next)
	n.notify()
	n.handoversOut.Add(uint64(len(done) + len(timedOut)))
	n.handoverTimeouts.Add(uint64(len(timedOut)))
	for _, d := range took {
		if ms := d.Milliseconds(); ms > n.handoverMaxMs.Load() {
			n.handoverMaxMs.Store(ms)
		}
	}
	if len(timedOut) > 0 {
		n.cfg.Logger.Warn("handovers timed out: no book from the new publisher; stopped publishing anyway",
			"member", n.cfg.ID, "markets", len(timedOut), "example", timedOut[0])
	}
}

// diff returns the ids in b and not in a (joined) and in a and not in b
// (left); both inputs are sorted.
func diff(a, b []string) (joined, left []string) {
	for _, id := range b {
		if _, ok := slices.BinarySearch(a, id); !ok {
			joined = append(joined, id)
		}
	}
	for _, id := range a {
		if _, ok := slices.BinarySearch(b, id); !ok {
			left = append(left, id)
		}
	}
	return joined, left
}
