package sim

import (
	"io"
	"net/http"
	"strconv"

	"github.com/polyfeed/polyfeed/fixed"
)

// Book is the simulator's truth for one asset, best level first on each side.
type Book struct {
	AssetID   string      `json:"asset_id"`
	Market    string      `json:"market"`
	Bids      []Level     `json:"bids"`
	Asks      []Level     `json:"asks"`
	TickSize  fixed.Point `json:"tick_size"`
	Timestamp int64       `json:"timestamp"` // virtual ms of the last generated tick
	Closed    bool        `json:"closed"`
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws/market", s.handleWS)
	mux.HandleFunc("GET /markets", s.handleMarkets)
	mux.HandleFunc("GET /markets/keyset", s.handleKeyset)
	mux.HandleFunc("GET /sim/books/{asset_id}", func(w http.ResponseWriter, r *http.Request) {
		b, ok := s.Book(r.PathValue("asset_id"))
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown asset"})
			return
		}
		writeJSON(w, http.StatusOK, b)
	})
	mux.HandleFunc("POST /sim/pause", func(w http.ResponseWriter, r *http.Request) {
		s.Pause()
		writeJSON(w, http.StatusOK, map[string]bool{"paused": true})
	})
	mux.HandleFunc("POST /sim/resume", func(w http.ResponseWriter, r *http.Request) {
		s.Resume()
		writeJSON(w, http.StatusOK, map[string]bool{"paused": false})
	})
	mux.HandleFunc("POST /sim/step", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("ticks"))
		if err != nil || n < 1 || n > 1_000_000 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "ticks must be an integer in [1, 1000000]"})
			return
		}
		s.Step(n)
		writeJSON(w, http.StatusOK, map[string]int{"ticks": n})
	})
	mux.HandleFunc("GET /sim/stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
	mux.HandleFunc("GET /sim/markets", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Markets())
	})
	mux.HandleFunc("GET /sim/faults", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, s.Faults().String()+"\n")
	})
	mux.HandleFunc("POST /sim/faults", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		f, err := ParseFaults(string(body))
		if err == nil {
			err = s.SetFaults(f)
		}
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"faults": f.String()})
	})
	mux.HandleFunc("POST /sim/close", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		n, err := s.CloseSockets(code)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]int{"closed": n})
	})
	return mux
}
