// Package recycle replaces sick or polluted connections without losing an event: it opens a
// replacement carrying the same live assets, lets the data path switch each asset over once
// the new connection's stream is aligned with the old one (make before break), then closes
// the old connection.
//
// Concurrency: every exported Recycler method is safe for concurrent use; see Recycler.
package recycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/polyfeed/polyfeed/engine/assets"
	"github.com/polyfeed/polyfeed/engine/venue"
	"github.com/polyfeed/polyfeed/internal/fill"
	"github.com/polyfeed/polyfeed/internal/runner"
)

// Recycle reasons, as counted in Stats.ByReason. Stable strings, fit for metric labels.
const (
	ReasonPollution       = "pollution"          // share of carried assets that are not live ≥ PollutionThreshold
	ReasonMaxAge          = "max_age"            // older than MaxAge
	ReasonStall           = "stall"              // no data frame for StallTimeout while carrying live assets
	ReasonReconnects      = "reconnect_failures" // MaxDialFailures failed dials since it was last connected
	ReasonSnapshotTimeout = "snapshot_timeout"   // a live asset without its first snapshot for SnapshotTimeout
	ReasonManual          = "manual"             // ForceRecycle
)

// ErrBusy is returned by ForceRecycle when MaxConcurrent recycles are running or the
// connection is already being recycled.
var ErrBusy = errors.New("recycle busy")

// Pool is what the recycler needs from the connection pool; *venue.Pool implements it.
type Pool interface {
	OpenConn(ids []string) (*venue.Conn, error)
	CloseConn(ctx context.Context, id int64) error
	Conns() []*venue.Conn
	Conn(id int64) (*venue.Conn, bool)
	// SetRecycling marks a connection as being recycled (it takes no new assets) or
	// kept after all.
	SetRecycling(id int64, on bool)
}

// Migration is an announced migration as the recycler watches it.
type Migration interface {
	// Pending is the number of assets not yet switched to the replacement.
	Pending() int
	// Done is closed once every asset switched.
	Done() <-chan struct{}
}

// Mover is the make-before-break protocol of the data path as the recycler drives it: the
// engine adapts its migrations to it.
type Mover interface {
	// Begin announces that ids move from connection from to a replacement.
	Begin(ids []string, from int64) Migration
	// Finish ends a migration whose replacement took over.
	Finish(m Migration) Result
	// Abort gives up a migration whose replacement never opened: nothing can have switched.
	Abort(m Migration) Result
	// Rollback gives up a migration whose replacement was closed, and may have delivered
	// first: assets that switched to it go back to the old connection, invalidated and
	// resynced; the others stay with the old connection untouched.
	Rollback(m Migration) Result
}

// Result is how a finished migration ended: assets that switched once the new connection's
// stream was aligned with the old one's (Switched), were switched by force at the end (Forced), or got no snapshot from the
// new connection (Missing: invalidated and resynced by the data path).
type Result struct{ Switched, Forced, Missing int }

// Config configures a Recycler. Zero fields take the documented defaults in
// New.
type Config struct {
	// CheckInterval is the time between two health checks of every connection. Default 10 s.
	CheckInterval time.Duration
	// PollutionThreshold: a connection whose carried assets are at least this share not live
	// (expired, or no longer known to the registry) is replaced. Default 0.30.
	PollutionThreshold float64
	// MinAge: the pollution trigger waits until a connection is this old, so a connection is
	// not replaced over a burst of expiries right after it opened. Default 300 s.
	MinAge time.Duration
	// MaxAge: a connection older than this is replaced. Default 24 h.
	MaxAge time.Duration
	// StallTimeout: a connected socket carrying live assets with no data frame for this long
	// is replaced. PONGs keep coming on a silently stalled socket, so only data counts.
	// Default 60 s.
	StallTimeout time.Duration
	// MaxDialFailures: a connection that failed this many dials since it was last seen
	// connected is replaced. Default 5.
	MaxDialFailures int
	// SnapshotTimeout: a live asset that got no snapshot for this long after its (re)subscribe
	// makes its connection be replaced. An asset still without one after a recycle is not
	// counted again (the venue sends nothing for some ids). Default 60 s.
	SnapshotTimeout time.Duration
	// Stabilization is how long a recycle waits for the assets to switch to the replacement
	// before finishing it. While snapshots are still arriving the wait extends, up to
	// MaxStabilization. Defaults 3 s and 10 s.
	Stabilization, MaxStabilization time.Duration
	// MaxConcurrent is the number of recycles allowed at once. Default 2.
	MaxConcurrent int
	// CloseTimeout bounds closing a connection (the old one, or the new one on rollback).
	// Default 10 s.
	CloseTimeout time.Duration
	// Now is the clock the triggers compare connection times with. Default time.Now.
	Now func() time.Time
	// Logger receives one line per recycle. Default: discard.
	Logger *slog.Logger
}

