package wire

import (
	"strconv"
	"strings"

	"github.com/polyfeed/polyfeed/fixed"
)

// classify decides an object's kind from event_type, or from its keys when
// event_type is absent (some captured initial snapshots and updates omit it).
func classify(r *rawEvent, p present) (k Kind, legacy bool) {
	switch r.EventType {
	case "book":
		return KindBook, false
	case "price_change":
		return KindPriceChange, !p.priceChanges && p.changes
	case "last_trade_price":
		return KindLastTrade, false
	case "tick_size_change":
		return KindTickSize, false
	case "best_bid_ask":
		return KindBestBidAsk, false
	case "new_market":
		return KindNewMarket, false
	case "market_resolved":
		return KindMarketResolved, false
	case "":
	default:
		return KindUnknown, false
	}
	switch {
	case p.priceChanges:
		return KindPriceChange, false
	case p.changes && r.AssetID != "":
		return KindPriceChange, true
	case r.NewTickSize != "":
		return KindTickSize, false
	case p.bids || p.asks || p.buys || p.sells:
		return KindBook, false
	case r.AssetID != "" && r.Price != "" && r.Side != "" && r.Size != "":
		return KindLastTrade, false
	case r.BestBid != "" && r.BestAsk != "":
		return KindBestBidAsk, false
	case r.WinningAssetID != "":
		return KindMarketResolved, false
	case p.assetsIDs && (r.ID != "" || r.Question != ""):
		return KindNewMarket, false
	}
	return KindUnknown, false
}

// convert turns the decoded object into an Event appended to d.events, or
// counts why it did not.
//
// hot path
func (d *Decoder) convert(r *rawEvent, p present, idx int) {
	kind, legacy := classify(r, p)
	if kind == KindUnknown {
		d.countUnknown(r.EventType)
		return
	}
	c := conv{d: d, r: r, kind: kind, idx: idx}
	ts, ok := c.timestamp()
	if !ok {
		return
	}
	ev := Event{Kind: kind, Legacy: legacy, Market: r.Market, Timestamp: ts}
	switch kind {
	case KindBook:
		ok = c.book(&ev, p)
	case KindPriceChange:
		if legacy {
			ok = c.legacyChanges(&ev)
		} else {
			ok = c.priceChanges(&ev, p)
		}
	case KindLastTrade:
		ok = c.lastTrade(&ev)
	case KindTickSize:
		ok = c.tickSize(&ev)
	case KindBestBidAsk:
		ok = c.bestBidAsk(&ev)
	case KindNewMarket, KindMarketResolved:
		ok = c.marketInfo(&ev)
	}
	if !ok {
		return
	}
	d.events = append(d.events, ev)
	d.stats.Events[kind]++
	if legacy {
		d.stats.Legacy++
	}
}

// conv carries the context an error needs while one object is converted.
type conv struct {
	d    *Decoder
	r    *rawEvent
	kind Kind
	idx  int
}

// fail reports a bad value. field is built only here, on the error path:
// name, or name[i].sub when i >= 0.
func (c conv) fail(asset, name string, i int, sub string, value string, quoted bool, cause error) {
	field := name
	if i >= 0 {
		field = name + "[" + strconv.Itoa(i) + "]." + sub
	}
	c.d.fail(&Error{
		Kind: c.kind, Index: c.idx, Offset: -1,
		AssetID: clipID(asset), Market: clipID(c.r.Market),
		Field: field, Value: clip(value), quoted: quoted, Err: cause,
	})
}

func (c conv) missing(asset, name string) { c.fail(asset, name, -1, "", "", false, ErrMissing) }

func (c conv) timestamp() (int64, bool) {
	t := &c.r.Timestamp
	switch t.form {
	case tsAbsent:
		return 0, true
	case tsString, tsNumber:
		if v, ok := parseMillis(t.text); ok {
			if t.form == tsNumber {
				c.d.stats.NumericTimestamps++
			}
			return v, true
		}
	}
	c.fail(c.r.AssetID, "timestamp", -1, "", t.text, true, ErrTimestamp)
	return 0, false
}

// point parses a price, size or tick size: a non-negative decimal string.
func point(s string) (fixed.Point, error) {
	p, err := fixed.ParseString(s)
	if err == nil && p < 0 {
		return 0, ErrNegative
	}
	return p, err
}

// optPoint is point for an optional key: absent (or empty) is 0.
func optPoint(s string) (fixed.Point, error) {
	if s == "" {
		return 0, nil
	}
	return point(s)
}

