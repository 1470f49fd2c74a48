package gamma

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestNewDefaults(t *testing.T) {
	c, err := New(Config{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer c.CloseIdleConnections()
	cfg := c.cfg
	if cfg.BaseURL != DefaultBaseURL || cfg.PageLimit != 100 || cfg.RequestTimeout != 10*time.Second ||
		cfg.MaxRetries != 4 || cfg.BackoffBase != 250*time.Millisecond || cfg.BackoffMax != 15*time.Second ||
		cfg.RetryAfterMax != time.Minute || cfg.MaxBodyBytes != 16<<20 || cfg.MaxPages != 10000 ||
		cfg.HTTPClient == nil || cfg.HTTPClient == http.DefaultClient || cfg.Logger == nil || cfg.Now == nil || cfg.Sleep == nil {
		t.Fatalf("defaults = %+v", cfg)
	}
	c2, err := New(Config{MaxRetries: -1, BaseURL: "http://127.0.0.1:1/"})
	if err != nil || c2.cfg.MaxRetries != 0 || c2.base != "http://127.0.0.1:1" {
		t.Fatalf("New = %+v, %v; want retries disabled and the slash trimmed", c2, err)
	}
}

func TestNewRejects(t *testing.T) {
	for _, cfg := range []Config{
		{PageLimit: 101},
		{PageLimit: -1},
		{BaseURL: "gamma-api.polymarket.com"},
		{BaseURL: "ftp://x"},
		{BaseURL: "http://[::1"},
		{MaxBodyBytes: -1},
		{RequestTimeout: -time.Second},
	} {
		if _, err := New(cfg); err == nil || !strings.HasPrefix(err.Error(), "cannot create gamma client: ") {
			t.Errorf("New(%+v) = %v; want an error", cfg, err)
		}
	}
}

func TestBackoff(t *testing.T) {
	c, err := New(Config{BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for attempt, step := range []time.Duration{100, 200, 400, 800, 1000, 1000, 1000} {
		step *= time.Millisecond
		for range 50 {
			if d := c.backoff(attempt); d < step/2 || d > step {
				t.Fatalf("backoff(%d) = %v; want in [%v, %v]", attempt, d, step/2, step)
			}
		}
	}
	if d := c.backoff(1 << 20); d > time.Second {
		t.Fatalf("backoff(huge) = %v; want capped", d)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 12, 9, 0, 0, 0, time.UTC)
	c, err := New(Config{Now: func() time.Time { return now }, RetryAfterMax: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for h, want := range map[string]time.Duration{
		"":                              0,
		"0":                             0,
		"7":                             7 * time.Second,
		" 7 ":                           7 * time.Second,
		"61":                            time.Minute,
		"99999999999999999999999":       time.Minute,
		"-5":                            0,
		"1.5":                           0,
		"Thu, 12 Mar 2026 09:00:30 GMT": 30 * time.Second,
		"Thu, 12 Mar 2026 08:00:00 GMT": 0,
		"Fri, 13 Mar 2026 09:00:00 GMT": time.Minute,
		"tomorrow":                      0,
	} {
		if got := c.retryAfter(h); got != want {
			t.Errorf("retryAfter(%q) = %v; want %v", h, got, want)
		}
	}
}

func TestGetMarket(t *testing.T) {
	v := &venue{markets: [][]byte{
		genMarket(t, 0, nil),
		readFixture(t, "market_closed_binary_accepting_true.json"),
	}}
	c, _, _ := newVenue(t, v, Config{})
	ctx := context.Background()

	m, err := c.GetMarket(ctx, marketID(0))
	if err != nil || m.ID != marketID(0) || len(m.TokenIDs) != 2 {
		t.Fatalf("GetMarket(open) = %+v, %v", m, err)
	}
	m, err = c.GetMarket(ctx, "1812085")
	var ime *InvalidMarketError
	if !errors.As(err, &ime) || ime.Reason != ReasonClosed || !m.Closed || m.ID != "1812085" {
		t.Fatalf("GetMarket(closed) = %+v, %v; want the market and reason closed", m, err)
	}
	_, err = c.GetMarket(ctx, "404404")
	if !errors.Is(err, ErrNotFound) || !strings.HasPrefix(err.Error(), `cannot get market "404404": `) {
		t.Fatalf("GetMarket(missing) = %v; want ErrNotFound", err)
	}
	if n := len(v.requests()); n != 3 {
		t.Fatalf("%d requests; want 3 (a 404 is not retried)", n)
	}
	if p := v.requests()[0].URL.Path; p != "/markets/"+marketID(0) {
		t.Fatalf("path %q", p)
	}
}

func TestGetMarketWrongID(t *testing.T) {
	v := &venue{hook: func(_ int, w http.ResponseWriter, _ *http.Request) bool {
		writeJSON(w, http.StatusOK, string(genMarket(t, 5, nil)))
		return true
	}}
	c, _, _ := newVenue(t, v, Config{})
	if _, err := c.GetMarket(context.Background(), marketID(0)); err == nil || !strings.Contains(err.Error(), "answered market") {
		t.Fatalf("GetMarket = %v; want a mismatch error", err)
	}
}