func (c *Config) fill() {
	fill.Positive(&c.CheckInterval, 10*time.Second)
	fill.Positive(&c.PollutionThreshold, 0.30)
	fill.Positive(&c.MinAge, 300*time.Second)
	fill.Positive(&c.MaxAge, 24*time.Hour)
	fill.Positive(&c.StallTimeout, 60*time.Second)
	fill.Positive(&c.MaxDialFailures, 5)
	fill.Positive(&c.SnapshotTimeout, 60*time.Second)
	fill.Positive(&c.Stabilization, 3*time.Second)
	if c.MaxStabilization < c.Stabilization {
		c.MaxStabilization = max(10*time.Second, c.Stabilization)
	}
	fill.Positive(&c.MaxConcurrent, 2)
	fill.Positive(&c.CloseTimeout, 10*time.Second)
	fill.Clock(&c.Now)
	fill.Logger(&c.Logger)
}

// Stats is a point-in-time view of the recycler.
type Stats struct {
	// Completed counts recycles that replaced their connection; Failed those that kept it
	// (rolled back); Active those running now.
	Completed uint64 `json:"recycles_completed"`
	Failed    uint64 `json:"recycles_failed"`
	Active    int    `json:"active_recycles"`
	// AssetsMigrated counts assets moved to a replacement; of them, Switched, Forced and
	// Missing as reported by the data path (see FinishMigration).
	AssetsMigrated uint64 `json:"markets_migrated"`
	Switched       uint64 `json:"assets_switched"`
	Forced         uint64 `json:"assets_forced"`
	Missing        uint64 `json:"assets_missing"`
	// ByReason counts recycles started per trigger; LastReason, LastRecycle and LastError
	// describe the last one to end.
	ByReason    map[string]uint64 `json:"by_reason"`
	LastReason  string            `json:"last_reason,omitempty"`
	LastRecycle time.Time         `json:"last_recycle"`
	LastError   string            `json:"last_error,omitempty"`
}

// connView is what the triggers look at for one connection.
type connView struct {
	ID             int64
	Status         venue.ConnStatus
	CreatedAt      time.Time
	ConnectedSince time.Time // zero while not connected
	LastData       time.Time // zero: never
	DialFailures   uint64
	Carried        int      // assets on the socket
	Active         int      // of them SUBSCRIBED on this connection in the registry
	Awaiting       []string // live assets with no snapshot since their (re)subscribe
}

// connState is what the recycler remembers about one connection between checks.
type connState struct {
	dialBase     uint64               // DialFailures when last seen connected
	awaitingFrom map[string]time.Time // first check that saw the asset awaiting
}

// Recycler replaces connections that went bad (polluted, too old, stalled, failing to
// reconnect, or starving assets of snapshots), make before break:
//
//  1. ids := the connection's live assets (registry SUBSCRIBED on it);
//  2. announce the migration to the data path (BeginMigration), before any frame of the
//     replacement can arrive;
//  3. open the replacement carrying ids (venue.Pool.OpenConn);
//  4. wait until every asset switched (the new socket's stream was aligned with the old
//     one's, event by event) or Stabilization passed; the wait extends while assets keep switching, up to
//     MaxStabilization;
//  5. FinishMigration: stragglers with a snapshot switch by force, assets without one are
//     resynced by the data path;
//  6. Reassign each asset old → new in the registry; assets that expired meanwhile stay with
//     the old connection and are unsubscribed from the new one;
//  7. close the old connection (venue.Pool.CloseConn).
//
// While it is recycled the old connection takes no new assets from the pool (SetRecycling):
// an asset placed on it after step 1 would be left behind when it closes.
//
// Rollback: if OpenConn fails, or the replacement delivered no data frame at all by the end of
// the wait (it never connected), or Stop interrupts the wait before the replacement delivered
// anything, the replacement is closed first, then the migration rolled back and the old
// connection kept; the recycle counts as failed. A frame of the replacement may slip in while
// it closes and switch assets to it: the rollback hands those back to the old connection,
// which still carries them, invalidated and resynced (Mover.Rollback), so no book is left
// owned by a closed socket. Once the replacement delivered data before the close, the recycle
// goes forward.
//
// Concurrency: every exported method is safe for concurrent use. Start launches the check loop;
// each recycle runs on its own goroutine, at most MaxConcurrent at once; Stop cancels the loop
// and running recycles and waits for all of them.
type Recycler struct {
	cfg  Config
	reg  *assets.Registry
	pool Pool
	mig  Mover
	log  *slog.Logger

	slots chan struct{} // capacity MaxConcurrent: one token per running recycle

	mu     sync.Mutex
	busy   map[int64]bool // connections being recycled, old and new
	conns  map[int64]*connState
	noSnap map[string]bool // assets still without a snapshot after a recycle: not counted again
	st     Stats

	group  runner.Group  // owns the loop and every recycle; Stop cancels its context
	checks atomic.Uint64 // health-check passes, for tests
}

