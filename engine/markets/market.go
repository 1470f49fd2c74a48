// Package markets decides which markets are live: the Lifecycle discovers markets on Gamma
// and from the socket's market notices, registers their assets in the asset registry,
// expires them at their end date or when they close or resolve, and removes them after a
// grace period.
//
// Concurrency: every exported Lifecycle method is safe for concurrent use; Start launches
// the one goroutine that runs discovery, expiry, cleanup and every callback.
package markets

import (
	"slices"
	"time"

	"github.com/polyfeed/polyfeed/fixed"
	"github.com/polyfeed/polyfeed/internal/gamma"
)

// Market is one market as the engine tracks it. AssetIDs[i] is the CLOB token of Outcomes[i].
type Market struct {
	ID          string // Gamma market id
	ConditionID string // 0x + 64 hex; the WS "market" field
	Question    string
	Slug        string
	AssetIDs    []string
	Outcomes    []string
	EndDate     time.Time // zero: no scheduled end (expires only when closed or resolved)
	NegRisk     bool
	TickSize    fixed.Point // zero when unknown
}

// MarketFromGamma converts a Gamma listing entry.
func MarketFromGamma(g gamma.Market) Market {
	return Market{
		ID: g.ID, ConditionID: g.ConditionID, Question: g.Question, Slug: g.Slug,
		AssetIDs: slices.Clone(g.TokenIDs), Outcomes: slices.Clone(g.Outcomes),
		EndDate: g.EndDate, NegRisk: g.NegRisk, TickSize: g.TickSize,
	}
}

// Event is a copied new_market or market_resolved notice from the
// socket (custom feature). Gamma stays the source of truth; these only make
// the lifecycle react sooner.
type Event struct {
	Resolved       bool
	ID             string
	Market         string // condition id
	Question, Slug string
	AssetIDs       []string
	Outcomes       []string
	WinningAssetID string
	Timestamp      int64
}
