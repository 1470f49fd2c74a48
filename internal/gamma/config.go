package gamma

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// DefaultBaseURL is Polymarket's public Gamma API.
const DefaultBaseURL = "https://gamma-api.polymarket.com"

// MaxPageLimit is the largest page the keyset endpoint accepts.
const MaxPageLimit = 100

// Config configures a Client. Zero fields take the documented defaults.
type Config struct {
	// BaseURL is the Gamma API root, without a trailing path. Default DefaultBaseURL.
	BaseURL string
	// HTTPClient sends the requests. Its Timeout should be zero: RequestTimeout
	// bounds each attempt instead. Default: a client with its own clone of
	// http.DefaultTransport, so CloseIdleConnections affects no one else.
	HTTPClient *http.Client
	// PageLimit is the number of markets asked for per page, 1..MaxPageLimit.
	// Default 100.
	PageLimit int
	// MaxPages bounds one listing walk, a last guard against a server that
	// never ends a listing. Default 10000 (a million markets at 100 a page).
	MaxPages int
	// RequestTimeout bounds one HTTP attempt, body read included. Default 10 s.
	RequestTimeout time.Duration
	// MaxRetries is the number of retries after the first attempt of one
	// request, for 429, 5xx and network errors. 0 selects the default 4;
	// a negative value disables retries.
	MaxRetries int
	// BackoffBase is the first retry delay; each retry doubles it up to
	// BackoffMax. The delay is drawn uniformly from [d/2, d] (jitter), so
	// clients that were throttled together do not return together.
	// Defaults 250 ms and 15 s.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// RetryAfterMax caps a server's Retry-After, so one bad header cannot park
	// discovery for hours. Default 60 s.
	RetryAfterMax time.Duration
	// MaxBodyBytes bounds one response body; a larger body is an error.
	// Default 16 MiB (a page of 100 markets is about 1 MiB).
	MaxBodyBytes int64
	// Logger receives walk-level events (fallback, partial result, retries at
	// debug level), never one line per market. Default: discard.
	Logger *slog.Logger
	// Now is the clock, used for Retry-After dates and stats. Default time.Now.
	// Like Sleep, it must be safe for concurrent use when the Client is.
	Now func() time.Time
	// Sleep waits d or until ctx is done, returning ctx.Err() in that case.
	// Tests inject it to record waits. Default: a timer honouring ctx.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (c *Config) fill() error {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil {
		return fmt.Errorf("cannot parse BaseURL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("cannot use BaseURL %q: want an http(s) URL with a host", c.BaseURL)
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	switch {
	case c.PageLimit == 0:
		c.PageLimit = MaxPageLimit
	case c.PageLimit < 0 || c.PageLimit > MaxPageLimit:
		return fmt.Errorf("cannot use PageLimit %d: want 1..%d", c.PageLimit, MaxPageLimit)
	}
	if c.MaxPages == 0 {
		c.MaxPages = 10000
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 10 * time.Second
	}
	switch {
	case c.MaxRetries == 0:
		c.MaxRetries = 4
	case c.MaxRetries < 0:
		c.MaxRetries = 0
	}
	if c.BackoffBase == 0 {
		c.BackoffBase = 250 * time.Millisecond
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = 15 * time.Second
	}
	if c.BackoffMax < c.BackoffBase {
		c.BackoffMax = c.BackoffBase
	}
	if c.RetryAfterMax == 0 {
		c.RetryAfterMax = 60 * time.Second
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 16 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = sleepCtx
	}
	if c.MaxPages < 0 || c.RequestTimeout < 0 || c.BackoffBase < 0 || c.RetryAfterMax < 0 || c.MaxBodyBytes < 0 {
		return errors.New("cannot use negative MaxPages, RequestTimeout, BackoffBase, RetryAfterMax or MaxBodyBytes")
	}
	return nil
}

// sleepCtx waits d on a real timer, returning early with ctx.Err().
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
