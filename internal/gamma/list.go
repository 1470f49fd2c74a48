package gamma

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// ErrPartial matches (errors.Is) a listing that ended early without a failed
// request: the venue's offset limit, a repeated page or cursor, or MaxPages.
// The markets returned with it are valid but the list is incomplete.
var ErrPartial = errors.New("partial result")

// ErrSuspect matches (errors.Is) a listing that reached its end but looks cut
// short: no market at all, or a keyset page that came back full without a
// next_cursor while the offset listing did not confirm the end.
// DiscoverStats.Suspect says which. The markets returned with it are valid,
// but absence from them proves nothing.
var ErrSuspect = errors.New("suspect listing")

// maxOffsetBackups bounds how often one offset walk steps back to repair a
// shift of the listing (see walk.offset).
const maxOffsetBackups = 8

// errKeysetUnavailable sends the walk to offset paging.
var errKeysetUnavailable = errors.New("keyset pagination unavailable")

// ListActive lists every open market that has an order book, newest first.
//
// It walks GET /markets/keyset?closed=false&order=id&ascending=false with the
// same filters on every page and after_cursor from the previous page, until a
// page has no next_cursor. When the first keyset request answers 404, 405 or
// 501, or a body that is not {"markets":[...]}, it walks GET /markets with
// offset paging instead (pages overlapping by one market, see walk.offset),
// until a short page or the venue's 422 "offset too large".
//
// A nil error means the listing is complete (stats.Complete): a market
// missing from it is not open. With a non-nil error the markets collected so
// far are still returned, valid but incomplete: callers must not conclude
// that a market missing from them is gone. The error tells why:
//   - errors.Is(err, ErrPartial): cut short by paging limits, a repeated
//     page or cursor, or an offset walk the closing of markets shifted
//     beyond repair;
//   - errors.Is(err, ErrSuspect): the walk reached the end, but the listing
//     looks cut short (stats.Suspect says how: no market at all, or a full
//     keyset page without next_cursor that one request to the offset listing
//     at offset stats.Received did not confirm as the end);
//   - otherwise a request failed.
//
// Invalid markets are skipped and counted by Reason in the stats, never an
// error; stats.Received counts every market object the venue sent.
func (c *Client) ListActive(ctx context.Context) ([]Market, DiscoverStats, error) {
	start := c.cfg.Now()
	w := &walk{c: c, ids: make(map[string]struct{}), tokens: make(map[string]struct{})}
	err := w.keyset(ctx)
	if errors.Is(err, errKeysetUnavailable) {
		c.cfg.Logger.Warn("gamma keyset pagination unavailable, falling back to offset paging", "err", err)
		w.st.warn(WarnKeysetUnavailable)
		err = w.offset(ctx)
	}
	if err == nil {
		err = w.check(ctx)
	}
	w.st.Duration = c.cfg.Now().Sub(start)
	w.st.Accepted = len(w.markets)
	if err != nil {
		if errors.Is(err, ErrPartial) || errors.Is(err, ErrSuspect) {
			c.cfg.Logger.Warn("gamma market listing incomplete", "markets", len(w.markets), "received", w.st.Received, "err", err)
		}
		return w.markets, w.st, fmt.Errorf("cannot list markets: %w", err)
	}
	w.st.Complete = true
	return w.markets, w.st, nil
}

// check flags a walk that reached the end of the listing but whose result
// looks cut short (see ErrSuspect).
func (w *walk) check(ctx context.Context) error {
	switch {
	case w.st.Received == 0:
		w.st.Suspect = SuspectEmpty
		return fmt.Errorf("listing holds no market at all: %w", ErrSuspect)
	case w.lastFull && w.st.Mode == ModeKeyset && !w.endConfirmed(ctx):
		w.st.Suspect = SuspectNoCursor
		return fmt.Errorf("keyset page %d was full but had no next_cursor: %w", w.st.Pages, ErrSuspect)
	}
	return nil
}

// endConfirmed asks the offset listing whether anything follows the markets a
// keyset walk received, when its last page was full and had no next_cursor:
// a listing that is an exact multiple of the page size ends that way too. An
// empty answer at offset Received confirms the end; anything else (a market,
// an error, an offset past the venue's offset limit) does not.
func (w *walk) endConfirmed(ctx context.Context) bool {
	if w.st.Received > maxConfirmOffset {
		return false
	}
	q := w.query()
	q.Set("limit", "1")
	q.Set("offset", strconv.Itoa(w.st.Received))
	body, err := w.c.get(ctx, "/markets", q, &w.st)
	if err != nil {
		return false
	}
	var items []json.RawMessage
	return startsWith(body, '[') && unmarshalChecked(body, &items) == nil && len(items) == 0
}

