package gamma

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// backoff returns the wait before retry number attempt+1: BackoffBase doubled
// per attempt, capped at BackoffMax, drawn from [d/2, d] so that clients
// throttled together spread out, while still waiting at least half the step.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.cfg.BackoffBase
	for i := 0; i < attempt && d < c.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, c.cfg.BackoffMax)
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1) // math/rand/v2's global source is safe for concurrent use
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date
// (RFC 9110 §10.2.3). Missing or unreadable yields 0 (plain backoff applies);
// the result is capped at RetryAfterMax.
func (c *Client) retryAfter(h string) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseUint(h, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		d = c.cfg.RetryAfterMax // so many seconds that it can only be capped
		if secs < uint64(c.cfg.RetryAfterMax/time.Second) {
			d = time.Duration(secs) * time.Second
		}
	} else if t, err := http.ParseTime(h); err == nil {
		d = t.Sub(c.cfg.Now())
	}
	return max(0, min(d, c.cfg.RetryAfterMax))
}