// New returns a recycler of pool's connections that is not started yet. mv is the data
// path's make-before-break protocol, which switches each asset over without loss. reg, pool
// and mv must not be nil.
func New(cfg Config, reg *assets.Registry, pool Pool, mv Mover) *Recycler {
	cfg.fill()
	if reg == nil || pool == nil || mv == nil {
		panic("recycle: New needs a registry, a pool and a migrator")
	}
	r := &Recycler{
		cfg:    cfg,
		reg:    reg,
		pool:   pool,
		mig:    mv,
		log:    cfg.Logger,
		slots:  make(chan struct{}, cfg.MaxConcurrent),
		busy:   make(map[int64]bool),
		conns:  make(map[int64]*connState),
		noSnap: make(map[string]bool),
	}
	r.st.ByReason = make(map[string]uint64)
	return r
}

// Start launches the check loop. ctx only guards the call. Start may be called once.
func (r *Recycler) Start(ctx context.Context) error {
	return r.group.Start(ctx, r.loop)
}

// Stop ends the check loop, interrupts running recycles (each rolls back or completes as
// described on Recycler) and waits for them, bounded by ctx. Idempotent.
func (r *Recycler) Stop(ctx context.Context) error {
	r.group.Stop()
	if err := r.group.Wait(ctx); err != nil {
		return ctx.Err() // the caller names the recycler
	}
	return nil
}

func (r *Recycler) loop(ctx context.Context) {
	t := time.NewTicker(r.cfg.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.check()
		}
	}
}

// ForceRecycle recycles connection connID now and returns when the recycle ended: nil when it
// was replaced, an error when it was kept (rolled back), is unknown, or is already being
// recycled, or when MaxConcurrent recycles are running (ErrBusy).
func (r *Recycler) ForceRecycle(connID int64) error {
	c, ok := r.pool.Conn(connID)
	if !ok {
		return fmt.Errorf("cannot recycle connection %d: not in the pool", connID)
	}
	if !r.acquire(connID) {
		return fmt.Errorf("cannot recycle connection %d: %w", connID, ErrBusy)
	}
	if _, ok := r.group.Add(); !ok {
		r.release(connID)
		return fmt.Errorf("cannot recycle connection %d: recycler stopped", connID)
	}
	defer r.group.Done()
	return r.recycle(c, ReasonManual)
}

// acquire takes a recycle slot for connID; false if none is free or connID is busy.
func (r *Recycler) acquire(connID int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.busy[connID] {
		return false
	}
	select {
	case r.slots <- struct{}{}:
	default:
		return false
	}
	r.busy[connID] = true
	r.st.Active++
	return true
}

func (r *Recycler) release(connID int64) {
	r.mu.Lock()
	delete(r.busy, connID)
	r.st.Active--
	r.mu.Unlock()
	<-r.slots
}

