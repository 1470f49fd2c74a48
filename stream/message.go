package stream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/bytedance/sonic"

	"github.com/polyfeed/polyfeed/fixed"
)

// unmarshal is sonic configured to behave as encoding/json does (strings copied
// and checked for valid UTF-8), at a fraction of its cost: encoding/json was most
// of a consumer's CPU at 10,000 messages/s. FuzzDecodeMatchesStdlib holds the
// two to the same results.
var unmarshal = sonic.ConfigStd.Unmarshal

// maxEpoch is the largest epoch the contract allows (2^53-1), so JavaScript reads it
// exactly.
const maxEpoch = 1<<53 - 1

// Level is one price level: a price and the size resting at it.
type Level struct {
	Price fixed.Point
	Size  fixed.Point
}

// Change is one entry of a delta: a side (SideBuy = bids, SideSell = asks), a price
// and the absolute new size there; zero removes the level.
type Change struct {
	Side  string
	Price fixed.Point
	Size  fixed.Point
}

// Message is one decoded contract message. Which fields are set depends on Type; the
// common ones (Type, Asset, Market, Epoch, Seq, TsMs) always are.
type Message struct {
	Type   string
	Asset  string
	Market string
	Epoch  int64
	Seq    int64
	TsMs   int64

	// book: best first (bids descending, asks ascending); tick: TickSize.
	Bids     []Level
	Asks     []Level
	TickSize fixed.Point
	Valid    bool

	// delta: the changes and the publisher's best prices after them (HasBestBid false
	// for a null, that is an empty side).
	Changes    []Change
	BestBid    fixed.Point
	BestAsk    fixed.Point
	HasBestBid bool
	HasBestAsk bool

	// trade.
	Price fixed.Point
	Size  fixed.Point
	Side  string

	// status.
	State  string
	Reason string
}

// wireMessage is the JSON shape: pointers and raw values tell a missing field from a
// zero one, because the contract requires the fields to be present.
type wireMessage struct {
	V        *int            `json:"v"`
	Type     *string         `json:"type"`
	Asset    *string         `json:"asset_id"`
	Market   *string         `json:"market"`
	Epoch    *int64          `json:"epoch"`
	Seq      *int64          `json:"seq"`
	TsMs     *int64          `json:"ts_ms"`
	Bids     *[][]string     `json:"bids"`
	Asks     *[][]string     `json:"asks"`
	TickSize *string         `json:"tick_size"`
	Valid    *bool           `json:"valid"`
	Changes  *[][]string     `json:"changes"`
	BestBid  json.RawMessage `json:"best_bid"`
	BestAsk  json.RawMessage `json:"best_ask"`
	Price    *string         `json:"price"`
	Size     *string         `json:"size"`
	Side     *string         `json:"side"`
	State    *string         `json:"state"`
	Reason   *string         `json:"reason"`
}

// Decode parses one contract message and checks it against the contract: version 1,
// every required field present with the right JSON type, exact decimals (at most six
// decimal places), books strictly ordered best first with no duplicate price and no
// zero size. Unknown fields are ignored, so the publisher may add fields within v1.
func Decode(data []byte) (Message, error) {
	return decodeWith(unmarshal, data)
}

// decodeWith is Decode with the JSON unmarshaller given.
func decodeWith(unmarshal func([]byte, any) error, data []byte) (Message, error) {
	var w wireMessage
	if err := unmarshal(data, &w); err != nil {
		return Message{}, fmt.Errorf("cannot decode message: %w", err)
	}
	m, err := w.message()
	if err != nil {
		return Message{}, fmt.Errorf("cannot decode message: %w", err)
	}
	return m, nil
}

func (w *wireMessage) message() (Message, error) {
	var m Message
	if w.V == nil {
		return m, errors.New("missing v")
	}
	if *w.V != Version {
		return m, fmt.Errorf("unsupported version %d", *w.V)
	}
	if w.Type == nil || w.Asset == nil || w.Market == nil || w.Epoch == nil || w.Seq == nil || w.TsMs == nil {
		return m, errors.New("missing one of type, asset_id, market, epoch, seq, ts_ms")
	}
	m.Type, m.Asset, m.Market = *w.Type, *w.Asset, *w.Market
	m.Epoch, m.Seq, m.TsMs = *w.Epoch, *w.Seq, *w.TsMs
	if m.Asset == "" {
		return m, errors.New("empty asset_id")
	}
	if m.Epoch < 1 || m.Epoch > maxEpoch {
		return m, fmt.Errorf("epoch %d outside 1..2^53-1", m.Epoch)
	}
	if m.Seq < 1 || m.Seq > maxEpoch {
		return m, fmt.Errorf("seq %d outside 1..2^53-1", m.Seq)
	}
	if m.TsMs < 0 {
		return m, fmt.Errorf("negative ts_ms %d", m.TsMs)
	}
	var err error
	switch m.Type {
	case TypeBook:
		err = w.book(&m)
	case TypeDelta:
		err = w.delta(&m)
	case TypeTrade:
		err = w.trade(&m)
	case TypeTick:
		if w.TickSize == nil {
			return m, errors.New("tick without tick_size")
		}
		m.TickSize, err = positive("tick_size", *w.TickSize)
	case TypeStatus:
		err = w.status(&m)
	default:
		return m, fmt.Errorf("unknown type %q", m.Type)
	}
	return m, err
}

