package admin

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/polyfeed/polyfeed/engine/fixed"
)

const (
	// MaxAssetIDLen is the longest asset id GET /books accepts, in bytes. Polymarket token
	// ids are decimal uint256 values: at most 78 digits.
	MaxAssetIDLen = 100
	// MaxDepth is the largest ?depth= GET /books accepts.
	MaxDepth = 1000
)

// BookView is a JSON-ready copy of one asset's book, filled by the engine (Config.Book) and
// served by GET /books/{asset_id}. Prices and sizes are fixed.Points, rendered as decimal
// strings ("0.52") so no precision is lost. Example:
//
//	{"asset_id":"7132...","market":"0x5f65...",
//	 "bids":[{"price":"0.52","size":"1200"}],"asks":[{"price":"0.53","size":"80.5"}],
//	 "bid_levels":1,"ask_levels":1,"best_bid":"0.52","best_ask":"0.53","spread":"0.01",
//	 "mid":"0.525","tick_size":"0.01","sequence":4812,"updated_at_ms":1757000000123,
//	 "age_ms":85,"valid":true,
//	 "last_trade":{"price":"0.53","size":"10","side":"BUY","timestamp_ms":1757000000001}}
type BookView struct {
	AssetID string `json:"asset_id"`
	// Market is the condition id of the asset's market.
	Market string `json:"market"`
	// Bids and Asks hold every level, best first (bids highest price first, asks lowest
	// first). The server caps them to ?depth= without modifying the backing arrays and
	// renders a nil side as [].
	Bids []LevelView `json:"bids"`
	Asks []LevelView `json:"asks"`
	// BidLevels and AskLevels are set by the server: the number of levels on each side
	// before ?depth= was applied.
	BidLevels int `json:"bid_levels"`
	AskLevels int `json:"ask_levels"`
	// BestBid, BestAsk, Spread and Mid are nil (JSON null) when undefined: an empty side.
	BestBid *fixed.Point `json:"best_bid"`
	BestAsk *fixed.Point `json:"best_ask"`
	Spread  *fixed.Point `json:"spread"`
	Mid     *fixed.Point `json:"mid"`
	// TickSize is the market's minimum price increment (0 when unknown).
	TickSize fixed.Point `json:"tick_size"`
	// Sequence counts the changes applied to the book.
	Sequence uint64 `json:"sequence"`
	// UpdatedAtMS is the venue timestamp of the last applied change, Unix milliseconds
	// (0 when none).
	UpdatedAtMS int64 `json:"updated_at_ms"`
	// AgeMS is set by the server when it renders the response: its clock minus UpdatedAtMS,
	// in milliseconds (negative if the venue's clock runs ahead; 0 when UpdatedAtMS is 0).
	AgeMS int64 `json:"age_ms"`
	// Valid is false while the book is known to be out of sync (until its next snapshot).
	Valid bool `json:"valid"`
	// LastTrade is nil (JSON null) when no trade has been seen.
	LastTrade *TradeView `json:"last_trade"`
}

// LevelView is one price level.
type LevelView struct {
	Price fixed.Point `json:"price"`
	Size  fixed.Point `json:"size"`
}

// TradeView is the last trade of an asset.
type TradeView struct {
	Price fixed.Point `json:"price"`
	Size  fixed.Point `json:"size"`
	// Side is the taker's side as the venue names it: "BUY" or "SELL".
	Side string `json:"side"`
	// TimestampMS is the venue time of the trade, Unix milliseconds.
	TimestampMS int64 `json:"timestamp_ms"`
}

// serveBook answers GET /books/{asset_id}[?depth=N].
func (s *Server) serveBook(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("asset_id")
	if err := validateAssetID(id); err != nil {
		s.writeError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	depth, err := parseDepth(r.URL.Query())
	if err != nil {
		s.writeError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	view, ok, err := s.cfg.Book(id)
	if err != nil {
		// The engine could not answer (stopping, or the owning worker is stuck):
		// not the client's fault, and not "unknown" either.
		s.writeError(w, r, http.StatusServiceUnavailable, "cannot read book: "+err.Error())
		return
	}
	if !ok {
		s.writeError(w, r, http.StatusNotFound, "unknown asset "+id)
		return
	}
	view.BidLevels, view.AskLevels = len(view.Bids), len(view.Asks)
	view.Bids, view.Asks = capLevels(view.Bids, depth), capLevels(view.Asks, depth)
	view.AgeMS = 0
	if view.UpdatedAtMS != 0 {
		view.AgeMS = s.cfg.Now().UnixMilli() - view.UpdatedAtMS
	}
	s.writeJSON(w, r, http.StatusOK, view)
}

// validateAssetID accepts 1..MaxAssetIDLen ASCII decimal digits: the shape of every
// Polymarket token id. Anything else is refused before it reaches the engine.
func validateAssetID(id string) error {
	if id == "" {
		return errors.New("invalid asset id: empty")
	}
	if len(id) > MaxAssetIDLen {
		return fmt.Errorf("invalid asset id: %d bytes long, at most %d", len(id), MaxAssetIDLen)
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return fmt.Errorf("invalid asset id: byte %d is %q, want a decimal digit", i, id[i:i+1])
		}
	}
	return nil
}

// parseDepth reads ?depth=, 0 meaning absent (no cap).
func parseDepth(q url.Values) (int, error) {
	if !q.Has("depth") {
		return 0, nil
	}
	v := q.Get("depth")
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxDepth {
		if len(v) > 20 {
			v = v[:20] + "..."
		}
		return 0, fmt.Errorf("invalid depth %q: want an integer from 1 to %d", v, MaxDepth)
	}
	return n, nil
}

// capLevels returns at most depth levels (all when depth is 0), never nil so that an empty
// side renders as [] rather than null.
func capLevels(levels []LevelView, depth int) []LevelView {
	if levels == nil {
		return []LevelView{}
	}
	if depth > 0 && len(levels) > depth {
		return levels[:depth:depth]
	}
	return levels
}
