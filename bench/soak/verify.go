package soak

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

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

// openAssets lists the asset ids of the simulator's open, book-carrying markets.
func openAssets(simBase string) ([]string, error) {
	var ms []simMarket
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

// Mismatch is one book that differs from the truth.
type Mismatch struct {
	AssetID, Why string
}

// compareBooks compares every id's book in polyfeed with the simulator's.
func compareBooks(feedBase, simBase string, ids []string) []Mismatch {
	var bad []Mismatch
	for _, id := range ids {
		if why := compareBook(feedBase, simBase, id); why != "" {
			bad = append(bad, Mismatch{AssetID: id, Why: why})
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

// badIDs are asset ids, as escaped URL path segments, that the admin
// server must reject with 400 before they reach the engine: not decimal,
// too long, control bytes, Unicode tricks, spaces, hex.
var badIDs = []string{
	"abc",
	"12345x",
	"-1",
	strings.Repeat("9", 200),
	"1%00",
	"%E2%80%AE123",
	"1%202",
	"0x1f",
}

// probeBadIDs returns a description of every bad id polyfeed did not
// answer with 400.
func probeBadIDs(feedBase string) []string {
	var fails []string
	for _, id := range badIDs {
		resp, err := httpc.Get(feedBase + "/books/" + id)
		if err != nil {
			fails = append(fails, fmt.Sprintf("%q: %v", id, err))
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			fails = append(fails, fmt.Sprintf("%q: status %d, want 400", id, resp.StatusCode))
		}
	}
	return fails
}
