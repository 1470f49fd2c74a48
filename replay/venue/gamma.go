package venue

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/polyfeed/polyfeed/record"
)

// gammaMarket is one market in Gamma's shape, with what clients read.
type gammaMarket struct {
	ID                    string  `json:"id"`
	Question              string  `json:"question"`
	ConditionID           string  `json:"conditionId"`
	Slug                  string  `json:"slug"`
	EndDate               string  `json:"endDate,omitempty"`
	Outcomes              string  `json:"outcomes"`
	Active                bool    `json:"active"`
	Closed                bool    `json:"closed"`
	Archived              bool    `json:"archived"`
	AcceptingOrders       bool    `json:"acceptingOrders"`
	EnableOrderBook       bool    `json:"enableOrderBook"`
	NegRisk               bool    `json:"negRisk"`
	ClobTokenIds          string  `json:"clobTokenIds"`
	OrderPriceMinTickSize float64 `json:"orderPriceMinTickSize,omitempty"`
}

// gammaOf renders a recorded market: a recorded listing holds the markets
// the engine tracked, all open with a book. shift moves its end date from
// recorded time to the client's clock, so a market open at this point of
// the recording is open for the client too.
func gammaOf(m record.Market, shift time.Duration) gammaMarket {
	tokens, _ := json.Marshal(m.AssetIDs)
	outcomes, _ := json.Marshal(m.Outcomes)
	g := gammaMarket{
		ID: m.ID, Question: m.Question, ConditionID: m.ConditionID, Slug: m.Slug,
		Outcomes: string(outcomes), ClobTokenIds: string(tokens),
		Active: true, AcceptingOrders: true, EnableOrderBook: true, NegRisk: m.NegRisk,
	}
	if !m.EndDate.IsZero() {
		g.EndDate = m.EndDate.Add(shift).UTC().Format(time.RFC3339Nano)
	}
	if m.TickSize != "" {
		g.OrderPriceMinTickSize, _ = strconv.ParseFloat(m.TickSize, 64)
	}
	return g
}

func (s *Server) gammaListing() []gammaMarket {
	ms := s.Listing()
	var shift time.Duration
	if at := s.rep.Stats().At; at > 0 {
		shift = time.Since(time.Unix(0, at))
	}
	out := make([]gammaMarket, len(ms))
	for i, m := range ms {
		out[i] = gammaOf(m, shift)
	}
	return out
}

// handleMarkets serves offset paging: the whole listing on the first page.
func (s *Server) handleMarkets(w http.ResponseWriter, r *http.Request) {
	if off, _ := strconv.Atoi(r.URL.Query().Get("offset")); off > 0 {
		writeJSON(w, []gammaMarket{})
		return
	}
	writeJSON(w, s.gammaListing())
}

// handleKeyset serves keyset paging: the whole listing on one page.
func (s *Server) handleKeyset(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, struct {
		Markets []gammaMarket `json:"markets"`
	}{s.gammaListing()})
}