// check judges every connection and starts a recycle for each triggered one while slots are
// free.
func (r *Recycler) check() {
	r.checks.Add(1)
	now := r.cfg.Now()
	seen := make(map[int64]bool)
	for _, c := range r.pool.Conns() {
		id := c.ID()
		seen[id] = true
		r.mu.Lock()
		busy := r.busy[id]
		r.mu.Unlock()
		if busy {
			continue
		}
		reason := r.judge(now, r.view(c))
		if reason == "" {
			continue
		}
		if !r.acquire(id) {
			continue // no slot (or raced with ForceRecycle): the next check retries
		}
		if !r.group.Go(func(context.Context) { _ = r.recycle(c, reason) }) {
			r.release(id)
			return
		}
	}
	r.mu.Lock()
	for id := range r.conns {
		if !seen[id] {
			delete(r.conns, id)
		}
	}
	for id := range r.noSnap {
		// Only live assets can starve again: an expired or removed one is forgotten.
		if e, ok := r.reg.Get(id); !ok || e.State != assets.StateSubscribed {
			delete(r.noSnap, id)
		}
	}
	r.mu.Unlock()
}

// view reads a connection's state for the triggers.
func (r *Recycler) view(c *venue.Conn) connView {
	st := c.Stats()
	v := connView{
		ID: c.ID(), Status: st.Status, CreatedAt: st.CreatedAt, ConnectedSince: st.ConnectedSince,
		LastData: st.LastData, DialFailures: st.DialFailures, Carried: st.Assets,
		Active: r.reg.ConnStats(c.ID()).Active,
	}
	if st.AwaitingSnapshot > 0 {
		for _, id := range c.AwaitingSnapshot() {
			if e, ok := r.reg.Get(id); ok && e.State == assets.StateSubscribed && e.ConnID == c.ID() {
				v.Awaiting = append(v.Awaiting, id)
			}
		}
	}
	return v
}

// judge returns the reason to recycle the connection, or "". It updates the per-connection
// memory (dial failure base, first time each asset was seen awaiting its snapshot).
func (r *Recycler) judge(now time.Time, v connView) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs := r.conns[v.ID]
	if cs == nil {
		cs = &connState{dialBase: v.DialFailures, awaitingFrom: make(map[string]time.Time)}
		r.conns[v.ID] = cs
	}
	age := now.Sub(v.CreatedAt)
	if age >= r.cfg.MaxAge {
		return ReasonMaxAge
	}
	if v.Status != venue.ConnConnected {
		clear(cs.awaitingFrom) // a reconnect resubscribes everything: snapshots start over
		if v.Active > 0 && v.DialFailures-cs.dialBase >= uint64(r.cfg.MaxDialFailures) {
			return ReasonReconnects
		}
		return ""
	}
	cs.dialBase = v.DialFailures
	if v.Carried > 0 && age >= r.cfg.MinAge {
		if stale := float64(max(v.Carried-v.Active, 0)) / float64(v.Carried); stale >= r.cfg.PollutionThreshold {
			return ReasonPollution
		}
	}
	if v.Active > 0 {
		last := v.LastData
		if v.ConnectedSince.After(last) {
			last = v.ConnectedSince
		}
		if now.Sub(last) >= r.cfg.StallTimeout {
			return ReasonStall
		}
	}
	starved := false
	waiting := make(map[string]bool, len(v.Awaiting))
	for _, id := range v.Awaiting {
		waiting[id] = true
		if r.noSnap[id] {
			continue
		}
		from, ok := cs.awaitingFrom[id]
		if !ok {
			cs.awaitingFrom[id] = now
			continue
		}
		if now.Sub(from) >= r.cfg.SnapshotTimeout {
			starved = true
		}
	}
	for id := range cs.awaitingFrom {
		if !waiting[id] {
			delete(cs.awaitingFrom, id)
		}
	}
	if starved {
		return ReasonSnapshotTimeout
	}
	return ""
}

