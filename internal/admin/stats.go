package admin

import "net/http"

// serveStats renders the engine's statistics. Their shape belongs to the engine; this
// package only guarantees valid JSON (or a 500 naming the encoding error).
func (s *Server) serveStats(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, r, http.StatusOK, s.cfg.Stats())
}
