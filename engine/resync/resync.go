// Package resync schedules requests for fresh snapshots of assets whose books
// can no longer be trusted (a dropped or skipped event, a tick-size change, a
// silence longer than the staleness period). Requests are deduplicated while
// pending and taken in batches by whoever sends them to the venue.
//
// Resyncs of an asset whose snapshots are being rejected back off: while the
// asset's last snapshot was rejected (too large for the ring, an undecodable
// level), a request that comes soon after its previous resync (within twice
// its current backoff, or RepeatWindow) is a repeat, and repeats wait the
// minimum backoff, doubling up to the maximum after the previous one. A
// venue that answers the same way every time then costs one unsubscribe and
// subscribe every few minutes instead of four a second. Any other resync (a
// dropped event, a divergence, a silence) is due at once, however often it
// happened before: its cause is not the snapshot, and the book must come back
// as soon as the cause is gone. An accepted snapshot ends the backoff.
//
// Concurrency: every method of Scheduler is safe from any goroutine (one
// mutex); none is meant to be called per event.
package resync

import (
	"sync"
	"sync/atomic"
	"time"
)

const (
	// DefaultBackoffMin and DefaultBackoffMax bound a rejected asset's
	// backoff when New is given zero.
	DefaultBackoffMin = time.Second
	DefaultBackoffMax = 5 * time.Minute
	// RepeatWindow: a rejected asset's resync within this long of its
	// previous one (or twice its backoff, if longer) is a repeat.
	RepeatWindow = 10 * time.Second
)

// state is one asset's resync history. Guarded by Scheduler.mu.
type state struct {
	pending  bool
	repeats  int   // consecutive repeats; 0: the last resync was not one
	last     int64 // mono ns the last resync went out (0: never)
	due      int64 // mono ns the pending request may go out
	deferred bool  // the pending request waits for its backoff
	// rejected: the asset's last snapshot was rejected, so its resyncs
	// back off (set and cleared by SetRejected).
	rejected bool
}

// Scheduler holds the assets with a pending or recent resync.
type Scheduler struct {
	lo, hi   time.Duration
	mu       sync.Mutex
	assets   map[string]*state
	backoffs atomic.Uint64
}

// New returns a scheduler whose repeated resyncs back off from lo to hi
// (DefaultBackoffMin and DefaultBackoffMax where zero or negative).
func New(lo, hi time.Duration) *Scheduler {
	if lo <= 0 {
		lo = DefaultBackoffMin
	}
	if hi <= 0 {
		hi = DefaultBackoffMax
	}
	return &Scheduler{lo: lo, hi: hi, assets: make(map[string]*state)}
}

// backoff is how long the n-th consecutive repeat waits after the previous
// resync.
func backoff(n int, lo, hi time.Duration) int64 {
	if n <= 0 {
		return 0
	}
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	return int64(min(d, hi))
}

// Request records a resync request for assetID at now (mono ns). It reports
// whether the request is due at once, so the sender should be woken: false
// if one is already pending or this one waits for its backoff.
func (s *Scheduler) Request(assetID string, now int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.assets[assetID]
	if st == nil {
		st = &state{}
		s.assets[assetID] = st
	}
	if st.pending {
		return false
	}
	st.pending, st.due, st.deferred = true, now, false
	if st.rejected && st.last != 0 && now-st.last < max(2*backoff(st.repeats, s.lo, s.hi), int64(RepeatWindow)) {
		st.repeats++
		if due := st.last + backoff(st.repeats, s.lo, s.hi); due > now {
			st.due, st.deferred = due, true
			s.backoffs.Add(1)
		}
	} else {
		st.repeats = 0
	}
	return !st.deferred
}

// Due appends to ids the assets whose pending request is due at now (mono
// ns), marking them sent, and forgets assets whose last resync is long
// enough ago not to count as repeated.
func (s *Scheduler) Due(now int64, ids []string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, st := range s.assets {
		switch {
		case st.pending && st.due <= now:
			st.pending, st.last = false, now
			ids = append(ids, id)
		case !st.pending && !st.rejected && now-st.last > max(2*backoff(st.repeats, s.lo, s.hi), int64(RepeatWindow)):
			delete(s.assets, id)
		}
	}
	return ids
}

// NextDue reports when the earliest pending request is due (mono ns), and
// false when none is pending: the sender needs no timer then, since a request
// due at once wakes it (Request's result).
func (s *Scheduler) NextDue() (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next int64
	found := false
	for _, st := range s.assets {
		if st.pending && (!found || st.due < next) {
			next, found = st.due, true
		}
	}
	return next, found
}

// SetRejected marks whether assetID's snapshots are being rejected, which
// decides whether its resyncs back off; clearing it also forgets the
// repeats, so a later resync for another cause goes out promptly.
func (s *Scheduler) SetRejected(assetID string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.assets[assetID]
	if st == nil {
		if !on {
			return
		}
		st = &state{}
		s.assets[assetID] = st
	}
	st.rejected = on
	if !on {
		st.repeats = 0
	}
}

// Backoffs counts the requests held back by their asset's backoff.
func (s *Scheduler) Backoffs() uint64 { return s.backoffs.Load() }
