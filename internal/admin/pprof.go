package admin

import (
	"fmt"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"
)

// registerPprof registers net/http/pprof explicitly on mux. (Importing net/http/pprof also
// registers it on http.DefaultServeMux, which this package never serves.)
func (s *Server) registerPprof(mux *http.ServeMux) {
	mux.Handle("GET /debug/pprof/", s.limitProfile(http.HandlerFunc(pprof.Index)))
	mux.Handle("GET /debug/pprof/cmdline", http.HandlerFunc(pprof.Cmdline))
	mux.Handle("GET /debug/pprof/profile", s.limitProfile(http.HandlerFunc(pprof.Profile)))
	mux.Handle("GET /debug/pprof/symbol", http.HandlerFunc(pprof.Symbol))
	mux.Handle("POST /debug/pprof/symbol", http.HandlerFunc(pprof.Symbol)) // go tool pprof posts addresses
	mux.Handle("GET /debug/pprof/trace", s.limitProfile(http.HandlerFunc(pprof.Trace)))
	// The named profiles are also reachable through Index ("/debug/pprof/heap"); listing
	// them keeps the routes explicit and the duration cap on each.
	for _, name := range []string{"allocs", "block", "goroutine", "heap", "mutex", "threadcreate"} {
		mux.Handle("GET /debug/pprof/"+name, s.limitProfile(pprof.Handler(name)))
	}
}

// limitProfile refuses a ?seconds= above Config.MaxProfileDuration: pprof extends its write
// deadline by the requested duration, so an unbounded value would hold a connection (and, for
// the CPU profile, the process-wide profiler) for as long as the client asked.
func (s *Server) limitProfile(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.URL.Query().Get("seconds"); v != "" {
			sec, err := strconv.ParseFloat(v, 64)
			// pprof treats unparsable or non-positive values itself (default or 400); the
			// negated comparison also refuses NaN, which pprof's trace would accept.
			if err == nil && !(sec <= s.cfg.MaxProfileDuration.Seconds()) {
				s.writeError(w, r, http.StatusBadRequest, fmt.Sprintf(
					"seconds=%s exceeds the maximum profile duration of %v", v, s.cfg.MaxProfileDuration.Round(time.Second)))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