// parseSide accepts BUY and SELL in any case.
func parseSide(s string) (Side, bool) {
	switch {
	case strings.EqualFold(s, "BUY"):
		return SideBuy, true
	case strings.EqualFold(s, "SELL"):
		return SideSell, true
	}
	return SideNone, false
}

// value parses one named field of the top-level object.
func (c conv) value(name, s string, optional bool, dst *fixed.Point) bool {
	var err error
	if optional {
		*dst, err = optPoint(s)
	} else {
		*dst, err = point(s)
	}
	if err != nil {
		c.fail(c.r.AssetID, name, -1, "", s, true, err)
		return false
	}
	return true
}

func (c conv) book(ev *Event, p present) bool {
	r := c.r
	if r.AssetID == "" {
		c.missing("", "asset_id")
		return false
	}
	if !(p.bids || p.buys || p.asks || p.sells) {
		c.missing(r.AssetID, "bids")
		return false
	}
	ev.AssetID, ev.Hash = r.AssetID, r.Hash
	if !c.value("tick_size", r.TickSize, true, &ev.TickSize) ||
		!c.value("last_trade_price", r.LastTradePrice, true, &ev.LastTradePrice) {
		return false
	}
	bids, bidName := r.Bids, "bids"
	if !p.bids && p.buys {
		bids, bidName = r.Buys, "buys"
	}
	asks, askName := r.Asks, "asks"
	if !p.asks && p.sells {
		asks, askName = r.Sells, "sells"
	}
	start := len(c.d.levels)
	if !c.levels(bidName, bids) {
		c.d.levels = c.d.levels[:start]
		return false
	}
	mid := len(c.d.levels)
	if !c.levels(askName, asks) {
		c.d.levels = c.d.levels[:start]
		return false
	}
	end := len(c.d.levels)
	ev.Bids = c.d.levels[start:mid:mid]
	ev.Asks = c.d.levels[mid:end:end]
	return true
}

// levels appends one book side to d.levels. One bad level fails the whole
// snapshot: half a snapshot would be a wrong book.
func (c conv) levels(name string, raw []rawLevel) bool {
	for i := range raw {
		l := &raw[i]
		price, err := point(l.Price)
		if err != nil {
			c.fail(c.r.AssetID, name, i, "price", l.Price, true, err)
			return false
		}
		size, err := point(l.Size)
		if err != nil {
			c.fail(c.r.AssetID, name, i, "size", l.Size, true, err)
			return false
		}
		c.d.levels = append(c.d.levels, Level{Price: price, Size: size})
	}
	return true
}

// priceChanges converts the current multi-asset form. A bad change is
// skipped and reported with its asset id (that book missed an update); the
// other changes still apply.
func (c conv) priceChanges(ev *Event, p present) bool {
	if !p.priceChanges {
		c.missing("", "price_changes")
		return false
	}
	start := len(c.d.changes)
	for i := range c.r.PriceChanges {
		rc := &c.r.PriceChanges[i]
		if rc.AssetID == "" {
			c.fail("", "price_changes", i, "asset_id", "", false, ErrMissing)
			continue
		}
		pc := PriceChange{AssetID: rc.AssetID, Hash: rc.Hash}
		if !c.change(&pc, "price_changes", i, rc) {
			continue
		}
		var err error
		if pc.BestBid, err = optPoint(rc.BestBid); err != nil {
			c.fail(rc.AssetID, "price_changes", i, "best_bid", rc.BestBid, true, err)
			continue
		}
		if pc.BestAsk, err = optPoint(rc.BestAsk); err != nil {
			c.fail(rc.AssetID, "price_changes", i, "best_ask", rc.BestAsk, true, err)
			continue
		}
		pc.HasBest = rc.BestBid != "" || rc.BestAsk != ""
		c.d.changes = append(c.d.changes, pc)
	}
	return c.finishChanges(ev, start, len(c.r.PriceChanges))
}

// legacyChanges converts the pre-2025-09 form: one asset per message, its
// id and hash at the top level, changes[] of {price, side, size}.
func (c conv) legacyChanges(ev *Event) bool {
	r := c.r
	if r.AssetID == "" {
		c.missing("", "asset_id")
		return false
	}
	ev.Hash = r.Hash
	start := len(c.d.changes)
	for i := range r.Changes {
		rc := &r.Changes[i]
		pc := PriceChange{AssetID: r.AssetID, Hash: r.Hash}
		if rc.Hash != "" {
			pc.Hash = rc.Hash
		}
		if c.change(&pc, "changes", i, rc) {
			c.d.changes = append(c.d.changes, pc)
		}
	}
	return c.finishChanges(ev, start, len(r.Changes))
}