// maxConfirmOffset is the deepest offset endConfirmed asks for: the venue
// refuses offsets past about 2000 (PROTOCOL.md).
const maxConfirmOffset = 2000

// walk is the state of one listing; owned by the ListActive call.
type walk struct {
	c       *Client
	st      DiscoverStats
	markets []Market
	ids     map[string]struct{} // every market id met, kept or not
	tokens  map[string]struct{} // token ids of kept markets
	// lastFull: the last page decoded held as many markets as asked for.
	lastFull bool
}

// query returns the filters sent on every page of either pagination.
func (w *walk) query() url.Values {
	return url.Values{
		"closed":    {"false"},
		"limit":     {strconv.Itoa(w.c.cfg.PageLimit)},
		"order":     {"id"},
		"ascending": {"false"},
	}
}

func (w *walk) keyset(ctx context.Context) error {
	w.st.Mode = ModeKeyset
	cursors := make(map[string]struct{})
	cursor := ""
	for page := 1; ; page++ {
		if page > w.c.cfg.MaxPages {
			w.st.warn(WarnMaxPages)
			return fmt.Errorf("keyset paging stopped after %d pages: %w", w.c.cfg.MaxPages, ErrPartial)
		}
		q := w.query()
		if cursor != "" {
			q.Set("after_cursor", cursor)
		}
		body, err := w.c.get(ctx, "/markets/keyset", q, &w.st)
		if err != nil {
			var se *StatusError
			if page == 1 && errors.As(err, &se) && (se.Code == http.StatusNotFound ||
				se.Code == http.StatusMethodNotAllowed || se.Code == http.StatusNotImplemented) {
				return fmt.Errorf("%w: %w", errKeysetUnavailable, err)
			}
			return fmt.Errorf("cannot get keyset page %d: %w", page, err)
		}
		items, next, err := parseKeysetPage(body)
		if err != nil {
			w.st.apiError(ClassBadResponse)
			if page == 1 {
				return fmt.Errorf("%w: %w", errKeysetUnavailable, err)
			}
			return fmt.Errorf("cannot decode keyset page %d: %w", page, err)
		}
		w.st.Pages++
		w.lastFull = len(items) >= w.c.cfg.PageLimit
		if w.add(items) {
			w.st.warn(WarnRepeatedPage)
			return fmt.Errorf("keyset page %d repeats earlier markets (after_cursor ignored?): %w", page, ErrPartial)
		}
		if next == "" {
			return nil
		}
		if _, seen := cursors[next]; seen {
			w.st.warn(WarnRepeatedPage)
			return fmt.Errorf("keyset page %d repeats next_cursor %q: %w", page, clip(next), ErrPartial)
		}
		cursors[next] = struct{}{}
		cursor = next
	}
}

// offset walks GET /markets with overlapping pages: each page after the first
// starts at the previous page's last market. Markets that close during the
// walk leave the closed=false listing and shift every later market to a
// lower offset, so a plain walk would silently skip one market per closure
// and still end on a short page. With the overlap, a page that does not begin
// with a market already met reveals such a shift: the walk steps back one
// page and carries on from there (at most maxOffsetBackups times), and a
// shift it cannot repair makes the listing partial. Markets opened during the
// walk shift the listing the other way: they come back as duplicates, which
// are skipped, and lose nothing.
//
// Why a page starting with a met market proves no gap: the listing is ordered
// by id, so what the walk has met is every market from the top down to some
// id (except markets opened since, which sort above), and a page is a
// contiguous run of the listing; one that starts inside what was met extends
// it without a hole.
func (w *walk) offset(ctx context.Context) error {
	w.st.Mode = ModeOffset
	limit := max(w.c.cfg.PageLimit, 2) // the overlap needs two markets a page
	offset, backups, backedUp := 0, 0, false
	for page := 1; ; page++ {
		if page > w.c.cfg.MaxPages {
			w.st.warn(WarnMaxPages)
			return fmt.Errorf("offset paging stopped after %d pages: %w", w.c.cfg.MaxPages, ErrPartial)
		}
		q := w.query()
		q.Set("limit", strconv.Itoa(limit))
		q.Set("offset", strconv.Itoa(offset))
		body, err := w.c.get(ctx, "/markets", q, &w.st)
		if err != nil {
			var se *StatusError
			if page > 1 && errors.As(err, &se) && se.Code == http.StatusUnprocessableEntity {
				// The venue refuses deep offsets (~2000): what we have is all
				// offset paging can give.
				w.st.warn(WarnOffsetLimit)
				return fmt.Errorf("offset paging refused at offset %d: %w: %w", offset, ErrPartial, err)
			}
			return fmt.Errorf("cannot get offset page at %d: %w", offset, err)
		}
		var items []json.RawMessage
		if err := unmarshalChecked(body, &items); err != nil || !startsWith(body, '[') {
			w.st.apiError(ClassBadResponse)
			return fmt.Errorf("cannot decode offset page at %d: want a JSON array: %w", offset, errOr(err, "got "+describe(body)))
		}
		w.st.Pages++
		if page > 1 && !w.met(items) {
			w.st.warn(WarnOffsetShift)
			if backups == maxOffsetBackups || offset == 0 {
				w.add(items)
				return fmt.Errorf("offset page at %d does not continue the previous one (markets closed during the walk): %w", offset, ErrPartial)
			}
			backups++
			offset, backedUp = max(offset-(limit-1), 0), true
			continue
		}
		fresh := items
		if page > 1 {
			fresh = items[1:] // the overlap, met on the previous page
		}
		repeated := w.add(fresh)
		w.lastFull = len(items) >= limit
		if len(items) < limit {
			return nil
		}
		if repeated && !backedUp {
			w.st.warn(WarnRepeatedPage)
			return fmt.Errorf("offset page at %d repeats earlier markets (offset ignored?): %w", offset, ErrPartial)
		}
		backedUp = false
		offset += len(items) - 1
	}
}

