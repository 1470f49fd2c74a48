package wire

import "testing"

// An Error must carry the whole asset id: the router invalidates that exact
// book, and a clipped id would name no book at all.
func TestErrorKeepsWholeAssetID(t *testing.T) {
	const asset = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
	const market = "0xdd22472e552920b8438158ea7238bfadfa4f736aa4cee91a6b86c39ead110917"
	frame := `{"event_type":"price_change","market":"` + market + `","price_changes":[{"asset_id":"` + asset + `","price":"0.5","side":"BUY","size":"1e400"}],"timestamp":"1"}`
	_, err := NewDecoder().Decode([]byte(frame))
	errs := Errors(err)
	if len(errs) != 1 {
		t.Fatalf("Errors = %v; want one", errs)
	}
	if errs[0].AssetID != asset || errs[0].Market != market {
		t.Fatalf("Error ids = %q / %q; want the whole ids", errs[0].AssetID, errs[0].Market)
	}
}
