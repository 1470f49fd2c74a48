package admin

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsHandler exposes Config.Gatherer. A collector that fails does not blank the whole
// scrape: the metrics that could be gathered are served and the error is logged (once per
// scrape, never per event).
func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{
		ErrorLog:      promLogger{s.log},
		ErrorHandling: promhttp.ContinueOnError,
		// Scrapes are cheap but not free; a misbehaving scraper must not pile them up.
		MaxRequestsInFlight: 4,
	})
}

// promLogger adapts slog to promhttp's Println-style logger.
type promLogger struct{ log *slog.Logger }

func (l promLogger) Println(v ...any) {
	l.log.Error("cannot gather metrics", "err", fmt.Sprint(v...))
}
