package soak

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/polyfeed/polyfeed/bench/internal/httpjson"
	"github.com/polyfeed/polyfeed/bench/internal/proc"
)

// Sample is one observation of polyfeed.
type Sample struct {
	At          time.Duration // since the start of the run
	RSS         uint64        // bytes
	HeapInuse   uint64        // bytes, as last collected (with garbage)
	LiveHeap    uint64        // bytes allocated right after a forced GC
	Goroutines  int
	FDs         int
	Connections int
	Dropped     uint64 // router events dropped under backpressure (cumulative)
	Malformed   uint64 // frames with a decoding error (cumulative)
	Reconnects  uint64 // all connections (cumulative)
	Subscribed  int    // assets subscribed
	// Healthy: /healthz answered 200. An admin server that cannot be
	// reached is unhealthy, not a gap in the data.
	Healthy   bool
	HealthWhy string // body of a non-200 /healthz, or why it could not be reached
	// Complete: every observation succeeded, so the sample joins the
	// resource trends. An incomplete sample still counts for health.
	Complete bool
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

// httpc bounds every request the soak makes of polyfeed and polysim.
var httpc = &http.Client{Timeout: 10 * time.Second}

// takeSample observes the polyfeed process pid serving admin at base.
// /healthz comes first and always yields a verdict (unreachable is red);
// an error means some other observation failed and the sample is not
// Complete.
func takeSample(base string, pid int, at time.Duration) (Sample, error) {
	s := Sample{At: at}
	code, err := httpjson.Get(httpc, base+"/healthz", nil)
	s.Healthy = code == http.StatusOK
	switch {
	case code == 0:
		s.HealthWhy = fmt.Sprintf("admin server unreachable: %v", err)
	case !s.Healthy:
		s.HealthWhy = fmt.Sprint(err)
	}
	if s.RSS, err = proc.RSS(pid); err != nil {
		return s, err
	}
	if s.FDs, err = proc.FDs(pid); err != nil {
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
	if s.LiveHeap, err = liveHeap(base); err != nil {
		return s, err
	}
	var st engineStats
	if _, err := httpjson.Get(httpc, base+"/stats", &st); err != nil {
		return s, err
	}
	s.Connections, s.Dropped, s.Malformed, s.Subscribed = st.Pool.ConnectionCount, st.Router.Dropped, st.Router.Malformed, st.Registry.Subscribed
	for _, c := range st.Pool.Connections {
		s.Reconnects += c.Reconnects
	}
	s.Complete = true
	return s, nil
}

// liveHeap asks polyfeed for its heap profile after a forced collection
// (net/http/pprof's gc=1) and reads HeapAlloc from the runtime.MemStats
// appended to the text form: the bytes that survived the collection, with
// none of the garbage that makes heap-in-use a sawtooth.
func liveHeap(base string) (uint64, error) {
	resp, err := httpc.Get(base + "/debug/pprof/heap?gc=1&debug=1")
	if err != nil {
		return 0, fmt.Errorf("cannot read the heap profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("cannot read the heap profile: status %d (polyfeed needs --pprof)", resp.StatusCode)
	}
	return parseHeapAlloc(resp.Body)
}

// parseHeapAlloc finds "# HeapAlloc = N" in a text heap profile.
func parseHeapAlloc(r io.Reader) (uint64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "# HeapAlloc = "); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("cannot parse HeapAlloc %q: %w", v, err)
			}
			return n, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("cannot read the heap profile: %w", err)
	}
	return 0, errors.New("cannot find HeapAlloc in the heap profile")
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
