package wire

import "github.com/polyfeed/polyfeed/fixed"

// Level is one price level of a book side: Size is the absolute size resting
// at Price.
type Level struct {
	Price, Size fixed.Point
}

// PriceChange is one level update of a price_change event.
type PriceChange struct {
	AssetID string
	Price   fixed.Point
	// Size is the new absolute size at Price; 0 deletes the level.
	Size fixed.Point
	Side Side // SideBuy updates bids, SideSell asks
	Hash string
	// BestBid and BestAsk are the top of the book after the change, as the
	// venue sees it; 0 means that side is empty. HasBest reports whether
	// either was sent (legacy changes never carry them).
	BestBid, BestAsk fixed.Point
	HasBest          bool
}

// MarketInfo is the payload of new_market and market_resolved events.
type MarketInfo struct {
	ID       string // Gamma market id
	Market   string // condition id (0x + 64 hex)
	Question string
	Slug     string
	AssetIDs []string // CLOB token ids, in the order of Outcomes
	Outcomes []string
	Tags     []string
	// WinningAssetID and WinningOutcome are set by market_resolved only.
	WinningAssetID string
	WinningOutcome string
	Active         bool
	TickSize       fixed.Point // order_price_min_tick_size; 0 when absent
	// Event* come from the optional event_message object.
	EventID, EventSlug, EventTitle string
}

// Event is one decoded market-channel event. Which fields are set depends on
// Kind; the rest are zero. An Event and everything it references is valid only
// until the next Decode (see the package doc).
type Event struct {
	Kind Kind
	// Legacy marks a price_change in the pre-2025-09 form (top-level asset_id
	// and hash, changes[] without best_bid/best_ask), normalised into Changes.
	Legacy bool
	// AssetID is the token the event is about. It is empty for price_change
	// (each change names its asset), new_market and market_resolved.
	AssetID string
	Market  string // condition id
	Hash    string // book: the snapshot hash; legacy price_change: its hash
	// Timestamp is the venue's time in Unix milliseconds; 0 when not sent.
	Timestamp int64

	// Bids and Asks hold a book snapshot's levels in the order sent (the
	// venue has sent both ascending and descending orders: never rely on it).
	// "buys"/"sells" are accepted as aliases of "bids"/"asks".
	Bids, Asks []Level
	// TickSize: book (optional tick_size, 0 when absent) and tick_size_change
	// (the new tick size). OldTickSize: tick_size_change only.
	TickSize, OldTickSize fixed.Point
	// LastTradePrice: book only, optional (0 when absent).
	LastTradePrice fixed.Point

	// Changes: price_change.
	Changes []PriceChange

	// Price, Size, Side: last_trade_price.
	Price, Size fixed.Point
	Side        Side

	// BestBid, BestAsk, Spread: best_bid_ask; 0 means not sent.
	BestBid, BestAsk, Spread fixed.Point

	// Info: new_market and market_resolved.
	Info *MarketInfo
}
