// Package httpjson reads JSON answers from the loopback HTTP APIs the bench
// drivers watch (polyfeed's admin server, polysim's control API, the
// baseline clients' /stats).
//
// Concurrency: Get holds no state of its own; any number of goroutines may
// call it at once, with the same or different clients.
package httpjson

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxBody bounds what Get reads from one answer.
const maxBody = 64 << 20

// Get GETs url with c and decodes the answer into v (nil: the body is read
// and dropped). A non-200 answer is an error carrying its body; the status
// code is returned whenever an answer arrived, so callers can tell a 404
// from a failure to connect (code 0).
func Get(c *http.Client, url string, v any) (int, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("cannot read %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	if v == nil {
		return resp.StatusCode, nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return resp.StatusCode, fmt.Errorf("cannot decode %s: %w", url, err)
	}
	return resp.StatusCode, nil
}
