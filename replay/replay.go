// Package replay feeds a recording through an engine: frames into its
// FrameSink, recorded socket losses and book drops into the same data path,
// at the recorded pace, a multiple of it, or as fast as the engine goes.
//
// Connection ids are unique only within one recording session, so each
// session's ids are mapped to ids of their own; a new session (a restart of
// the recording process) invalidates every book of the previous one, and so
// does a gap (the recorder dropped frames there).
//
// Concurrency: Run feeds from the caller's goroutine and returns when the
// recording ends or ctx does; Stats may be called from any goroutine.
package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/polyfeed/polyfeed/engine"
	"github.com/polyfeed/polyfeed/engine/venue"
	"github.com/polyfeed/polyfeed/internal/mono"
	"github.com/polyfeed/polyfeed/record"
)

// Engine is what a replay drives; *engine.App implements it.
type Engine interface {
	FrameSink() venue.FrameSink
	InvalidateConn(connID int64)
	DropBooks(assetIDs []string)
	BeginMigration(assetIDs []string, from int64) *engine.Migration
	FinishMigration(m *engine.Migration) engine.MigrationResult
	AbortMigration(m *engine.Migration) engine.MigrationResult
	RollbackMigration(m *engine.Migration) engine.MigrationResult
}

// InboundBytes is the inbound queue bound (engine.Config.InboundBytes) an
// engine fed by a replay should have: the engine's minimum. At --speed max
// the replay fills whatever bound the engine has, as the router is slower
// than the reader; with the live default (64 MiB, room for a startup dump
// of 10,000 markets) every frame waits behind 64 MiB of others, the router
// reads it back from memory rather than the cache, and the queue's growth
// to 64 MiB, twice, is most of a short replay's allocation. At 1 MiB (a few
// thousand frames) the reader waits once per router swap, not per frame.
// Measured in PERFORMANCE.md (BenchmarkReplay).
const InboundBytes = 1 << 20

// Config configures Run.
type Config struct {
	// Speed is the pace: 1 replays in recorded time, 10 ten times faster,
	// 0 (max) as fast as the engine takes frames.
	Speed float64
	// OnRecord, when set, sees every record after it was applied, on Run's
	// goroutine (a mark, a listing, a subscribe...). The record is valid
	// only during the call. A consumer may read books here: a book read
	// travels the data path behind the frames fed before it.
	OnRecord func(*record.Record)
	// Hold, when set, holds the first frame until it is closed (a venue
	// waits for its first subscriber); pacing starts from there.
	Hold <-chan struct{}
}

// Stats counts what a replay fed.
type Stats struct {
	Records, Frames, Bytes   uint64
	Sessions, Closes, Drops  uint64
	Gaps, GapRecords, Listed uint64
	// At is the recorded time (Unix ns) of the last record fed.
	At int64
}

// Replayer replays one recording. Create with New; Run once.
type Replayer struct {
	cfg Config
	eng Engine
	r   *record.Reader

	// sessionIdx is the index of the current session; Run's goroutine only.
	sessionIdx int64

	records, frames, bytes  atomic.Uint64
	sessions, closes, drops atomic.Uint64
	gaps, gapRecords, lists atomic.Uint64
	at                      atomic.Int64
}

// New returns a Replayer of r into eng.
func New(r *record.Reader, eng Engine, cfg Config) (*Replayer, error) {
	if cfg.Speed < 0 || cfg.Speed != cfg.Speed {
		return nil, fmt.Errorf("cannot replay at speed %v", cfg.Speed)
	}
	return &Replayer{cfg: cfg, eng: eng, r: r}, nil
}

// ParseSpeed parses "max" (0) or a positive factor such as "1" or "10".
func ParseSpeed(s string) (float64, error) {
	if s == "max" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f > 0 && f <= 1e6) {
		return 0, fmt.Errorf("cannot parse speed %q: want max or a factor such as 1 or 10", s)
	}
	return f, nil
}

