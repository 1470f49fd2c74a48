package gamma

import (
	"context"
	"fmt"
	"net/url"
)

// GetMarket fetches one market by Gamma id (GET /markets/{id}), for the
// lifecycle controller to re-check a market it already tracks. A market that
// decodes but fails validation (closed, for instance) is returned as far as it
// was decoded, together with an *InvalidMarketError. A 404 matches ErrNotFound.
// Requests are retried as in ListActive.
func (c *Client) GetMarket(ctx context.Context, id string) (Market, error) {
	var st DiscoverStats
	body, err := c.get(ctx, "/markets/"+url.PathEscape(id), nil, &st)
	if err != nil {
		return Market{}, fmt.Errorf("cannot get market %q: %w", id, err)
	}
	m, err := DecodeMarket(body)
	if err != nil {
		return m, err
	}
	if m.ID != id {
		return Market{}, fmt.Errorf("cannot get market %q: the API answered market %q", id, m.ID)
	}
	return m, nil
}
