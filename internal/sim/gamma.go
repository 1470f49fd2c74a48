package sim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Gamma limits. The venue's are undocumented beyond what PROTOCOL.md records; these are the
// simulator's choices: /markets clamps limit to maxOffsetLimit, /markets/keyset answers 422
// above maxKeysetLimit (so a client that asks for more learns it at once).
const (
	maxOffset       = 2000
	defaultLimit    = 100
	maxOffsetLimit  = 500
	maxKeysetLimit  = 100
	errOffsetTooBig = "offset too large, use /markets/keyset for deeper pagination"
)

// gammaMarket is the market object with the venue's field names and types: clobTokenIds,
// outcomes and outcomePrices are JSON arrays encoded as strings, orderPriceMinTickSize a
// number, endDate RFC3339.
type gammaMarket struct {
	ID                    string  `json:"id"`
	Question              string  `json:"question"`
	ConditionID           string  `json:"conditionId"`
	Slug                  string  `json:"slug"`
	EndDate               string  `json:"endDate"`
	StartDate             string  `json:"startDate"`
	Description           string  `json:"description"`
	Outcomes              string  `json:"outcomes"`
	OutcomePrices         string  `json:"outcomePrices"`
	Volume                string  `json:"volume"`
	Active                bool    `json:"active"`
	Closed                bool    `json:"closed"`
	MarketMakerAddress    string  `json:"marketMakerAddress"`
	CreatedAt             string  `json:"createdAt"`
	New                   bool    `json:"new"`
	Featured              bool    `json:"featured"`
	Archived              bool    `json:"archived"`
	Restricted            bool    `json:"restricted"`
	QuestionID            string  `json:"questionID"`
	EnableOrderBook       bool    `json:"enableOrderBook"`
	OrderPriceMinTickSize float64 `json:"orderPriceMinTickSize"`
	OrderMinSize          float64 `json:"orderMinSize"`
	VolumeNum             float64 `json:"volumeNum"`
	EndDateIso            string  `json:"endDateIso"`
	ClobTokenIds          string  `json:"clobTokenIds"`
	AcceptingOrders       bool    `json:"acceptingOrders"`
	NegRisk               bool    `json:"negRisk"`
	Spread                float64 `json:"spread"`
	LastTradePrice        float64 `json:"lastTradePrice"`
	BestBid               float64 `json:"bestBid"`
	BestAsk               float64 `json:"bestAsk"`
}

func (m *market) gamma() gammaMarket {
	end := time.UnixMilli(m.endMs).UTC()
	yes := &m.tokens[0].book
	bb, ba := yes.top(sideBid), yes.top(sideAsk)
	p0 := (bb + ba) / 2
	prices := fmt.Sprintf(`[%q, %q]`, p0.String(), (one - p0).String())
	if m.closed {
		prices = `["1", "0"]`
		if m.winner == 1 {
			prices = `["0", "1"]`
		}
	}
	return gammaMarket{
		ID: m.id, Question: m.question, ConditionID: m.conditionID, Slug: m.slug,
		EndDate:       end.Format(time.RFC3339Nano),
		StartDate:     time.UnixMilli(m.createdMs).UTC().Format(time.RFC3339Nano),
		Description:   "A simulated market.",
		Outcomes:      fmt.Sprintf(`[%q, %q]`, m.outcomes[0], m.outcomes[1]),
		OutcomePrices: prices, Volume: "0",
		Active: true, Closed: m.closed,
		CreatedAt:  time.UnixMilli(m.createdMs).UTC().Format(time.RFC3339Nano),
		QuestionID: m.questionID, EnableOrderBook: m.enableBook,
		OrderPriceMinTickSize: m.tick.Float(), OrderMinSize: 5,
		EndDateIso:      end.Format(time.DateOnly),
		ClobTokenIds:    fmt.Sprintf(`[%q, %q]`, m.tokens[0].id, m.tokens[1].id),
		AcceptingOrders: !m.closed && m.enableBook, NegRisk: m.negRisk,
		Spread: (ba - bb).Float(), LastTradePrice: m.tokens[0].lastTrade.Float(),
		BestBid: bb.Float(), BestAsk: ba.Float(),
	}
}

// gammaQuery is the parsed filter and order shared by both listing styles.
type gammaQuery struct {
	closed    bool
	active    *bool
	byEnd     bool // order=endDate (else id)
	ascending bool
	limit     int
}

