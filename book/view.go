package book

import "github.com/polyfeed/polyfeed/fixed"

// View is a JSON-ready copy of one asset's book, filled by the engine's worker that owns the
// book (engine.App.Book) and served by the admin server's GET /books/{asset_id}. Prices and
// sizes are fixed.Points, rendered as decimal strings ("0.52") so no precision is lost.
// It lives here, not in the HTTP adapter, so that the adapter depends on the book and the
// engine depends on neither adapter. Example:
//
//	{"asset_id":"7132...","market":"0x5f65...",
//	 "bids":[{"price":"0.52","size":"1200"}],"asks":[{"price":"0.53","size":"80.5"}],
//	 "bid_levels":1,"ask_levels":1,"best_bid":"0.52","best_ask":"0.53","spread":"0.01",
//	 "mid":"0.525","tick_size":"0.01","sequence":4812,"updated_at_ms":1757000000123,
//	 "age_ms":85,"valid":true,
//	 "last_trade":{"price":"0.53","size":"10","side":"BUY","timestamp_ms":1757000000001}}
type View struct {
	AssetID string `json:"asset_id"`
	// Market is the condition id of the asset's market.
	Market string `json:"market"`
	// Bids and Asks hold every level, best first (bids highest price first, asks lowest
	// first). The admin server caps them to ?depth= without modifying the backing arrays and
	// renders a nil side as [].
	Bids []LevelView `json:"bids"`
	Asks []LevelView `json:"asks"`
	// BidLevels and AskLevels are set by the admin server: the number of levels on each side
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
	// AgeMS is set by the admin server when it renders the response: its clock minus UpdatedAtMS,
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

// View copies the book for readers outside its owner, at most depth levels a side (0: all);
// market is the condition id of the asset's market. It allocates: call it on a reader's
// request, never per event, and only on the goroutine that owns the book.
func (b *Book) View(market string, depth int) View {
	v := View{
		AssetID:     b.assetID,
		Market:      market,
		Bids:        b.levelViews(Bid, depth),
		Asks:        b.levelViews(Ask, depth),
		TickSize:    b.TickSize(),
		Sequence:    b.Seq(),
		UpdatedAtMS: b.UpdatedAt(),
		Valid:       b.Valid(),
	}
	if l, ok := b.BestBid(); ok {
		v.BestBid = &l.Price
	}
	if l, ok := b.BestAsk(); ok {
		v.BestAsk = &l.Price
	}
	if sp, ok := b.Spread(); ok {
		v.Spread = &sp
	}
	if mid, ok := b.Mid(); ok {
		v.Mid = &mid
	}
	if t, ok := b.LastTrade(); ok {
		v.LastTrade = &TradeView{Price: t.Price, Size: t.Size, Side: takerSide(t.Side), TimestampMS: t.Timestamp}
	}
	return v
}

func (b *Book) levelViews(side Side, depth int) []LevelView {
	ls := b.Levels(side, nil)
	if depth > 0 && len(ls) > depth {
		ls = ls[:depth]
	}
	out := make([]LevelView, len(ls))
	for i, l := range ls {
		out[i] = LevelView(l)
	}
	return out
}

// takerSide names a trade's side as the venue does.
func takerSide(s Side) string {
	if s == Ask {
		return "SELL"
	}
	return "BUY"
}