// recycle replaces old; the caller holds its slot, which recycle releases.
func (r *Recycler) recycle(old *venue.Conn, reason string) (err error) {
	oldID := old.ID()
	r.mu.Lock()
	r.st.ByReason[reason]++
	r.mu.Unlock()
	var moved int
	var res Result
	var newID int64
	defer func() {
		r.mu.Lock()
		if err == nil {
			r.st.Completed++
			r.st.AssetsMigrated += uint64(moved)
			r.st.LastError = ""
		} else {
			r.st.Failed++
			r.st.LastError = err.Error()
		}
		r.st.Switched += uint64(res.Switched)
		r.st.Forced += uint64(res.Forced)
		r.st.Missing += uint64(res.Missing)
		r.st.LastReason, r.st.LastRecycle = reason, r.cfg.Now()
		delete(r.conns, oldID)
		if newID != 0 {
			delete(r.busy, newID)
		}
		r.mu.Unlock()
		r.release(oldID)
		if err != nil {
			r.log.Warn("cannot recycle connection", "conn", oldID, "reason", reason, "err", err)
		} else {
			r.log.Info("recycled connection", "conn", oldID, "new_conn", newID, "reason", reason,
				"assets", moved, "switched", res.Switched, "forced", res.Forced, "missing", res.Missing)
		}
	}()

	// From here the pool tops up other connections only; once SetRecycling returns no top-up
	// of old is in flight, so ids is all it carries live.
	r.pool.SetRecycling(oldID, true)
	defer func() {
		if err != nil {
			r.pool.SetRecycling(oldID, false) // kept: it may take assets again
		}
	}()
	ids := r.reg.ActiveByConnection(oldID)
	if len(ids) == 0 {
		// Nothing live to move (everything expired): just drop the socket.
		if err := r.closeConn(oldID); err != nil {
			return fmt.Errorf("cannot close connection %d: %w", oldID, err)
		}
		return nil
	}
	m := r.mig.Begin(ids, oldID)
	nc, err := r.pool.OpenConn(ids)
	if err != nil {
		res = r.mig.Abort(m)
		return fmt.Errorf("cannot open replacement for connection %d: %w", oldID, err)
	}
	newID = nc.ID()
	r.mu.Lock()
	r.busy[newID] = true // not judged while it settles
	r.mu.Unlock()

	interrupted := !r.stabilize(m, len(ids))
	if nc.Stats().Messages == 0 {
		// The replacement delivered nothing: roll back. It is closed before the migration
		// ends, so no frame of it can follow; one that slipped in while it closed may have
		// switched assets, which the rollback hands back to the old connection.
		cerr := r.closeConn(newID)
		why := "delivered no data"
		switch {
		case nc.Stats().Messages > 0:
			why = "delivered only while closing"
		case interrupted:
			why = "interrupted"
		}
		res = r.mig.Rollback(m)
		return errors.Join(fmt.Errorf("cannot recycle connection %d: replacement %d %s", oldID, newID, why), cerr)
	}
	res = r.mig.Finish(m)

	var stay []string
	for _, id := range ids {
		if r.reg.Reassign(id, oldID, newID) {
			moved++
		} else {
			stay = append(stay, id)
		}
	}
	if len(stay) > 0 {
		// Expired (or removed) during the migration: not the replacement's to carry.
		_ = nc.Unsubscribe(stay)
	}
	r.mu.Lock()
	for _, id := range ids {
		if !nc.SnapshotSeen(id) {
			r.noSnap[id] = true
		} else {
			delete(r.noSnap, id)
		}
	}
	r.mu.Unlock()
	if err := r.closeConn(oldID); err != nil {
		// The replacement carries everything already; the old socket is gone from the pool.
		r.log.Warn("cannot close replaced connection cleanly", "conn", oldID, "err", err)
	}
	return nil
}

// stabilize waits for the migration to settle: until every asset switched, or Stabilization
// passed with no asset switching in the last poll, or MaxStabilization passed. It returns
// false if Stop interrupted it.
//
// It measures elapsed time with the monotonic clock rather than Config.Now on purpose: the
// wait is paced by a real ticker, and a hand-moved test clock would never end it. Config.Now
// is for comparing connection times (age, stall, snapshot wait).
func (r *Recycler) stabilize(m Migration, total int) bool {
	const poll = 50 * time.Millisecond
	start := time.Now()
	t := time.NewTicker(poll)
	defer t.Stop()
	last := total
	stopped := r.group.Context().Done()
	for {
		select {
		case <-m.Done():
			return true
		case <-stopped:
			return false
		case <-t.C:
		}
		p := m.Pending()
		progress := p < last
		last = p
		el := time.Since(start)
		if el >= r.cfg.MaxStabilization || (el >= r.cfg.Stabilization && !progress) {
			return true
		}
	}
}

// closeConn closes a connection of the pool, bounded by CloseTimeout (not by Stop: a socket
// half-closed would leak its goroutines).
func (r *Recycler) closeConn(id int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.CloseTimeout)
	defer cancel()
	return r.pool.CloseConn(ctx, id)
}

// Stats returns a snapshot of the recycler's counters.
func (r *Recycler) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.st
	st.ByReason = make(map[string]uint64, len(r.st.ByReason))
	for k, v := range r.st.ByReason {
		st.ByReason[k] = v
	}
	return st
}
