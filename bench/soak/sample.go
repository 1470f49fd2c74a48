package soak

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sample is one observation of polyfeed.
type Sample struct {
	At          time.Duration // since the start of the run
	RSS         uint64        // bytes
	HeapInuse   uint64        // bytes
	Goroutines  int
	FDs         int
	Connections int
	Dropped     uint64 // router events dropped under backpressure (cumulative)
	Malformed   uint64 // frames with a decoding error (cumulative)
	Reconnects  uint64 // all connections (cumulative)
	Subscribed  int    // assets subscribed
	Healthy     bool
	HealthWhy   string // body of a non-200 /healthz
}

// engineStats is the part of polyfeed's /stats the soak reads.
type engineStats struct {
	Registry struct {
		Subscribed int `json:"subscribed"`
	} `json:"registry"`
	Pool struct {
		ConnectionCount int `json:"connection_count"`
		Connections     []struct {
			Reconnects uint64 `json:"reconnects"`
		} `json:"connections"`
	} `json:"pool"`
	Router struct {
		Dropped   uint64 `json:"messages_dropped"`
		Malformed uint64 `json:"malformed_frames"`
	} `json:"router"`
}

var httpc = &http.Client{Timeout: 10 * time.Second}

// getJSON GETs url into v; a non-200 answer is an error with its body.
func getJSON(url string, v any) (int, error) {
	resp, err := httpc.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
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

// takeSample observes the polyfeed process pid serving admin at base.
func takeSample(base string, pid int, at time.Duration) (Sample, error) {
	s := Sample{At: at}
	var err error
	if s.RSS, err = procRSS(pid); err != nil {
		return s, err
	}
	if s.FDs, err = procFDs(pid); err != nil {
		return s, err
	}
	resp, err := httpc.Get(base + "/metrics")
	if err != nil {
		return s, fmt.Errorf("cannot scrape metrics: %w", err)
	}
	m, err := parseMetrics(resp.Body, "go_memstats_heap_inuse_bytes", "go_goroutines")
	resp.Body.Close()
	if err != nil {
		return s, err
	}
	s.HeapInuse, s.Goroutines = uint64(m["go_memstats_heap_inuse_bytes"]), int(m["go_goroutines"])
	var st engineStats
	if _, err := getJSON(base+"/stats", &st); err != nil {
		return s, err
	}
	s.Connections, s.Dropped, s.Malformed, s.Subscribed = st.Pool.ConnectionCount, st.Router.Dropped, st.Router.Malformed, st.Registry.Subscribed
	for _, c := range st.Pool.Connections {
		s.Reconnects += c.Reconnects
	}
	code, err := getJSON(base+"/healthz", nil)
	s.Healthy = code == http.StatusOK
	if !s.Healthy {
		s.HealthWhy = fmt.Sprint(err)
	}
	return s, nil
}

// parseMetrics reads the unlabelled samples named in want from Prometheus
// text exposition; every wanted name must be present.
func parseMetrics(r io.Reader, want ...string) (map[string]float64, error) {
	out := make(map[string]float64, len(want))
	wanted := make(map[string]bool, len(want))
	for _, w := range want {
		wanted[w] = true
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok || !wanted[name] {
			continue
		}
		val, _, _ = strings.Cut(strings.TrimSpace(val), " ") // drop a timestamp
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return nil, fmt.Errorf("cannot parse metric %s value %q: %w", name, val, err)
		}
		out[name] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cannot read metrics: %w", err)
	}
	for _, w := range want {
		if _, ok := out[w]; !ok {
			return nil, fmt.Errorf("metric %s missing from /metrics", w)
		}
	}
	return out, nil
}
