package sidebyside

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/polyfeed/polyfeed/fixed"
)

// level and book are the parts of polyfeed's /books/{id} and polysim's
// /sim/books/{id} answers that must agree.
type level struct {
	Price fixed.Point `json:"price"`
	Size  fixed.Point `json:"size"`
}

type book struct {
	Bids  []level `json:"bids"`
	Asks  []level `json:"asks"`
	Valid *bool   `json:"valid"` // polyfeed only
}

// openAssets lists the asset ids of the simulator's open, book-carrying markets.
func openAssets(simBase string) ([]string, error) {
	var ms []struct {
		TokenIDs        []string
		Closed          bool
		EnableOrderBook bool
	}
	if _, err := getJSON(simBase+"/sim/markets", &ms); err != nil {
		return nil, err
	}
	var ids []string
	for _, m := range ms {
		if !m.Closed && m.EnableOrderBook {
			ids = append(ids, m.TokenIDs...)
		}
	}
	return ids, nil
}

// compareBooks returns "asset: why" for every book polyfeed has wrong.
func compareBooks(feedBase, simBase string, ids []string) []string {
	var bad []string
	for _, id := range ids {
		if why := compareBook(feedBase, simBase, id); why != "" {
			bad = append(bad, id+": "+why)
		}
	}
	return bad
}

func compareBook(feedBase, simBase, id string) string {
	var truth, got book
	if _, err := getJSON(simBase+"/sim/books/"+url.PathEscape(id), &truth); err != nil {
		return "no truth: " + err.Error()
	}
	code, err := getJSON(feedBase+"/books/"+url.PathEscape(id), &got)
	switch {
	case code == http.StatusNotFound:
		return "not in polyfeed"
	case err != nil:
		return err.Error()
	case got.Valid != nil && !*got.Valid:
		return "book invalid"
	}
	if w := diffSide("bids", got.Bids, truth.Bids); w != "" {
		return w
	}
	return diffSide("asks", got.Asks, truth.Asks)
}

func diffSide(name string, got, want []level) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%s: %d levels, truth %d", name, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			return fmt.Sprintf("%s[%d] = %s@%s, truth %s@%s", name, i, got[i].Size, got[i].Price, want[i].Size, want[i].Price)
		}
	}
	return ""
}
