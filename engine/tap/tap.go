// Package tap is what a recorder sees of an engine: the Interface the engine
// calls with every frame, connection event, listing, book drop and migration
// step, and the adapters that put an Interface in front of the engine's
// frame sink, book drops and migrations (the engine wires them in New when
// Config.Tap is set).
//
// Concurrency: the adapters add no state of their own and are as safe as
// what they wrap; an Interface must be safe for concurrent use (see its
// contract).
package tap

import (
	"github.com/polyfeed/polyfeed/engine/markets"
	"github.com/polyfeed/polyfeed/engine/recycle"
	"github.com/polyfeed/polyfeed/engine/venue"
)

// Interface sees what the engine receives and does to its connections, for
// a recorder: every data frame, every socket opened, subscribe and
// unsubscribe written and socket lost, every Gamma listing, every book
// dropped and every migration step of a recycle.
//
// Contract: methods are called on the engine's own goroutines (OnFrame on a
// connection's read goroutine, per frame) and must return at once: queue,
// never wait. Arguments are valid only during the call; copy what you keep.
// OnFrame's recvNanos is the mono.Now() stamp the FrameSink gets. Calls for
// one connection are sequential and in the order the connection saw them.
type Interface interface {
	venue.Tap          // sockets opened, subscribes, unsubscribes, sockets lost
	markets.ListingTap // Gamma listings
	OnFrame(conn int64, frame []byte, recvNanos int64)
	OnDrop(assets []string)
	// OnMigrate and OnMigrateEnd: the recycler moves assets off connection
	// from (make before break), announced before the replacement
	// subscribes; OnMigrateEnd says how the move ended.
	OnMigrate(from int64, assets []string)
	OnMigrateEnd(from int64, assets []string, end MigrationEnd)
}

// Frames records each frame before handing it on. // hot path
func Frames(t Interface, next venue.FrameSink) venue.FrameSink {
	return func(conn int64, frame []byte, recv int64) {
		t.OnFrame(conn, frame, recv)
		next(conn, frame, recv)
	}
}

// Dropper forgets the books of assets (the engine's data path).
type Dropper interface{ DropBooks(assetIDs []string) }

// Drops records each drop before next applies it, so the drop lands after
// the frames it followed.
func Drops(t Interface, next Dropper) Dropper { return drops{t: t, next: next} }

type drops struct {
	t    Interface
	next Dropper
}

func (b drops) DropBooks(ids []string) {
	if len(ids) > 0 {
		b.t.OnDrop(ids)
	}
	b.next.DropBooks(ids)
}

// Migrations records each migration step before next takes it, so a replay
// can take the same steps at the same place in the stream.
func Migrations(t Interface, next recycle.Mover) recycle.Mover {
	return migrations{t: t, next: next}
}

type migrations struct {
	t    Interface
	next recycle.Mover
}

// migration is next's migration with what OnMigrateEnd reports.
type migration struct {
	recycle.Migration
	from int64
	ids  []string
}

func (m migrations) Begin(ids []string, from int64) recycle.Migration {
	if len(ids) > 0 {
		m.t.OnMigrate(from, ids)
	}
	return &migration{Migration: m.next.Begin(ids, from), from: from, ids: ids}
}

func (m migrations) Finish(mg recycle.Migration) recycle.Result {
	return m.end(mg, MigrationFinished, m.next.Finish)
}

func (m migrations) Abort(mg recycle.Migration) recycle.Result {
	return m.end(mg, MigrationAborted, m.next.Abort)
}

func (m migrations) Rollback(mg recycle.Migration) recycle.Result {
	return m.end(mg, MigrationRolledBack, m.next.Rollback)
}

func (m migrations) end(mg recycle.Migration, end MigrationEnd, next func(recycle.Migration) recycle.Result) recycle.Result {
	g := mg.(*migration)
	if len(g.ids) > 0 {
		m.t.OnMigrateEnd(g.from, g.ids, end)
	}
	return next(g.Migration)
}

// MigrationEnd is how a recycle's move of assets ended, as an Interface sees it.
type MigrationEnd uint8

const (
	// MigrationFinished: what was left switched to the replacement
	// (FinishMigration).
	MigrationFinished MigrationEnd = iota
	// MigrationAborted: the replacement never took over; unswitched assets
	// stayed on the old connection, books untouched (AbortMigration).
	MigrationAborted
	// MigrationRolledBack: the replacement was closed after it may have
	// delivered; switched assets went back to the old connection, invalidated
	// and resynced (RollbackMigration).
	MigrationRolledBack
)
