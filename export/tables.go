package export

// Row types of the exported tables. Prices, sizes and tick sizes are exact
// fixed-point integers: the Parquet DECIMAL(18, 6) logical type on INT64,
// so the scale (6: millionths) is in the schema and 0.123456 is stored as
// 123456. ts_exchange is the venue's timestamp (Unix ms; 0 when it sent
// none), ts_recv the receive time (Unix ns).

// Level is one price level.
type Level struct {
	Price int64 `parquet:"price,decimal(6:18)"`
	Size  int64 `parquet:"size,decimal(6:18)"`
}

// Snapshot is a row of book_snapshots: one book message, levels best first.
type Snapshot struct {
	Asset      string  `parquet:"asset,dict"`
	Market     string  `parquet:"market,dict"`
	TsExchange int64   `parquet:"ts_exchange,timestamp(millisecond)"`
	TsRecv     int64   `parquet:"ts_recv,timestamp(nanosecond)"`
	Bids       []Level `parquet:"bids,list"`
	Asks       []Level `parquet:"asks,list"`
	TickSize   int64   `parquet:"tick_size,decimal(6:18)"`
	Hash       string  `parquet:"hash"`
}

// Delta is a row of book_deltas: one level set to an absolute size (0
// removes it). Snapshot rows are the levels of a book message, in the order
// sent: a consumer clears the asset's book at the first of them. LastInMessage
// marks the last row a venue message produced for the asset, where the book
// is consistent again.
type Delta struct {
	Asset         string `parquet:"asset,dict"`
	Market        string `parquet:"market,dict"`
	TsExchange    int64  `parquet:"ts_exchange,timestamp(millisecond)"`
	TsRecv        int64  `parquet:"ts_recv,timestamp(nanosecond)"`
	Side          string `parquet:"side,dict"` // BUY (bids) or SELL (asks)
	Price         int64  `parquet:"price,decimal(6:18)"`
	Size          int64  `parquet:"size,decimal(6:18)"`
	LastInMessage bool   `parquet:"last_in_message"`
	Snapshot      bool   `parquet:"snapshot"`
}

// Trade is a row of trades (last_trade_price).
type Trade struct {
	Asset      string `parquet:"asset,dict"`
	Market     string `parquet:"market,dict"`
	TsExchange int64  `parquet:"ts_exchange,timestamp(millisecond)"`
	TsRecv     int64  `parquet:"ts_recv,timestamp(nanosecond)"`
	Side       string `parquet:"side,dict"`
	Price      int64  `parquet:"price,decimal(6:18)"`
	Size       int64  `parquet:"size,decimal(6:18)"`
}

// TickSize is a row of tick_sizes (tick_size_change).
type TickSize struct {
	Asset       string `parquet:"asset,dict"`
	Market      string `parquet:"market,dict"`
	TsExchange  int64  `parquet:"ts_exchange,timestamp(millisecond)"`
	TsRecv      int64  `parquet:"ts_recv,timestamp(nanosecond)"`
	OldTickSize int64  `parquet:"old_tick_size,decimal(6:18)"`
	NewTickSize int64  `parquet:"new_tick_size,decimal(6:18)"`
}