// change parses the price, size and side shared by both forms.
func (c conv) change(pc *PriceChange, name string, i int, rc *rawChange) bool {
	var err error
	if pc.Price, err = point(rc.Price); err != nil {
		c.fail(pc.AssetID, name, i, "price", rc.Price, true, err)
		return false
	}
	if pc.Size, err = point(rc.Size); err != nil {
		c.fail(pc.AssetID, name, i, "size", rc.Size, true, err)
		return false
	}
	var ok bool
	if pc.Side, ok = parseSide(rc.Side); !ok {
		c.fail(pc.AssetID, name, i, "side", rc.Side, true, ErrSide)
		return false
	}
	return true
}

// finishChanges attaches the changes appended since start. An event whose
// every change was bad is dropped; an empty list as sent is delivered.
func (c conv) finishChanges(ev *Event, start, sent int) bool {
	end := len(c.d.changes)
	if end == start && sent > 0 {
		return false
	}
	ev.Changes = c.d.changes[start:end:end]
	return true
}

func (c conv) lastTrade(ev *Event) bool {
	r := c.r
	if r.AssetID == "" {
		c.missing("", "asset_id")
		return false
	}
	ev.AssetID = r.AssetID
	if !c.value("price", r.Price, false, &ev.Price) || !c.value("size", r.Size, false, &ev.Size) {
		return false
	}
	var ok bool
	if ev.Side, ok = parseSide(r.Side); !ok {
		c.fail(r.AssetID, "side", -1, "", r.Side, true, ErrSide)
		return false
	}
	return true
}

func (c conv) tickSize(ev *Event) bool {
	r := c.r
	if r.AssetID == "" {
		c.missing("", "asset_id")
		return false
	}
	ev.AssetID = r.AssetID
	return c.value("new_tick_size", r.NewTickSize, false, &ev.TickSize) &&
		c.value("old_tick_size", r.OldTickSize, true, &ev.OldTickSize)
}

func (c conv) bestBidAsk(ev *Event) bool {
	r := c.r
	if r.AssetID == "" {
		c.missing("", "asset_id")
		return false
	}
	ev.AssetID = r.AssetID
	if !c.value("best_bid", r.BestBid, true, &ev.BestBid) || !c.value("best_ask", r.BestAsk, true, &ev.BestAsk) {
		return false
	}
	if r.Spread == "" {
		return true
	}
	// A crossed book can have a negative spread: plain decimal parse.
	var err error
	if ev.Spread, err = fixed.ParseString(r.Spread); err != nil {
		c.fail(r.AssetID, "spread", -1, "", r.Spread, true, err)
		return false
	}
	return true
}

func (c conv) marketInfo(ev *Event) bool {
	r := c.r
	if r.Market == "" {
		c.missing("", "market")
		return false
	}
	info := MarketInfo{
		ID: r.ID, Market: r.Market, Question: r.Question, Slug: r.Slug,
		WinningAssetID: r.WinningAssetID, WinningOutcome: r.WinningOutcome,
		Active:  r.Active,
		EventID: r.EventMessage.ID, EventSlug: r.EventMessage.Slug, EventTitle: r.EventMessage.Title,
	}
	if !c.value("order_price_min_tick_size", r.OrderPriceMinTickSize, true, &info.TickSize) {
		return false
	}
	d := c.d
	info.AssetIDs = d.keepStrings(r.AssetsIDs)
	info.Outcomes = d.keepStrings(r.Outcomes)
	info.Tags = d.keepStrings(r.Tags)
	d.infos = append(d.infos, info)
	// Growing d.infos later in this frame leaves this pointer on the old
	// array, which still holds the same value: no dangling reference.
	ev.Info = &d.infos[len(d.infos)-1]
	return true
}

// keepStrings copies a raw string list (whose array is reused by the next
// object) into the frame's output buffer.
func (d *Decoder) keepStrings(src []string) []string {
	if len(src) == 0 {
		return nil
	}
	start := len(d.strs)
	d.strs = append(d.strs, src...)
	return d.strs[start:len(d.strs):len(d.strs)]
}
