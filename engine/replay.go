package engine

// Entry points for replaying a recording through the engine: besides
// FrameSink, a replay needs the two things a live connection event does to
// the books.

// InvalidateConn marks every book connection connID delivered invalid until
// fresh snapshots arrive, as a lost socket does: for replaying a recorded
// close. It returns at once and applies after the frames fed before it.
func (a *App) InvalidateConn(connID int64) { a.data.InvalidateConn(connID) }

// DropBooks forgets the books of assets, as an expiry does: for replaying a
// recorded drop. It returns at once and applies after the frames fed before
// it.
func (a *App) DropBooks(assetIDs []string) { a.data.DropBooks(assetIDs) }

// BeginMigration, FinishMigration and AbortMigration take a recorded
// recycle's steps (see Migration): for replaying a recorded migration at
// the same place in the stream as the live run took it.
func (a *App) BeginMigration(assetIDs []string, from int64) *Migration {
	return a.data.BeginMigration(assetIDs, from)
}

// FinishMigration: see BeginMigration.
func (a *App) FinishMigration(m *Migration) MigrationResult { return a.data.FinishMigration(m) }

// AbortMigration: see BeginMigration.
func (a *App) AbortMigration(m *Migration) MigrationResult { return a.data.AbortMigration(m) }

// RollbackMigration: see BeginMigration.
func (a *App) RollbackMigration(m *Migration) MigrationResult { return a.data.RollbackMigration(m) }
