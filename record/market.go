package record

import (
	"encoding/json"
	"fmt"
	"time"
)

// Market is one market of a listing, as the engine tracks it.
type Market struct {
	ID          string    `json:"id"`
	ConditionID string    `json:"condition_id"`
	Question    string    `json:"question,omitempty"`
	Slug        string    `json:"slug,omitempty"`
	AssetIDs    []string  `json:"asset_ids"`
	Outcomes    []string  `json:"outcomes,omitempty"`
	EndDate     time.Time `json:"end_date,omitzero"`
	NegRisk     bool      `json:"neg_risk,omitempty"`
	// TickSize is the price grid as a decimal string ("0.01"); empty when
	// unknown. A string keeps it exact.
	TickSize string `json:"tick_size,omitempty"`
}

// appendMarkets appends the listing as one JSON array: listings are rare
// (one per discovery) and JSON keeps them readable with any tool.
func appendMarkets(b []byte, ms []Market) ([]byte, error) {
	if ms == nil {
		ms = []Market{}
	}
	j, err := json.Marshal(ms)
	if err != nil {
		return b, fmt.Errorf("cannot encode listing: %w", err)
	}
	return append(b, j...), nil
}

// decodeMarkets decodes a listing into a fresh slice: listings are rare,
// and consumers keep them.
func decodeMarkets(b []byte) ([]Market, error) {
	var ms []Market
	if err := json.Unmarshal(b, &ms); err != nil {
		return nil, errDamaged
	}
	return ms, nil
}
