package admin

import (
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/polyfeed/polyfeed/book"
)

// Defaults filled in by New for zero Config fields.
const (
	DefaultAddr               = "127.0.0.1:9090"
	DefaultReadHeaderTimeout  = 5 * time.Second
	DefaultReadTimeout        = 10 * time.Second
	DefaultWriteTimeout       = 30 * time.Second
	DefaultIdleTimeout        = 60 * time.Second
	DefaultMaxHeaderBytes     = 64 << 10
	DefaultMaxProfileDuration = 5 * time.Minute
)

// Config configures a Server. Zero fields take the documented defaults. The functions are
// called concurrently from request goroutines (see the package documentation).
type Config struct {
	// Addr is the TCP address to listen on, "host:port". Default "127.0.0.1:9090". Port 0
	// picks a free port; Server.Addr reports the bound one. The surface exposes internals
	// (full books, pprof), so it binds to loopback by default: any other host, including
	// an empty one (all interfaces), is allowed but logged once as a warning by Start.
	Addr string

	// Logger receives lifecycle messages, recovered panics and errors gathering metrics.
	// Default: discard.
	Logger *slog.Logger

	// Stats returns the engine's statistics, rendered as JSON by GET /stats. Nil: the route
	// is not served.
	Stats func() any

	// Healthy reports liveness for GET /healthz, with a reason when not ok. Nil: always
	// healthy (the process answers, which is all liveness can say without it).
	Healthy func() (ok bool, reason string)

	// HealthDetail adds named conditions to every /healthz answer that do not make the
	// process unhealthy on their own (a stopped recording: the books are still right).
	// Nil: none.
	HealthDetail func() map[string]string

	// Ready reports readiness for GET /readyz (not ready while starting or draining), with a
	// reason when not ok. Nil: ready. The server also reports not ready once Stop began.
	Ready func() (ok bool, reason string)

	// Book returns a consistent copy of one asset's book for GET /books/{asset_id}, and false
	// for an unknown asset; an error (engine stopping, worker stuck) is answered with 503.
	// The id has already been validated (decimal digits, at most MaxAssetIDLen bytes).
	// Nil: the route is not served.
	Book func(assetID string) (book.View, bool, error)

	// Gatherer is exposed by GET /metrics. Nil: the route is not served.
	Gatherer prometheus.Gatherer

	// EnablePprof serves net/http/pprof under /debug/pprof/. Default off: profiles cost CPU
	// and reveal the binary's internals.
	EnablePprof bool

	// MaxProfileDuration caps the ?seconds= of pprof requests (CPU profile, trace, delta
	// profiles); longer requests get 400. Default 5 minutes.
	MaxProfileDuration time.Duration

	// ReadHeaderTimeout bounds reading a request's headers (slow-loris protection).
	// Default 5 s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request. Default 10 s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response, counted from the end of the request headers.
	// pprof's profile and trace extend it by their requested duration. Default 30 s.
	WriteTimeout time.Duration
	// IdleTimeout bounds how long a kept-alive connection waits for the next request.
	// Default 60 s.
	IdleTimeout time.Duration
	// MaxHeaderBytes caps the size of request headers, in bytes. Default 64 KiB.
	MaxHeaderBytes int

	// Now is the clock used to compute book.View.AgeMS. Default time.Now.
	Now func() time.Time
}

// withDefaults returns c with zero fields filled in, or an error naming the invalid field.
func (c Config) withDefaults() (Config, error) {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return c, fmt.Errorf("invalid Addr %q: %w", c.Addr, err)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"MaxProfileDuration", &c.MaxProfileDuration, DefaultMaxProfileDuration},
		{"ReadHeaderTimeout", &c.ReadHeaderTimeout, DefaultReadHeaderTimeout},
		{"ReadTimeout", &c.ReadTimeout, DefaultReadTimeout},
		{"WriteTimeout", &c.WriteTimeout, DefaultWriteTimeout},
		{"IdleTimeout", &c.IdleTimeout, DefaultIdleTimeout},
	}
	for _, d := range durations {
		if *d.v < 0 {
			return c, fmt.Errorf("invalid %s %v: must not be negative", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.MaxHeaderBytes < 0 {
		return c, fmt.Errorf("invalid MaxHeaderBytes %d: must not be negative", c.MaxHeaderBytes)
	}
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	return c, nil
}

// isLoopback reports whether addr ("host:port") can only be reached from this machine. An
// empty host means every interface.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
