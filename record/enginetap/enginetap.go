// Package enginetap records an engine: it adapts a record.Writer to the
// tap.Interface (engine types in, record types out).
//
// Concurrency: a Tap is safe for concurrent use, as the engine calls it
// from every connection's goroutine; every method returns at once.
package enginetap

import (
	"slices"

	"github.com/polyfeed/polyfeed/engine/markets"
	"github.com/polyfeed/polyfeed/engine/tap"
	"github.com/polyfeed/polyfeed/internal/mono"
	"github.com/polyfeed/polyfeed/record"
)

// Tap is a tap.Interface that writes to a record.Writer.
type Tap struct{ w *record.Writer }

var _ tap.Interface = (*Tap)(nil)

// New returns a Tap writing to w.
func New(w *record.Writer) *Tap { return &Tap{w: w} }

// OnFrame records a frame with its receive time in Unix nanoseconds.
// hot path: mono.Time is arithmetic on the process's start time.
func (t *Tap) OnFrame(conn int64, frame []byte, recvNanos int64) {
	t.w.OnFrame(conn, frame, mono.Time(recvNanos).UnixNano())
}

func (t *Tap) OnOpen(conn int64, url string) { t.w.OnOpen(conn, url) }

func (t *Tap) OnSubscribe(conn int64, assets []string, initial bool) {
	t.w.OnSubscribe(conn, assets, initial)
}

func (t *Tap) OnUnsubscribe(conn int64, assets []string) { t.w.OnUnsubscribe(conn, assets) }

func (t *Tap) OnClose(conn int64, code uint16, reason string) { t.w.OnClose(conn, code, reason) }

func (t *Tap) OnDrop(assets []string) { t.w.OnDrop(assets) }

func (t *Tap) OnMigrate(from int64, assets []string) { t.w.OnMigrate(from, assets) }

func (t *Tap) OnMigrateEnd(from int64, assets []string, end tap.MigrationEnd) {
	t.w.OnMigrateEnd(from, assets, record.MigrationEnd(end))
}

// OnListing records a listing in the recording's market form.
func (t *Tap) OnListing(markets []markets.Market, complete bool) {
	t.w.OnListing(Markets(markets), complete)
}

// Markets converts engine markets to their recorded form.
func Markets(ms []markets.Market) []record.Market {
	out := make([]record.Market, len(ms))
	for i, m := range ms {
		out[i] = record.Market{
			ID: m.ID, ConditionID: m.ConditionID, Question: m.Question, Slug: m.Slug,
			AssetIDs: slices.Clone(m.AssetIDs), Outcomes: slices.Clone(m.Outcomes),
			EndDate: m.EndDate.UTC(), NegRisk: m.NegRisk,
		}
		if m.TickSize != 0 {
			out[i].TickSize = m.TickSize.String()
		}
	}
	return out
}
