package main

import (
	"bufio"
	"encoding/json"
	"io"
	"sync"

	"github.com/polyfeed/polyfeed/fixed"
	"github.com/polyfeed/polyfeed/stream"
)

// line is the --json output: one object per update. Prices and sizes are exact
// decimal strings; absent values are null.
type line struct {
	Update   string       `json:"update"` // message type, or "resync" for a book from the books stream
	Asset    string       `json:"asset_id"`
	Market   string       `json:"market"`
	State    string       `json:"state"` // syncing, live, stale or closed
	Reason   string       `json:"reason,omitempty"`
	Epoch    int64        `json:"epoch"`
	Seq      int64        `json:"seq"`
	TsMs     int64        `json:"ts_ms"`
	LagMs    int64        `json:"lag_ms"`
	BestBid  *fixed.Point `json:"best_bid"`
	BidSize  *fixed.Point `json:"bid_size"`
	BestAsk  *fixed.Point `json:"best_ask"`
	AskSize  *fixed.Point `json:"ask_size"`
	Spread   *fixed.Point `json:"spread"`
	TickSize fixed.Point  `json:"tick_size"`
	Last     *lastTrade   `json:"last_trade"`
}

type lastTrade struct {
	Price fixed.Point `json:"price"`
	Size  fixed.Point `json:"size"`
	Side  string      `json:"side"`
	TsMs  int64       `json:"ts_ms"`
}

// jsonSink writes lines; the consumer calls update from one goroutine, run reads err
// after the consumer stopped, and the mutex makes that hand-over explicit.
type jsonSink struct {
	mu   sync.Mutex
	w    *bufio.Writer
	enc  *json.Encoder
	werr error
}

func newJSONSink(w io.Writer) *jsonSink {
	bw := bufio.NewWriter(w)
	return &jsonSink{w: bw, enc: json.NewEncoder(bw)}
}

func (s *jsonSink) update(u stream.Update) {
	b := u.Book
	l := line{Update: u.Type, Asset: b.Asset, Market: b.Market, State: b.State.String(), Reason: b.Reason,
		Epoch: b.Epoch, Seq: b.Seq, TsMs: b.TsMs, LagMs: u.Lag.Milliseconds(), TickSize: b.TickSize}
	if bid, ok := b.BestBid(); ok {
		l.BestBid, l.BidSize = &bid.Price, &bid.Size
	}
	if ask, ok := b.BestAsk(); ok {
		l.BestAsk, l.AskSize = &ask.Price, &ask.Size
	}
	if l.BestBid != nil && l.BestAsk != nil {
		sp := *l.BestAsk - *l.BestBid
		l.Spread = &sp
	}
	if b.Last.Side != "" {
		l.Last = &lastTrade{Price: b.Last.Price, Size: b.Last.Size, Side: b.Last.Side, TsMs: b.Last.TsMs}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.werr != nil {
		return
	}
	if err := s.enc.Encode(&l); err != nil {
		s.werr = err
		return
	}
	s.werr = s.w.Flush() // one line per update, now: scripts read it as it comes
}

func (s *jsonSink) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.werr
}
