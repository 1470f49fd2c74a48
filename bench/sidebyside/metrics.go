package sidebyside

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// httpc bounds every request the driver makes of the processes it runs.
var httpc = &http.Client{Timeout: 30 * time.Second}

// histogram is a cumulative Prometheus histogram: upper bound (s) → count.
type histogram map[float64]uint64

// e2eMetric is polyfeed's frame-received → handler-done histogram.
const e2eMetric = "polyfeed_end_to_end_latency_seconds_bucket"

// scrapeHistogram reads one histogram's buckets from a /metrics page.
func scrapeHistogram(url, name string) (histogram, error) {
	resp, err := httpc.Get(url)
	if err != nil {
		return nil, fmt.Errorf("cannot scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	return parseHistogram(resp.Body, name)
}

// parseHistogram reads `name{le="x"} n` lines (text exposition format).
func parseHistogram(r io.Reader, name string) (histogram, error) {
	h := histogram{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name+"{")
		if !ok {
			continue
		}
		i := strings.Index(rest, `le="`)
		if i < 0 {
			continue
		}
		le := rest[i+4:]
		j := strings.IndexByte(le, '"')
		if j < 0 {
			return nil, fmt.Errorf("cannot parse %q", line)
		}
		bound, err := strconv.ParseFloat(le[:j], 64)
		if err != nil {
			return nil, fmt.Errorf("cannot parse %q: %w", line, err)
		}
		f := strings.Fields(le[j:])
		if len(f) < 2 {
			return nil, fmt.Errorf("cannot parse %q", line)
		}
		n, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			return nil, fmt.Errorf("cannot parse %q: %w", line, err)
		}
		h[bound] += uint64(n)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cannot read metrics: %w", err)
	}
	if len(h) == 0 {
		return nil, fmt.Errorf("cannot find %s in metrics", name)
	}
	return h, nil
}

// quantiles returns the q-quantiles (seconds, each a bucket's upper bound) of
// what was recorded between two scrapes, and the count.
func quantiles(before, after histogram, qs ...float64) ([]float64, uint64) {
	bounds := make([]float64, 0, len(after))
	for b := range after {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	var total uint64
	if len(bounds) > 0 {
		total = after[bounds[len(bounds)-1]] - before[bounds[len(bounds)-1]]
	}
	out := make([]float64, len(qs))
	for k, q := range qs {
		out[k] = math.NaN()
		if total == 0 {
			continue
		}
		want := uint64(math.Ceil(q * float64(total)))
		for _, b := range bounds {
			if after[b]-before[b] >= want {
				out[k] = b
				break
			}
		}
	}
	return out, total
}
