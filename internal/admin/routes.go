package admin

import (
	"net/http"
	"strings"
)

// route is one enabled endpoint, listed by the index.
type route struct {
	Path        string `json:"path"`
	Description string `json:"description"`
}

// newMux registers the enabled routes on a private ServeMux (never http.DefaultServeMux) and
// wraps it so that unknown paths and wrong methods get JSON errors too.
func (s *Server) newMux() http.Handler {
	mux := http.NewServeMux()
	add := func(pattern, path, desc string, h http.HandlerFunc) {
		mux.HandleFunc(pattern, h)
		s.routes = append(s.routes, route{Path: path, Description: desc})
	}
	add("GET /healthz", "/healthz", "liveness: 200 ok or 503 with the reason", s.serveHealthz)
	add("GET /readyz", "/readyz", "readiness: 200 ready or 503 while starting or draining", s.serveReadyz)
	if s.cfg.Stats != nil {
		add("GET /stats", "/stats", "engine statistics as JSON; ?pretty=1 indents", s.serveStats)
	}
	if s.cfg.Gatherer != nil {
		add("GET /metrics", "/metrics", "Prometheus metrics", s.metricsHandler().ServeHTTP)
	}
	if s.cfg.Book != nil {
		add("GET /books/{asset_id}", "/books/{asset_id}",
			"one asset's order book; ?depth=N (1..1000) caps the levels per side", s.serveBook)
		// "/books/" alone would otherwise be an unknown path; it is a request with an empty id.
		mux.HandleFunc("GET /books/{$}", s.serveBook)
	}
	if s.cfg.EnablePprof {
		s.registerPprof(mux)
		s.routes = append(s.routes, route{Path: "/debug/pprof/", Description: "Go runtime profiles (net/http/pprof)"})
	}
	mux.HandleFunc("GET /{$}", s.serveIndex)
	return s.jsonFallbacks(mux)
}

// serveIndex lists the enabled endpoints.
func (s *Server) serveIndex(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, r, http.StatusOK, struct {
		Endpoints []route `json:"endpoints"`
	}{s.routes})
}

// jsonFallbacks lets mux serve every request it has a pattern for (including its own
// trailing-slash redirects) and turns its plain-text 404 and 405 answers into JSON errors,
// keeping the Allow header of a 405.
func (s *Server) jsonFallbacks(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r) // sets the path values that h alone would lack
			return
		}
		rec := &statusRecorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		switch rec.status {
		case http.StatusMethodNotAllowed:
			if allow := rec.header.Get("Allow"); allow != "" {
				w.Header().Set("Allow", allow)
			}
			s.writeError(w, r, rec.status, "method "+r.Method+" not allowed; allowed: "+rec.header.Get("Allow"))
		case http.StatusNotFound:
			s.writeError(w, r, rec.status, "no such endpoint: "+r.URL.Path+" (GET / lists them)")
		default:
			// Not an answer this wrapper knows; replay it as the mux wrote it.
			for k, v := range rec.header {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.status)
			_, _ = w.Write([]byte(strings.Join(rec.body, "")))
		}
	})
}

// statusRecorder captures the mux's fallback answer so it can be rewritten as JSON.
type statusRecorder struct {
	header http.Header
	status int
	body   []string
}

func (r *statusRecorder) Header() http.Header { return r.header }

func (r *statusRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *statusRecorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body = append(r.body, string(p))
	return len(p), nil
}
