package markets

import "github.com/polyfeed/polyfeed/internal/gamma"

// ListingTap sees every Gamma listing the lifecycle merges, for a recorder,
// with whether it was complete. It is called on the lifecycle's goroutine
// and must return at once; the slice is valid only during the call.
type ListingTap interface {
	OnListing(markets []Market, complete bool)
}

// tapListing hands a Gamma listing to the tap in the engine's terms.
func tapListing(t ListingTap, list []gamma.Market, complete bool) {
	ms := make([]Market, len(list))
	for i := range list {
		ms[i] = MarketFromGamma(list[i])
	}
	t.OnListing(ms, complete)
}