func (w *wireMessage) book(m *Message) error {
	if w.Bids == nil || w.Asks == nil || w.TickSize == nil || w.Valid == nil {
		return errors.New("book without bids, asks, tick_size or valid")
	}
	var err error
	if m.TickSize, err = positive("tick_size", *w.TickSize); err != nil {
		return err
	}
	m.Valid = *w.Valid
	if m.Bids, err = levels("bids", *w.Bids, true); err != nil {
		return err
	}
	m.Asks, err = levels("asks", *w.Asks, false)
	return err
}

// levels parses one side of a book; desc is true for bids (best = highest first).
func levels(name string, raw [][]string, desc bool) ([]Level, error) {
	out := make([]Level, 0, len(raw))
	for i, pair := range raw {
		if len(pair) != 2 {
			return nil, fmt.Errorf("%s[%d]: want [price, size]", name, i)
		}
		p, err := positive(name+" price", pair[0])
		if err != nil {
			return nil, err
		}
		s, err := positive(name+" size", pair[1])
		if err != nil {
			return nil, err
		}
		if i > 0 {
			prev := out[i-1].Price
			if desc && p >= prev || !desc && p <= prev {
				return nil, fmt.Errorf("%s[%d]: price %s not strictly after %s", name, i, p, prev)
			}
		}
		out = append(out, Level{Price: p, Size: s})
	}
	return out, nil
}

func (w *wireMessage) delta(m *Message) error {
	if w.Changes == nil || w.BestBid == nil || w.BestAsk == nil {
		return errors.New("delta without changes, best_bid or best_ask")
	}
	m.Changes = make([]Change, 0, len(*w.Changes))
	for i, c := range *w.Changes {
		if len(c) != 3 {
			return fmt.Errorf("changes[%d]: want [side, price, size]", i)
		}
		if c[0] != SideBuy && c[0] != SideSell {
			return fmt.Errorf("changes[%d]: side %q", i, c[0])
		}
		p, err := positive("change price", c[1])
		if err != nil {
			return err
		}
		s, err := fixed.ParseString(c[2])
		if err != nil || s < 0 {
			return fmt.Errorf("changes[%d]: size %q is not a decimal >= 0", i, c[2])
		}
		m.Changes = append(m.Changes, Change{Side: c[0], Price: p, Size: s})
	}
	var err error
	if m.BestBid, m.HasBestBid, err = nullablePrice("best_bid", w.BestBid); err != nil {
		return err
	}
	m.BestAsk, m.HasBestAsk, err = nullablePrice("best_ask", w.BestAsk)
	return err
}

func (w *wireMessage) trade(m *Message) error {
	if w.Price == nil || w.Size == nil || w.Side == nil {
		return errors.New("trade without price, size or side")
	}
	if *w.Side != SideBuy && *w.Side != SideSell {
		return fmt.Errorf("trade side %q", *w.Side)
	}
	m.Side = *w.Side
	var err error
	if m.Price, err = positive("trade price", *w.Price); err != nil {
		return err
	}
	m.Size, err = positive("trade size", *w.Size)
	return err
}

func (w *wireMessage) status(m *Message) error {
	if w.State == nil {
		return errors.New("status without state")
	}
	switch *w.State {
	case StatusStale, StatusLive, StatusClosed:
	default:
		return fmt.Errorf("unknown status state %q", *w.State)
	}
	m.State = *w.State
	if w.Reason != nil {
		m.Reason = *w.Reason
	}
	return nil
}

// positive parses a decimal string that must be greater than zero.
func positive(name, s string) (fixed.Point, error) {
	p, err := fixed.ParseString(s)
	if err != nil {
		return 0, fmt.Errorf("%s %q: %w", name, s, err)
	}
	if p <= 0 {
		return 0, fmt.Errorf("%s %q: not above zero", name, s)
	}
	return p, nil
}

// nullablePrice parses a JSON string price or null.
func nullablePrice(name string, raw json.RawMessage) (fixed.Point, bool, error) {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return 0, false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, false, fmt.Errorf("%s: want a decimal string or null", name)
	}
	p, err := positive(name, s)
	return p, err == nil, err
}
