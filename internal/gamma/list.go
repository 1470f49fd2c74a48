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

// errKeysetUnavailable sends the walk to offset paging.
var errKeysetUnavailable = errors.New("keyset pagination unavailable")

// ListActive lists every open market that has an order book, newest first.
//
// It walks GET /markets/keyset?closed=false&order=id&ascending=false with the
// same filters on every page and after_cursor from the previous page, until a
// page has no next_cursor. When the first keyset request answers 404, 405 or
// 501, or a body that is not {"markets":[...]}, it walks GET /markets with
// offset paging instead, until a short page or the venue's 422 "offset too
// large".
//
// A nil error means the listing is complete. With a non-nil error the markets
// collected so far are still returned, valid but incomplete: callers must not
// conclude that a market missing from them is gone. errors.Is(err, ErrPartial)
// tells a listing cut short by paging limits from a failed request. Invalid
// markets are skipped and counted by Reason in the stats, never an error.
func (c *Client) ListActive(ctx context.Context) ([]Market, DiscoverStats, error) {
	start := c.cfg.Now()
	w := &walk{c: c, ids: make(map[string]struct{}), tokens: make(map[string]struct{})}
	err := w.keyset(ctx)
	if errors.Is(err, errKeysetUnavailable) {
		c.cfg.Logger.Warn("gamma keyset pagination unavailable, falling back to offset paging", "err", err)
		w.st.warn(WarnKeysetUnavailable)
		err = w.offset(ctx)
	}
	w.st.Duration = c.cfg.Now().Sub(start)
	w.st.Accepted = len(w.markets)
	if err != nil {
		if errors.Is(err, ErrPartial) {
			c.cfg.Logger.Warn("gamma market listing incomplete", "markets", len(w.markets), "err", err)
		}
		return w.markets, w.st, fmt.Errorf("cannot list markets: %w", err)
	}
	w.st.Complete = true
	return w.markets, w.st, nil
}

// walk is the state of one listing; owned by the ListActive call.
type walk struct {
	c       *Client
	st      DiscoverStats
	markets []Market
	ids     map[string]struct{} // every market id met, kept or not
	tokens  map[string]struct{} // token ids of kept markets
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

func (w *walk) offset(ctx context.Context) error {
	w.st.Mode = ModeOffset
	limit := w.c.cfg.PageLimit
	for page := 1; ; page++ {
		if page > w.c.cfg.MaxPages {
			w.st.warn(WarnMaxPages)
			return fmt.Errorf("offset paging stopped after %d pages: %w", w.c.cfg.MaxPages, ErrPartial)
		}
		offset := (page - 1) * limit
		q := w.query()
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
		if err := json.Unmarshal(body, &items); err != nil || !startsWith(body, '[') {
			w.st.apiError(ClassBadResponse)
			return fmt.Errorf("cannot decode offset page at %d: want a JSON array: %w", offset, errOr(err, "got "+describe(body)))
		}
		w.st.Pages++
		repeated := w.add(items)
		if len(items) < limit {
			return nil
		}
		if repeated {
			w.st.warn(WarnRepeatedPage)
			return fmt.Errorf("offset page at %d repeats earlier markets (offset ignored?): %w", offset, ErrPartial)
		}
	}
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
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, "", err
	}
	if len(p.Markets) == 0 {
		return nil, "", errors.New("no markets field")
	}
	if !isNull(p.Markets) {
		if !startsWith(p.Markets, '[') {
			return nil, "", fmt.Errorf("markets is not an array: %s", describe(p.Markets))
		}
		if err := json.Unmarshal(p.Markets, &items); err != nil {
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
