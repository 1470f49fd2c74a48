// Package truth compares the books polyfeed keeps (GET /books/{id} on its
// admin server) with the simulator's truth (GET /sim/books/{id} on polysim)
// for the bench drivers that run both programs as processes.
//
// A comparison is only meaningful while the simulator is paused: callers
// pause it first and retry until the books converge or their bound ends.
//
// Concurrency: the functions hold no state of their own; any number of
// goroutines may call them at once. Each one reads over HTTP with the
// client it is given.
package truth

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/polyfeed/polyfeed/bench/internal/httpjson"
	"github.com/polyfeed/polyfeed/fixed"
)

// level and book are the parts of polyfeed's /books/{id} and polysim's
// /sim/books/{id} answers that must agree (both render fixed.Point text).
type level struct {
	Price fixed.Point `json:"price"`
	Size  fixed.Point `json:"size"`
}

type book struct {
	Bids  []level `json:"bids"`
	Asks  []level `json:"asks"`
	Valid *bool   `json:"valid"` // polyfeed only
}

type simMarket struct {
	TokenIDs        []string
	Closed          bool
	EnableOrderBook bool
}

// OpenAssets lists the asset ids of the simulator's open, book-carrying
// markets (polysim's /sim/markets at simBase).
func OpenAssets(c *http.Client, simBase string) ([]string, error) {
	var ms []simMarket
	if _, err := httpjson.Get(c, simBase+"/sim/markets", &ms); err != nil {
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

// Mismatch is one book that differs from the truth.
type Mismatch struct {
	AssetID, Why string
}

// String reads "asset: why".
func (m Mismatch) String() string { return m.AssetID + ": " + m.Why }

// Compare compares every id's book in polyfeed (at feedBase) with the
// simulator's (at simBase) and returns those that differ, are marked
// invalid, are missing or could not be read.
func Compare(c *http.Client, feedBase, simBase string, ids []string) []Mismatch {
	var bad []Mismatch
	for _, id := range ids {
		if why := compareBook(c, feedBase, simBase, id); why != "" {
			bad = append(bad, Mismatch{AssetID: id, Why: why})
		}
	}
	return bad
}

func compareBook(c *http.Client, feedBase, simBase, id string) string {
	var truth, got book
	if _, err := httpjson.Get(c, simBase+"/sim/books/"+url.PathEscape(id), &truth); err != nil {
		return "no truth: " + err.Error()
	}
	code, err := httpjson.Get(c, feedBase+"/books/"+url.PathEscape(id), &got)
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