// sortKey orders markets for both listing styles; the id breaks ties.
type sortKey struct{ primary, id int64 }

func (q *gammaQuery) key(m *market) sortKey {
	if q.byEnd {
		return sortKey{m.endMs, m.idNum}
	}
	return sortKey{m.idNum, m.idNum}
}

func (q *gammaQuery) less(a, b sortKey) bool {
	if a.primary != b.primary {
		return (a.primary < b.primary) == q.ascending
	}
	return (a.id < b.id) == q.ascending
}

func parseGammaQuery(r *http.Request, maxLimit int, clampLimit bool) (gammaQuery, string) {
	v := r.URL.Query()
	q := gammaQuery{limit: defaultLimit, ascending: true}
	if s := v.Get("closed"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return q, "closed must be true or false"
		}
		q.closed = b
	}
	if s := v.Get("active"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return q, "active must be true or false"
		}
		q.active = &b
	}
	switch v.Get("order") {
	case "", "id":
	case "endDate":
		q.byEnd = true
	default:
		return q, "order must be id or endDate"
	}
	if s := v.Get("ascending"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return q, "ascending must be true or false"
		}
		q.ascending = b
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return q, "limit must be a non-negative integer"
		}
		if n > maxLimit && !clampLimit {
			return q, fmt.Sprintf("limit must be <= %d", maxLimit)
		}
		q.limit = min(n, maxLimit)
	}
	return q, ""
}

// selectLocked returns the matching markets in query order.
func (s *Server) selectLocked(q *gammaQuery) []*market {
	var out []*market
	for _, m := range s.markets {
		if m.closed != q.closed || (q.active != nil && !*q.active) {
			continue // active stays true on every market, closed ones included
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b *market) int {
		ka, kb := q.key(a), q.key(b)
		switch {
		case q.less(ka, kb):
			return -1
		case q.less(kb, ka):
			return 1
		}
		return 0
	})
	return out
}

func (s *Server) renderLocked(ms []*market) []gammaMarket {
	out := make([]gammaMarket, len(ms))
	f := s.faultsPtr.Load()
	for i, m := range ms {
		out[i] = m.gamma()
		if f.GammaGarbageRate > 0 && s.gammaChance(f.GammaGarbageRate) {
			s.gammaGarbage.Add(1)
			if s.gammaChance(0.5) {
				out[i].ClobTokenIds = `["` + m.tokens[0].id
			} else {
				out[i].EndDate = "not-a-date"
			}
		}
	}
	return out
}

func (s *Server) gammaChance(p float64) bool {
	s.gmu.Lock()
	defer s.gmu.Unlock()
	return s.grng.chance(p)
}

// gammaFault applies the request-level Gamma faults; true means the response is written.
func (s *Server) gammaFault(w http.ResponseWriter, r *http.Request) bool {
	s.gammaRequests.Add(1)
	f := s.faultsPtr.Load()
	switch {
	case f.GammaHangRate > 0 && s.gammaChance(f.GammaHangRate):
		s.gammaHangs.Add(1)
		t := time.NewTimer(f.GammaHang)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
		case <-s.quit:
		}
		http.Error(w, "upstream timeout", http.StatusGatewayTimeout)
		return true
	case f.Gamma429Rate > 0 && s.gammaChance(f.Gamma429Rate):
		s.gamma429.Add(1)
		w.Header().Set("Retry-After", strconv.Itoa(max(int(f.RetryAfter/time.Second), 1)))
		http.Error(w, "Too Many Requests", http.StatusTooManyRequests)
		return true
	case f.Gamma5xxRate > 0 && s.gammaChance(f.Gamma5xxRate):
		s.gamma5xx.Add(1)
		codes := [...]int{500, 502, 503}
		s.gmu.Lock()
		code := codes[s.grng.intn(3)]
		s.gmu.Unlock()
		http.Error(w, http.StatusText(code), code)
		return true
	}
	return false
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func validationError(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"type": "validation error", "error": msg})
}