// met reports whether a page begins with a market this walk has met.
func (w *walk) met(items []json.RawMessage) bool {
	if len(items) == 0 {
		return false
	}
	id, ok := idOf(items[0])
	if !ok {
		return false
	}
	_, seen := w.ids[id]
	return seen
}

// add decodes and validates each market of a page, keeping the good ones. It
// reports a repeated page: one whose readable ids were all met before.
func (w *walk) add(items []json.RawMessage) (repeated bool) {
	fresh, old := 0, 0
next:
	for _, raw := range items {
		w.st.Received++
		m, warns, err := decodeMarket(raw)
		if m.ID != "" {
			if _, dup := w.ids[m.ID]; dup {
				old++
				w.st.skip(ReasonDuplicateMarket)
				continue
			}
			w.ids[m.ID] = struct{}{}
			fresh++
		}
		if err != nil {
			reason := ReasonMalformed
			var ime *InvalidMarketError
			if errors.As(err, &ime) {
				reason = ime.Reason
			}
			w.st.skip(reason)
			switch {
			case reason == ReasonClosed && m.ConditionID != "":
				w.st.Closed = append(w.st.Closed, m.ConditionID)
			case reason == ReasonClosed || reason == ReasonNoOrderBook:
				// Validly listed, and rightly not subscribable.
			case m.ConditionID != "":
				w.st.Unusable = append(w.st.Unusable, m.ConditionID)
			default:
				w.st.UnusableUnknown++
			}
			continue
		}
		// Two markets claiming one token would make routing ambiguous: the
		// first one listed (the newest) keeps it.
		for _, t := range m.TokenIDs {
			if _, dup := w.tokens[t]; dup {
				w.st.skip(ReasonDuplicateTokenID)
				w.st.Unusable = append(w.st.Unusable, m.ConditionID)
				continue next
			}
		}
		for _, t := range m.TokenIDs {
			w.tokens[t] = struct{}{}
		}
		warns.each(w.st.warn)
		w.markets = append(w.markets, m)
	}
	return old > 0 && fresh == 0
}

// idOf reads just the id of a market object.
func idOf(raw json.RawMessage) (string, bool) {
	var head struct {
		ID json.RawMessage `json:"id"`
	}
	if unmarshal(raw, &head) != nil {
		return "", false
	}
	return decodeID(head.ID)
}

// parseKeysetPage splits {"markets":[...],"next_cursor":"..."}. next_cursor
// absent, null or "" ends the listing.
func parseKeysetPage(body []byte) (items []json.RawMessage, next string, err error) {
	var p struct {
		Markets    json.RawMessage `json:"markets"`
		NextCursor json.RawMessage `json:"next_cursor"`
	}
	if !startsWith(body, '{') {
		return nil, "", fmt.Errorf("want a JSON object, got %s", describe(body))
	}
	if err := unmarshalChecked(body, &p); err != nil {
		return nil, "", err
	}
	if len(p.Markets) == 0 {
		return nil, "", errors.New("no markets field")
	}
	if !isNull(p.Markets) {
		if !startsWith(p.Markets, '[') {
			return nil, "", fmt.Errorf("markets is not an array: %s", describe(p.Markets))
		}
		if err := unmarshal(p.Markets, &items); err != nil { // checked with body
			return nil, "", fmt.Errorf("cannot decode markets: %w", err)
		}
	}
	next, ok := decodeString(p.NextCursor)
	if !ok {
		return nil, "", fmt.Errorf("next_cursor is not a string: %s", describe(p.NextCursor))
	}
	return items, next, nil
}

func startsWith(b []byte, c byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == c
}

func errOr(err error, msg string) error {
	if err != nil {
		return err
	}
	return errors.New(msg)
}