// Run feeds the whole recording (between the reader's bounds) and returns
// nil at its end, or ctx's error.
func (p *Replayer) Run(ctx context.Context) error {
	sink := p.eng.FrameSink()
	var (
		session uint64
		conns   = map[int64]struct{}{}          // ids fed in the current session
		migs    = map[int64]*engine.Migration{} // by the connection moved off
		t0      int64
		w0      time.Time
		held    = p.cfg.Hold == nil
	)
	p.sessionIdx = -1
	invalidateAll := func() {
		for id := range conns {
			p.eng.InvalidateConn(id)
		}
	}
	id := p.ConnID
	for n := 0; ; n++ {
		if n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		rec, err := p.r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("cannot read recording: %w", err)
		}
		if !held && rec.Kind == record.KindFrame {
			select {
			case <-p.cfg.Hold:
			case <-ctx.Done():
				return ctx.Err()
			}
			held, t0 = true, 0
		}
		if p.cfg.Speed > 0 && held {
			if t0 == 0 {
				t0, w0 = rec.Time, time.Now()
			} else if err := waitUntil(ctx, w0.Add(time.Duration(float64(rec.Time-t0)/p.cfg.Speed))); err != nil {
				return err
			}
		}
		switch rec.Kind {
		case record.KindSession:
			if p.sessionIdx < 0 || rec.Session != session {
				invalidateAll()
				clear(conns)
				session = rec.Session
				p.sessionIdx++
				p.sessions.Add(1)
			}
		case record.KindFrame:
			c := id(rec.Conn)
			conns[c] = struct{}{}
			sink(c, rec.Frame, mono.Now())
			p.frames.Add(1)
			p.bytes.Add(uint64(len(rec.Frame)))
		case record.KindClose:
			p.eng.InvalidateConn(id(rec.Conn))
			p.closes.Add(1)
		case record.KindDrop:
			p.eng.DropBooks(slices.Clone(rec.Assets)) // kept by the engine; the reader reuses its slices
			p.drops.Add(1)
		case record.KindMigrate:
			migs[id(rec.Conn)] = p.eng.BeginMigration(slices.Clone(rec.Assets), id(rec.Conn))
		case record.KindMigrateEnd:
			if m := migs[id(rec.Conn)]; m != nil {
				delete(migs, id(rec.Conn))
				switch rec.End {
				case record.EndAbort:
					p.eng.AbortMigration(m)
				case record.EndRollback:
					p.eng.RollbackMigration(m)
				default:
					p.eng.FinishMigration(m)
				}
			}
		case record.KindGap:
			// Frames were lost here: no book can be trusted until its next
			// snapshot.
			invalidateAll()
			p.gaps.Add(1)
			p.gapRecords.Add(rec.Dropped)
		case record.KindListing:
			p.lists.Add(1)
		}
		p.records.Add(1)
		p.at.Store(rec.Time)
		if p.cfg.OnRecord != nil {
			p.cfg.OnRecord(rec)
		}
	}
}

// ConnID is the engine connection id Run gives recorded connection conn of
// the current session. For OnRecord, on Run's goroutine.
func (p *Replayer) ConnID(conn int64) int64 { return max(p.sessionIdx, 0)<<40 | conn }

// waitUntil sleeps until t, or returns ctx's error.
func waitUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d < time.Millisecond {
		return nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// Stats returns the counters so far.
func (p *Replayer) Stats() Stats {
	return Stats{
		Records: p.records.Load(), Frames: p.frames.Load(), Bytes: p.bytes.Load(),
		Sessions: p.sessions.Load(), Closes: p.closes.Load(), Drops: p.drops.Load(),
		Gaps: p.gaps.Load(), GapRecords: p.gapRecords.Load(), Listed: p.lists.Load(), At: p.at.Load(),
	}
}

// ErrNoRecording is returned by Check for a directory with no files.
var ErrNoRecording = errors.New("no recording files")
