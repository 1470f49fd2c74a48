package wire

import "unsafe"

// The raw structs mirror the venue's JSON with a string field for every key
// any event kind uses, so one sonic pass fills them without knowing the kind
// first. Strings alias the frame; conversion to Event happens afterwards.
//
// sonic decodes into existing values: a key absent from this object keeps
// whatever the struct held before, and slice elements are decoded in place
// without being zeroed. rawEvent.reset therefore zeroes every field before
// each object, while keeping the slices' backing arrays for reuse.

// rawLevel is one {price, size} entry of a book side.
type rawLevel struct {
	Price string `json:"price"`
	Size  string `json:"size"`
}

// rawChange is one entry of price_changes[] (current form) or changes[]
// (legacy form: price, side, size only).
type rawChange struct {
	AssetID string `json:"asset_id"`
	Price   string `json:"price"`
	Size    string `json:"size"`
	Side    string `json:"side"`
	Hash    string `json:"hash"`
	BestBid string `json:"best_bid"`
	BestAsk string `json:"best_ask"`
}

// rawEventMessage is new_market's optional event_message object.
type rawEventMessage struct {
	ID    string `json:"id"`
	Slug  string `json:"slug"`
	Title string `json:"title"`
}

// rawEvent is the union of every event kind's keys.
type rawEvent struct {
	EventType string       `json:"event_type"`
	AssetID   string       `json:"asset_id"`
	Market    string       `json:"market"`
	Hash      string       `json:"hash"`
	Timestamp rawTimestamp `json:"timestamp"`

	// book
	Bids           []rawLevel `json:"bids"`
	Asks           []rawLevel `json:"asks"`
	Buys           []rawLevel `json:"buys"`
	Sells          []rawLevel `json:"sells"`
	TickSize       string     `json:"tick_size"`
	LastTradePrice string     `json:"last_trade_price"`

	// price_change
	PriceChanges []rawChange `json:"price_changes"`
	Changes      []rawChange `json:"changes"`

	// last_trade_price
	Price string `json:"price"`
	Size  string `json:"size"`
	Side  string `json:"side"`

	// tick_size_change
	OldTickSize string `json:"old_tick_size"`
	NewTickSize string `json:"new_tick_size"`

	// best_bid_ask
	BestBid string `json:"best_bid"`
	BestAsk string `json:"best_ask"`
	Spread  string `json:"spread"`

	// new_market, market_resolved
	ID                    string          `json:"id"`
	Question              string          `json:"question"`
	Slug                  string          `json:"slug"`
	AssetsIDs             []string        `json:"assets_ids"`
	Outcomes              []string        `json:"outcomes"`
	Tags                  []string        `json:"tags"`
	Active                bool            `json:"active"`
	OrderPriceMinTickSize string          `json:"order_price_min_tick_size"`
	WinningAssetID        string          `json:"winning_asset_id"`
	WinningOutcome        string          `json:"winning_outcome"`
	EventMessage          rawEventMessage `json:"event_message"`

	keep rawBuffers // unexported: invisible to the JSON decoders
}

// rawBuffers owns the backing arrays of rawEvent's slices across objects.
type rawBuffers struct {
	bids, asks, buys, sells reuse[rawLevel]
	priceChanges, changes   reuse[rawChange]
	assetsIDs, outcomes     reuse[string]
	tags                    reuse[string]
}

// present records which list keys the last object carried (an empty list
// counts as present; null counts as absent).
type present struct {
	bids, asks, buys, sells bool
	priceChanges, changes   bool
	assetsIDs               bool
}

// reset zeroes r for the next object, handing each slice field its reused
// backing array with length 0.
func (r *rawEvent) reset() {
	k := r.keep
	bids, asks, buys, sells := k.bids.begin(), k.asks.begin(), k.buys.begin(), k.sells.begin()
	pcs, chs := k.priceChanges.begin(), k.changes.begin()
	ids, outs, tags := k.assetsIDs.begin(), k.outcomes.begin(), k.tags.begin()
	*r = rawEvent{
		Bids: bids, Asks: asks, Buys: buys, Sells: sells,
		PriceChanges: pcs, Changes: chs,
		AssetsIDs: ids, Outcomes: outs, Tags: tags,
		keep: k,
	}
}

// finish takes back the slices the JSON decoder produced (adopting grown
// arrays) and reports which list keys were present. failed says decoding
// stopped early, so elements may have been written past the final lengths.
func (r *rawEvent) finish(failed bool) present {
	k := &r.keep
	k.outcomes.end(r.Outcomes, failed)
	k.tags.end(r.Tags, failed)
	return present{
		bids:         k.bids.end(r.Bids, failed),
		asks:         k.asks.end(r.Asks, failed),
		buys:         k.buys.end(r.Buys, failed),
		sells:        k.sells.end(r.Sells, failed),
		priceChanges: k.priceChanges.end(r.PriceChanges, failed),
		changes:      k.changes.end(r.Changes, failed),
		assetsIDs:    k.assetsIDs.end(r.AssetsIDs, failed),
	}
}

// reuse keeps one slice's backing array between objects and remembers how
// many of its elements the decoder may have written (dirty), so the next
// begin clears exactly those and never the whole capacity.
type reuse[T any] struct {
	buf   []T
	dirty int
}

// begin clears the elements written last time and returns buf[:0].
func (u *reuse[T]) begin() []T {
	clear(u.buf[:u.dirty])
	u.dirty = 0
	return u.buf[:0]
}

// end adopts got's array when the decoder had to grow it and reports whether
// the key was present. The decoders leave an absent key's slice exactly as
// begin returned it (same array, length 0); "[]" yields a new zero-capacity
// slice and null yields nil.
func (u *reuse[T]) end(got []T, failed bool) bool {
	if cap(got) > cap(u.buf) {
		u.buf = got[:0]
		u.dirty = len(got)
	}
	if sameArray(got, u.buf) {
		u.dirty = max(u.dirty, len(got))
		if failed {
			u.dirty = cap(u.buf)
		}
		return len(got) > 0
	}
	return got != nil
}

func sameArray[T any](a, b []T) bool {
	return cap(a) > 0 && cap(b) > 0 && unsafe.SliceData(a) == unsafe.SliceData(b)
}
