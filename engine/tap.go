package engine

import "github.com/polyfeed/polyfeed/internal/gamma"

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
	OnOpen(conn int64, url string)
	OnSubscribe(conn int64, assets []string, initial bool)
	OnUnsubscribe(conn int64, assets []string)
	OnFrame(conn int64, frame []byte, recvNanos int64)
	OnClose(conn int64, code uint16, reason string)
	OnListing(markets []Market, complete bool)
	OnDrop(assets []string)
	// OnMigrate and OnMigrateEnd: the recycler moves assets off connection
	// from (make before break), announced before the replacement
	// subscribes; the move ends by switching what is left (abort false) or
	// by keeping the old connection (abort true).
	OnMigrate(from int64, assets []string)
	OnMigrateEnd(from int64, assets []string, abort bool)
}

// tapSink records each frame before handing it on. // hot path
func tapSink(t Tap, next FrameSink) FrameSink {
	return func(conn int64, frame []byte, recv int64) {
		t.OnFrame(conn, frame, recv)
		next(conn, frame, recv)
	}
}

// tapBooks records each drop before the data path applies it, so the drop
// lands after the frames it followed.
type tapBooks struct {
	t    Tap
	next lifeBooks
}

func (b tapBooks) DropBooks(ids []string) {
	if len(ids) > 0 {
		b.t.OnDrop(ids)
	}
	b.next.DropBooks(ids)
}

// tapMigrator records each migration step before the data path takes it,
// so a replay can take the same steps at the same place in the stream.
type tapMigrator struct {
	t    Tap
	next recyMigrator
}

func (m tapMigrator) BeginMigration(ids []string, from int64) *Migration {
	if len(ids) > 0 {
		m.t.OnMigrate(from, ids)
	}
	return m.next.BeginMigration(ids, from)
}

func (m tapMigrator) FinishMigration(mg *Migration) MigrationResult {
	if len(mg.ids) > 0 {
		m.t.OnMigrateEnd(mg.from, mg.ids, false)
	}
	return m.next.FinishMigration(mg)
}

func (m tapMigrator) AbortMigration(mg *Migration) MigrationResult {
	if len(mg.ids) > 0 {
		m.t.OnMigrateEnd(mg.from, mg.ids, true)
	}
	return m.next.AbortMigration(mg)
}

// tapListing hands a Gamma listing to the tap in the engine's terms.
func tapListing(t Tap, list []gamma.Market, complete bool) {
	ms := make([]Market, len(list))
	for i := range list {
		ms[i] = MarketFromGamma(list[i])
	}
	t.OnListing(ms, complete)
}

// lastErrString is the last disconnect reason, for the tap's close record.
func (c *Conn) lastErrString() string {
	if p := c.lastErr.Load(); p != nil {
		return *p
	}
	return ""
}