// handleMarkets serves GET /markets: a bare array, offset pagination up to offset 2000.
func (s *Server) handleMarkets(w http.ResponseWriter, r *http.Request) {
	if s.gammaFault(w, r) {
		return
	}
	q, bad := parseGammaQuery(r, maxOffsetLimit, true)
	if bad != "" {
		validationError(w, bad)
		return
	}
	off := 0
	if v := r.URL.Query().Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			validationError(w, "offset must be a non-negative integer")
			return
		}
		off = n
	}
	if off > maxOffset {
		validationError(w, errOffsetTooBig)
		return
	}
	f := s.faultsPtr.Load()
	if f.GammaEmptyRate > 0 && s.gammaChance(f.GammaEmptyRate) {
		s.gammaEmpty.Add(1)
		writeJSON(w, http.StatusOK, []gammaMarket{})
		return
	}
	shift := off > 0 && !q.closed && f.GammaShiftRate > 0 && s.gammaChance(f.GammaShiftRate)
	s.mu.Lock()
	all := s.selectLocked(&q)
	if shift {
		all = s.shiftLocked(all, off)
	}
	page := all[min(off, len(all)):min(off+q.limit, len(all))]
	out := s.renderLocked(page)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// shiftLocked closes one market listed before offset off, as if it closed while a client
// was between pages, and returns the listing without it (gammashift fault). The close is
// real: Gamma lists the market closed from now on and subscribers get market_resolved.
func (s *Server) shiftLocked(all []*market, off int) []*market {
	if len(all) == 0 {
		return all
	}
	s.gmu.Lock()
	i := s.grng.intn(min(off, len(all)))
	s.gmu.Unlock()
	s.closeMarketLocked(all[i])
	s.flushTouchedLocked()
	s.gammaShifts.Add(1)
	return slices.Delete(all, i, i+1)
}

type keysetPage struct {
	Markets    []gammaMarket `json:"markets"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

func encodeCursor(k sortKey) string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%d:%d", k.primary, k.id)))
}

func decodeCursor(c string) (sortKey, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return sortKey{}, false
	}
	a, bs, ok := strings.Cut(string(b), ":")
	if !ok {
		return sortKey{}, false
	}
	p, err1 := strconv.ParseInt(a, 10, 64)
	id, err2 := strconv.ParseInt(bs, 10, 64)
	return sortKey{p, id}, err1 == nil && err2 == nil
}

// handleKeyset serves GET /markets/keyset: {"markets":[...],"next_cursor":"..."}, after_cursor
// paging, next_cursor absent on the last page. A cursor= parameter is ignored (page 1), as
// on the venue.
func (s *Server) handleKeyset(w http.ResponseWriter, r *http.Request) {
	if s.gammaFault(w, r) {
		return
	}
	if f := s.faultsPtr.Load(); f.GammaNoKeysetRate > 0 && s.gammaChance(f.GammaNoKeysetRate) {
		s.gammaNoKeyset.Add(1)
		http.NotFound(w, r)
		return
	}
	if r.URL.Query().Has("offset") {
		validationError(w, "offset is not supported by /markets/keyset, use after_cursor")
		return
	}
	q, bad := parseGammaQuery(r, maxKeysetLimit, false)
	if bad != "" {
		validationError(w, bad)
		return
	}
	var after *sortKey
	if c := r.URL.Query().Get("after_cursor"); c != "" {
		k, ok := decodeCursor(c)
		if !ok {
			validationError(w, "after_cursor is not a valid cursor")
			return
		}
		after = &k
	}
	f := s.faultsPtr.Load()
	if f.GammaEmptyRate > 0 && s.gammaChance(f.GammaEmptyRate) {
		s.gammaEmpty.Add(1)
		writeJSON(w, http.StatusOK, keysetPage{Markets: []gammaMarket{}})
		return
	}
	s.mu.Lock()
	all := s.selectLocked(&q)
	start := 0
	if after != nil {
		start, _ = slices.BinarySearchFunc(all, *after, func(m *market, k sortKey) int {
			if q.less(q.key(m), k) || q.key(m) == k {
				return -1
			}
			return 1
		})
	}
	end := min(start+q.limit, len(all))
	page := keysetPage{Markets: s.renderLocked(all[start:end])}
	if end < len(all) && end > start {
		if f.GammaCutRate > 0 && s.gammaChance(f.GammaCutRate) {
			s.gammaCuts.Add(1) // the listing looks complete here
		} else {
			page.NextCursor = encodeCursor(q.key(all[end-1]))
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, page)
}

func sortByEnd(ms []*market) {
	slices.SortStableFunc(ms, func(a, b *market) int {
		switch {
		case a.endMs < b.endMs:
			return -1
		case a.endMs > b.endMs:
			return 1
		}
		return 0
	})
}
