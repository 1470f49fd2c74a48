package wire

// Kind is the type of a market-channel event.
type Kind uint8

// Event kinds. KindUnknown is never returned by Decode: unknown events are
// skipped and counted in DecoderStats.
const (
	KindUnknown Kind = iota
	KindBook
	KindPriceChange
	KindLastTrade
	KindTickSize
	KindBestBidAsk
	KindNewMarket
	KindMarketResolved

	// KindCount is the number of kinds, for arrays indexed by Kind.
	KindCount
)

var kindNames = [KindCount]string{
	KindUnknown:        "unknown",
	KindBook:           "book",
	KindPriceChange:    "price_change",
	KindLastTrade:      "last_trade_price",
	KindTickSize:       "tick_size_change",
	KindBestBidAsk:     "best_bid_ask",
	KindNewMarket:      "new_market",
	KindMarketResolved: "market_resolved",
}

// String returns the venue's event_type name for k.
func (k Kind) String() string {
	if k < KindCount {
		return kindNames[k]
	}
	return "unknown"
}

// Side is the side of a price level or a trade.
type Side uint8

// Sides. The zero value is no side, so a forgotten assignment never reads as
// a valid BUY.
const (
	SideNone Side = iota
	SideBuy       // BUY: the bid side of the book
	SideSell      // SELL: the ask side of the book
)

// String returns "BUY", "SELL" or "NONE".
func (s Side) String() string {
	switch s {
	case SideBuy:
		return "BUY"
	case SideSell:
		return "SELL"
	}
	return "NONE"
}
