package admin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/polyfeed/polyfeed/book"
)

const fixtureAssetID = "71321045679252212594626385532706912750332728571942532289631379312455583992563"

func TestValidateAssetID(t *testing.T) {
	tests := []struct {
		id      string
		wantErr string // "" for valid
	}{
		{fixtureAssetID, ""},
		{"0", ""},
		{strings.Repeat("9", MaxAssetIDLen), ""},
		{"", "invalid asset id: empty"},
		{strings.Repeat("9", MaxAssetIDLen+1), "invalid asset id: 101 bytes long, at most 100"},
		{"12 3", `invalid asset id: byte 2 is " ", want a decimal digit`},
		{"+1", `invalid asset id: byte 0 is "+", want a decimal digit`},
		{"1\x00", `invalid asset id: byte 1 is "\x00", want a decimal digit`},
		{"١", `invalid asset id: byte 0 is "\xd9", want a decimal digit`}, // Arabic-Indic one
	}
	for _, tt := range tests {
		err := validateAssetID(tt.id)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.wantErr {
			t.Errorf("validateAssetID(%q) = %q; want %q", tt.id, got, tt.wantErr)
		}
	}
}

// FuzzBookID drives arbitrary ids and depths through the real /books routing and validation:
// the answer is always a JSON object with a status the id and depth explain, and the engine is
// asked only for ids of the accepted shape.
func FuzzBookID(f *testing.F) {
	for _, seed := range []struct{ id, depth string }{
		{fixtureAssetID, ""},
		{fixtureAssetID, "5"},
		{"1", "1000"},
		{"1", "1001"},
		{"", ""},
		{"abc", "1"},
		{"12/34", ""},
		{"..", ""},
		{".", "2"},
		{"0x1f", "-1"},
		{"１２", ""},
		{strings.Repeat("7", MaxAssetIDLen+1), ""},
		{"%2F", "%00"},
		{"1", "1e3"},
		{"1\x00", ""},
	} {
		f.Add(seed.id, seed.depth)
	}
	var asked string
	s, err := New(Config{Book: func(id string) (book.View, bool, error) {
		asked = id
		if err := validateAssetID(id); err != nil {
			panic("engine asked for an invalid id " + id)
		}
		if id == fixtureAssetID {
			return book.View{AssetID: id, Bids: make([]book.LevelView, 1200)}, true, nil
		}
		return book.View{}, false, nil
	}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id, depth string) {
		// The oracle, written independently of validateAssetID.
		validID := len(id) >= 1 && len(id) <= MaxAssetIDLen && strings.Trim(id, "0123456789") == ""
		if err := validateAssetID(id); (err == nil) != validID {
			t.Fatalf("validateAssetID(%q) = %v; want valid=%v", id, err, validID)
		}

		target := "/books/" + url.PathEscape(id) + "?depth=" + url.QueryEscape(depth)
		req := httptest.NewRequest(http.MethodGet, target, nil)
		rec := httptest.NewRecorder()
		asked = ""
		s.handler.ServeHTTP(rec, req)

		if id == "." || id == ".." {
			// Dot segments are cleaned by the mux before routing: a redirect, not a lookup.
			if rec.Code/100 != 3 || asked != "" {
				t.Fatalf("GET %s = %d (engine asked %q); want a redirect", target, rec.Code, asked)
			}
			return
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("GET %s Content-Type = %q", target, ct)
		}
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("GET %s body %q is not JSON: %v", target, rec.Body.Bytes(), err)
		}
		validDepth := false
		if n, err := parseDepth(url.Values{"depth": {depth}}); err == nil && n >= 1 && n <= MaxDepth {
			validDepth = true
		}
		switch {
		case !validID || !validDepth:
			if rec.Code != http.StatusBadRequest || asked != "" {
				t.Fatalf("GET %s = %d (engine asked %q); want 400 without asking", target, rec.Code, asked)
			}
		case id == fixtureAssetID:
			bids, _ := body["bids"].([]any)
			if rec.Code != http.StatusOK || len(bids) > MaxDepth || body["bid_levels"] != float64(1200) {
				t.Fatalf("GET %s = %d with %d bids; want 200 with at most %d", target, rec.Code, len(bids), MaxDepth)
			}
		default:
			if rec.Code != http.StatusNotFound || asked != id {
				t.Fatalf("GET %s = %d (engine asked %q); want 404 after asking for %q", target, rec.Code, asked, id)
			}
		}
	})
}
