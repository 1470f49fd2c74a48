package engine

import (
	"github.com/polyfeed/polyfeed/engine/markets"
	"github.com/polyfeed/polyfeed/engine/recycle"
	"github.com/polyfeed/polyfeed/engine/venue"
)

// Tap sees what the engine receives and does to its connections, for a
// recorder: every data frame, every socket opened, subscribe and unsubscribe
// written and socket lost, every Gamma listing, every book dropped and every
// migration step of a recycle.
//
// Contract: methods are called on the engine's own goroutines (OnFrame on a
// connection's read goroutine, per frame) and must return at once: queue,
// never wait. Arguments are valid only during the call; copy what you keep.
// OnFrame's recvNanos is the mono.Now() stamp the FrameSink gets. Calls for
// one connection are sequential and in the order the connection saw them.
type Tap interface {
	venue.Tap          // sockets opened, subscribes, unsubscribes, sockets lost
	markets.ListingTap // Gamma listings
	OnFrame(conn int64, frame []byte, recvNanos int64)
	OnDrop(assets []string)
	// OnMigrate and OnMigrateEnd: the recycler moves assets off connection
	// from (make before break), announced before the replacement
	// subscribes; the move ends by switching what is left (abort false) or
	// by keeping the old connection (abort true).
	OnMigrate(from int64, assets []string)
	OnMigrateEnd(from int64, assets []string, end MigrationEnd)
}

// tapSink records each frame before handing it on. // hot path
func tapSink(t Tap, next venue.FrameSink) venue.FrameSink {
	return func(conn int64, frame []byte, recv int64) {
		t.OnFrame(conn, frame, recv)
		next(conn, frame, recv)
	}
}

// tapBooks records each drop before the data path applies it, so the drop
// lands after the frames it followed.
type tapBooks struct {
	t    Tap
	next interface{ DropBooks(assetIDs []string) }
}

func (b tapBooks) DropBooks(ids []string) {
	if len(ids) > 0 {
		b.t.OnDrop(ids)
	}
	b.next.DropBooks(ids)
}

// tapMover records each migration step before the data path takes it, so a
// replay can take the same steps at the same place in the stream.
type tapMover struct {
	t    Tap
	next mover
}

func (m tapMover) Begin(ids []string, from int64) recycle.Migration {
	if len(ids) > 0 {
		m.t.OnMigrate(from, ids)
	}
	return m.next.Begin(ids, from)
}

func (m tapMover) Finish(mg recycle.Migration) recycle.Result {
	if g := mg.(*Migration); len(g.ids) > 0 {
		m.t.OnMigrateEnd(g.from, g.ids, MigrationFinished)
	}
	return m.next.Finish(mg)
}

func (m tapMover) Abort(mg recycle.Migration) recycle.Result {
	if g := mg.(*Migration); len(g.ids) > 0 {
		m.t.OnMigrateEnd(g.from, g.ids, MigrationAborted)
	}
	return m.next.Abort(mg)
}

func (m tapMover) Rollback(mg recycle.Migration) recycle.Result {
	if g := mg.(*Migration); len(g.ids) > 0 {
		m.t.OnMigrateEnd(g.from, g.ids, MigrationRolledBack)
	}
	return m.next.Rollback(mg)
}

// MigrationEnd is how a recycle's move of assets ended, as a Tap sees it.
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
