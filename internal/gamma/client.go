package gamma

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to the Gamma API. Create it with New; safe for concurrent use.
type Client struct {
	cfg  Config
	base string // BaseURL without a trailing slash
}

// New returns a Client for cfg with defaults filled in.
func New(cfg Config) (*Client, error) {
	if err := cfg.fill(); err != nil {
		return nil, fmt.Errorf("cannot create gamma client: %w", err)
	}
	return &Client{cfg: cfg, base: strings.TrimRight(cfg.BaseURL, "/")}, nil
}

// CloseIdleConnections closes the HTTP client's idle keep-alive connections
// (and with them the transport's per-connection goroutines). Call it when the
// client is no longer used; it is safe to call at any time.
func (c *Client) CloseIdleConnections() { c.cfg.HTTPClient.CloseIdleConnections() }

// ErrNotFound matches (errors.Is) a 404 from the API.
var ErrNotFound = errors.New("not found")

// StatusError is a non-2xx answer from the API.
type StatusError struct {
	Code int
	Body string // start of the body, for humans
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("status %d %s", e.Code, http.StatusText(e.Code))
	if e.Body != "" {
		s += ": " + e.Body
	}
	return s
}

// Is makes errors.Is(err, ErrNotFound) true for a 404.
func (e *StatusError) Is(target error) bool {
	return target == ErrNotFound && e.Code == http.StatusNotFound
}

// errBodyTooLarge marks a body over MaxBodyBytes.
var errBodyTooLarge = errors.New("response body too large")

// get fetches base+path?q with retries and returns the 2xx body. 429, 5xx
// (but 501) and network errors or timeouts are retried up to MaxRetries with
// jittered exponential backoff; a Retry-After (429 or 503) is waited at least.
// Everything else fails at once. Attempts and failures are counted in st.
func (c *Client) get(ctx context.Context, path string, q url.Values, st *DiscoverStats) ([]byte, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			st.Retries++
		}
		st.Requests++
		body, retryAfter, retry, err := c.attempt(ctx, u, st)
		if err == nil {
			return body, nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		if !retry {
			return nil, err
		}
		if attempt >= c.cfg.MaxRetries {
			return nil, fmt.Errorf("giving up after %d attempts: %w", attempt+1, err)
		}
		d := c.backoff(attempt)
		if retryAfter > d {
			d = retryAfter
		}
		c.cfg.Logger.Debug("gamma request failed, retrying", "path", path, "attempt", attempt+1, "wait", d, "err", err)
		if err := c.cfg.Sleep(ctx, d); err != nil {
			return nil, err
		}
	}
}

// attempt makes one request bounded by RequestTimeout. retry says whether the
// failure is worth another attempt; retryAfter is the server's wish (capped).
func (c *Client) attempt(ctx context.Context, u string, st *DiscoverStats) (body []byte, retryAfter time.Duration, retry bool, err error) {
	actx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, false, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, 0, c.transportFailure(ctx, actx, st), err
	}
	defer resp.Body.Close()

	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	limit := c.cfg.MaxBodyBytes
	if !ok {
		limit = 512 // only the start of an error body is kept, for the message
	}
	body, err = io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, 0, c.transportFailure(ctx, actx, st), fmt.Errorf("cannot read body: %w", err)
	}
	if ok {
		if int64(len(body)) > limit {
			st.apiError(ClassBodyTooBig)
			return nil, 0, false, fmt.Errorf("%w: over %d bytes", errBodyTooLarge, limit)
		}
		return body, 0, false, nil
	}
	if int64(len(body)) > limit {
		body = body[:limit]
	}
	se := &StatusError{Code: resp.StatusCode, Body: strings.TrimSpace(string(body))}
	switch code := resp.StatusCode; {
	case code == http.StatusTooManyRequests:
		st.apiError(ClassThrottled)
		return nil, c.retryAfter(resp.Header.Get("Retry-After")), true, se
	case code >= 500:
		st.apiError(ClassServer)
		// 501 Not Implemented is a permanent answer (an endpoint that does
		// not exist here), not an outage.
		return nil, c.retryAfter(resp.Header.Get("Retry-After")), code != http.StatusNotImplemented, se
	case code == http.StatusUnprocessableEntity:
		st.apiError(ClassValidation)
	default:
		st.apiError(ClassClient)
	}
	return nil, 0, false, se
}

// transportFailure classifies a failed round trip or body read and says
// whether to retry. A cancelled caller context is neither counted nor retried.
func (c *Client) transportFailure(ctx, actx context.Context, st *DiscoverStats) bool {
	switch {
	case ctx.Err() != nil:
		return false
	case errors.Is(actx.Err(), context.DeadlineExceeded):
		st.apiError(ClassTimeout)
	default:
		st.apiError(ClassNetwork)
	}
	return true
}
