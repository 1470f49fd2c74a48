package soak

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/polyfeed/polyfeed/bench/internal/truth"
)

// Mismatch is one book that differs from the truth at the end of a run.
type Mismatch = truth.Mismatch

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
