package admin

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/polyfeed/polyfeed/book"
)

const (
	// MaxAssetIDLen is the longest asset id GET /books accepts, in bytes. Polymarket token
	// ids are decimal uint256 values: at most 78 digits.
	MaxAssetIDLen = 100
	// MaxDepth is the largest ?depth= GET /books accepts.
	MaxDepth = 1000
)

// serveBook answers GET /books/{asset_id}[?depth=N].
func (s *Server) serveBook(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("asset_id")
	if err := validateAssetID(id); err != nil {
		s.writeError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	depth, err := parseDepth(r.URL.Query())
	if err != nil {
		s.writeError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	view, ok, err := s.cfg.Book(id)
	if err != nil {
		// The engine could not answer (stopping, or the owning worker is stuck):
		// not the client's fault, and not "unknown" either.
		s.writeError(w, r, http.StatusServiceUnavailable, "cannot read book: "+err.Error())
		return
	}
	if !ok {
		s.writeError(w, r, http.StatusNotFound, "unknown asset "+id)
		return
	}
	view.BidLevels, view.AskLevels = len(view.Bids), len(view.Asks)
	view.Bids, view.Asks = capLevels(view.Bids, depth), capLevels(view.Asks, depth)
	view.AgeMS = 0
	if view.UpdatedAtMS != 0 {
		view.AgeMS = s.cfg.Now().UnixMilli() - view.UpdatedAtMS
	}
	s.writeJSON(w, r, http.StatusOK, view)
}

// validateAssetID accepts 1..MaxAssetIDLen ASCII decimal digits: the shape of every
// Polymarket token id. Anything else is refused before it reaches the engine.
func validateAssetID(id string) error {
	if id == "" {
		return errors.New("invalid asset id: empty")
	}
	if len(id) > MaxAssetIDLen {
		return fmt.Errorf("invalid asset id: %d bytes long, at most %d", len(id), MaxAssetIDLen)
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return fmt.Errorf("invalid asset id: byte %d is %q, want a decimal digit", i, id[i:i+1])
		}
	}
	return nil
}

// parseDepth reads ?depth=, 0 meaning absent (no cap).
func parseDepth(q url.Values) (int, error) {
	if !q.Has("depth") {
		return 0, nil
	}
	v := q.Get("depth")
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxDepth {
		if len(v) > 20 {
			v = v[:20] + "..."
		}
		return 0, fmt.Errorf("invalid depth %q: want an integer from 1 to %d", v, MaxDepth)
	}
	return n, nil
}

// capLevels returns at most depth levels (all when depth is 0), never nil so that an empty
// side renders as [] rather than null.
func capLevels(levels []book.LevelView, depth int) []book.LevelView {
	if levels == nil {
		return []book.LevelView{}
	}
	if depth > 0 && len(levels) > depth {
		return levels[:depth:depth]
	}
	return levels
}
