package main

// End-to-end: the real polyfeed and polysim binaries as separate processes on
// loopback, observed only through their HTTP surfaces, exit codes and logs.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/polyfeed/polyfeed/internal/poll"
)

const (
	e2eMarkets    = 1100 // 2% have no order book: ~1078 markets, ~2156 assets
	e2eMinAssets  = 2000
	e2eExitBound  = 10 * time.Second
	e2eStartBound = 60 * time.Second
)

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// binaries builds polyfeed and polysim once per test binary (with the race
// detector when the tests run with it) and returns their paths.
func binaries(t *testing.T) (polyfeed, polysim string) {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "polyfeed-e2e-")
		if binErr != nil {
			return
		}
		for _, pkg := range []string{"polyfeed", "polysim"} {
			args := []string{"build", "-o", filepath.Join(binDir, pkg)}
			if raceEnabled {
				args = append(args, "-race")
			}
			cmd := exec.Command(goTool(), append(args, "../"+pkg)...)
			if out, err := cmd.CombinedOutput(); err != nil {
				binErr = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
				return
			}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return filepath.Join(binDir, "polyfeed"), filepath.Join(binDir, "polysim")
}

// goTool is the go command of the toolchain running the tests: `go test`
// puts its own GOROOT/bin first on PATH for the test binary's children.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// proc is a started binary whose stderr is collected line by line.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  bytes.Buffer
	line chan string // every stderr line, for waiting on one (buffered: never blocks the reader)
	done chan struct{}
	err  error
}

func start(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, cmd: exec.Command(bin, args...), line: make(chan string, 4096), done: make(chan struct{})}
	p.cmd.Env = cleanEnv()
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.line <- sc.Text():
			default:
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", filepath.Base(bin), p.logs())
		}
	})
	return p
}

// cleanEnv is the test's environment without POLYFEED_* variables, so a
// developer's shell settings cannot change what the test runs.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix) {
			out = append(out, kv)
		}
	}
	return out
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// await returns the first submatch of re in a stderr line.
func (p *proc) await(re *regexp.Regexp, timeout time.Duration) string {
	p.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l := <-p.line:
			if m := re.FindStringSubmatch(l); m != nil {
				return m[1]
			}
		case <-p.done:
			p.t.Fatalf("process exited (%v) before logging %v", p.err, re)
		case <-deadline:
			p.t.Fatalf("no log line matching %v within %v", re, timeout)
		}
	}
}

// signalAndWait sends sig and returns the exit code within bound.
func (p *proc) signalAndWait(sig os.Signal, bound time.Duration) int {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(bound):
		p.t.Fatalf("no exit within %v of %v", bound, sig)
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		p.t.Fatal(p.err)
	}
	return 0
}

// checkFor polls f every `every` until it returns nil or total elapsed.
func checkFor(t *testing.T, total, every time.Duration, f func() error) {
	t.Helper()
	poll.For(t, total, every, f)
}

var client = &http.Client{Timeout: 10 * time.Second}

// get returns the status and body of GET url.
func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, b
}

func post(t *testing.T, url string) {
	t.Helper()
	resp, err := client.Post(url, "text/plain", nil)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: status %d", url, resp.StatusCode)
	}
}

var (
	reSimGamma = regexp.MustCompile(`gamma=(http://127\.0\.0\.1:\d+)`)
	reAdmin    = regexp.MustCompile(`"msg":"admin server started".*"addr":"(127\.0\.0\.1:\d+)"`)
)

// startPolysim runs polysim with e2eMarkets markets and returns it and its
// base URL.
func startPolysim(t *testing.T, bin string) (*proc, string) {
	sim := start(t, bin, "--addr=127.0.0.1:0", "--markets="+strconv.Itoa(e2eMarkets), "--rate=2000", "--seed=7")
	return sim, sim.await(reSimGamma, 30*time.Second)
}

// startPolyfeed runs polyfeed against the simulator at base, lifecycle and
// recycling on (the defaults), admin on a free port; it returns the
// process and the admin base URL.
func startPolyfeed(t *testing.T, bin, base string) (*proc, string) {
	pf := start(t, bin, "--ws-url=ws"+strings.TrimPrefix(base, "http")+"/ws/market", "--gamma-url="+base,
		"--http-addr=127.0.0.1:0", "--log-format=json", "--log-level=info", "--workers=2",
		// The embedded NATS server on a free port and a private directory:
		// test binaries run concurrently.
		"--nats-listen=127.0.0.1:0", "--data-dir="+t.TempDir())
	return pf, "http://" + pf.await(reAdmin, 30*time.Second)
}

// statsView is the part of /stats the test reads.
type statsView struct {
	Running  bool `json:"running"`
	Registry struct {
		Subscribed int `json:"subscribed"`
	} `json:"registry"`
	Publish struct {
		Connection string `json:"connection"`
		Published  uint64 `json:"published"`
	} `json:"publish"`
}

// waitSubscribed waits until the engine has e2eMinAssets assets subscribed
// and answers ready and healthy.
func waitSubscribed(t *testing.T, admin string) {
	t.Helper()
	checkFor(t, e2eStartBound, 100*time.Millisecond, func() error {
		code, body := get(t, admin+"/stats")
		var s statsView
		if code != http.StatusOK || json.Unmarshal(body, &s) != nil {
			return fmt.Errorf("/stats: %d %.200s", code, body)
		}
		if !s.Running || s.Registry.Subscribed < e2eMinAssets {
			return fmt.Errorf("running=%v subscribed=%d, want >= %d", s.Running, s.Registry.Subscribed, e2eMinAssets)
		}
		if s.Publish.Connection != "CONNECTED" || s.Publish.Published == 0 {
			return fmt.Errorf("publish: %+v, want connected and publishing", s.Publish)
		}
		for _, path := range []string{"/readyz", "/healthz"} {
			if code, body := get(t, admin+path); code != http.StatusOK {
				return fmt.Errorf("%s: %d %s", path, code, body)
			}
		}
		return nil
	})
}

func TestEndToEnd(t *testing.T) {
	polyfeed, polysim := binaries(t)
	sim, simURL := startPolysim(t, polysim)

	pf, admin := startPolyfeed(t, polyfeed, simURL)
	// Started before the engine: /readyz is served from the first moment
	// (503 while starting, 200 once running).
	if code, _ := get(t, admin+"/readyz"); code != http.StatusOK && code != http.StatusServiceUnavailable {
		t.Errorf("/readyz during start: %d; want 200 or 503", code)
	}
	waitSubscribed(t, admin)

	t.Run("stats schema", func(t *testing.T) { checkStatsSchema(t, admin) })
	t.Run("metrics", func(t *testing.T) { checkMetrics(t, admin) })
	t.Run("books equal the simulator's", func(t *testing.T) { checkBooks(t, admin, simURL) })
	t.Run("book errors", func(t *testing.T) {
		if code, body := get(t, admin+"/books/abc"); code != http.StatusBadRequest {
			t.Errorf("/books/abc: %d %s; want 400", code, body)
		}
		if code, body := get(t, admin+"/books/123456789012345678901234567890"); code != http.StatusNotFound {
			t.Errorf("/books/<unknown>: %d %s; want 404", code, body)
		}
	})
	t.Run("pprof", func(t *testing.T) {
		if code, _ := get(t, admin+"/debug/pprof/cmdline"); code != http.StatusOK {
			t.Errorf("/debug/pprof/cmdline: %d; want 200 (pprof is on by default)", code)
		}
	})

	if code := pf.signalAndWait(syscall.SIGTERM, e2eExitBound); code != 0 {
		t.Fatalf("polyfeed exit code after SIGTERM = %d; want 0", code)
	}
	for _, want := range []string{`"msg":"stopped","component":"pool"`, `"msg":"stopped","component":"admin"`, `"msg":"engine stopped"`} {
		if !strings.Contains(pf.logs(), want) {
			t.Errorf("polyfeed log lacks %s", want)
		}
	}

	// A second run against the same simulator, stopped with SIGINT.
	post(t, simURL+"/sim/resume")
	pf2, admin2 := startPolyfeed(t, polyfeed, simURL)
	waitSubscribed(t, admin2)
	if code := pf2.signalAndWait(syscall.SIGINT, e2eExitBound); code != 0 {
		t.Fatalf("polyfeed exit code after SIGINT = %d; want 0", code)
	}

	if code := sim.signalAndWait(syscall.SIGTERM, e2eExitBound); code != 0 {
		t.Errorf("polysim exit code = %d; want 0", code)
	}
}

// checkStatsSchema: /stats carries the seed's schema.
func checkStatsSchema(t *testing.T, admin string) {
	code, body := get(t, admin+"/stats")
	if code != http.StatusOK {
		t.Fatalf("/stats: %d", code)
	}
	var s map[string]any
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		"running", "state",
		"registry.total_markets", "registry.pending", "registry.subscribed", "registry.expired",
		"pool.connection_count", "pool.active_connections", "pool.connections",
		"router.messages_routed", "router.queue_depths", "router.messages_dropped",
		"router.resync_backoffs", "router.assets_rejected_repeatedly", "router.controls_deferred",
		"workers.alive_count", "workers.is_healthy", "workers.stuck_workers", "workers.worker_stats",
		"lifecycle", "recycler",
		"pool.recycling_connections", "pool.assets_refused_by_recycling", "pool.closed_connections_invalidated",
		"lifecycle.suspect_listings", "lifecycle.retracked_markets", "lifecycle.expiries_deferred",
		"lifecycle.absent_once", "lifecycle.settings.discovery_interval", "lifecycle.settings.expiry_interval",
		"lifecycle.settings.expiry_grace", "lifecycle.settings.cleanup_grace", "lifecycle.settings.suspect_expiry_share",
	} {
		var cur any = s
		for _, key := range strings.Split(path, ".") {
			m, ok := cur.(map[string]any)
			if !ok {
				cur = nil
				break
			}
			cur = m[key]
		}
		if cur == nil {
			t.Errorf("/stats lacks %s", path)
		}
	}
	conns, _ := s["pool"].(map[string]any)["connections"].([]any)
	if len(conns) < e2eMinAssets/200 {
		t.Errorf("/stats pool.connections has %d entries; want >= %d", len(conns), e2eMinAssets/200)
	}
	for _, c := range conns {
		for _, k := range []string{"connection_id", "status", "age_seconds", "messages_received", "total", "active", "expired", "pollution_ratio",
			"carried", "recycle_pollution_ratio"} {
			if _, ok := c.(map[string]any)[k]; !ok {
				t.Errorf("/stats connection lacks %s", k)
			}
		}
	}
}

// checkMetrics: /metrics exposes the engine's counters, with events routed,
// and its latency histograms, with observations; and the Go runtime.
func checkMetrics(t *testing.T, admin string) {
	checkFor(t, 20*time.Second, 200*time.Millisecond, func() error {
		code, body := get(t, admin+"/metrics")
		if code != http.StatusOK {
			return fmt.Errorf("/metrics: %d", code)
		}
		text := string(body)
		for _, name := range []string{"polyfeed_router_events_routed_total", "polyfeed_end_to_end_latency_seconds_count",
			"polyfeed_routing_latency_seconds_count", "polyfeed_processing_latency_seconds_count"} {
			if v := metricValue(text, name); !(v > 0) {
				return fmt.Errorf("%s = %v; want > 0", name, v)
			}
		}
		for _, name := range []string{"polyfeed_end_to_end_latency_seconds_bucket", "go_goroutines", "process_cpu_seconds_total",
			"polyfeed_lifecycle_suspect_listings_total", "polyfeed_lifecycle_retracked_markets_total",
			"polyfeed_lifecycle_expiries_deferred_total", "polyfeed_pool_recycling_refused_total"} {
			if !strings.Contains(text, "\n"+name) {
				return fmt.Errorf("/metrics lacks %s", name)
			}
		}
		return nil
	})
}

// metricValue sums the samples of an unlabelled or labelled metric name in
// the text exposition; NaN when absent.
func metricValue(text, name string) float64 {
	sum, found := 0.0, false
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum, found = sum+v, true
		}
	}
	if !found {
		return math.NaN()
	}
	return sum
}

// level is a price level as both servers render it.
type level struct{ Price, Size string }

type bookJSON struct {
	AssetID string  `json:"asset_id"`
	Market  string  `json:"market"`
	Bids    []level `json:"bids"`
	Asks    []level `json:"asks"`
	Valid   *bool   `json:"valid"`
}

// checkBooks pauses the simulator (it stops generating events; what it
// sent is delivered) and compares the engine's books of a spread of assets
// with the simulator's truth, level by level, best first.
func checkBooks(t *testing.T, admin, simURL string) {
	var markets []struct {
		TokenIDs        []string
		Closed          bool
		EnableOrderBook bool
	}
	code, body := get(t, simURL+"/sim/markets")
	if code != http.StatusOK || json.Unmarshal(body, &markets) != nil {
		t.Fatalf("/sim/markets: %d %.200s", code, body)
	}
	var ids []string
	for i, m := range markets {
		if !m.Closed && m.EnableOrderBook && i%97 == 3 {
			ids = append(ids, m.TokenIDs...)
		}
	}
	if len(ids) < 10 {
		t.Fatalf("only %d assets picked from %d markets", len(ids), len(markets))
	}
	post(t, simURL+"/sim/pause")
	for _, id := range ids {
		checkFor(t, 20*time.Second, 50*time.Millisecond, func() error {
			var truth, mine bookJSON
			code, body := get(t, simURL+"/sim/books/"+id)
			if code != http.StatusOK || json.Unmarshal(body, &truth) != nil {
				return fmt.Errorf("/sim/books/%s: %d %.200s", id, code, body)
			}
			code, body = get(t, admin+"/books/"+id)
			if code != http.StatusOK || json.Unmarshal(body, &mine) != nil {
				return fmt.Errorf("/books/%s: %d %.200s", id, code, body)
			}
			if mine.Valid == nil || !*mine.Valid {
				return fmt.Errorf("/books/%s not valid", id)
			}
			if mine.AssetID != id || mine.Market != truth.Market {
				return fmt.Errorf("/books/%s: asset %s market %s; want market %s", id, mine.AssetID, mine.Market, truth.Market)
			}
			if len(truth.Bids)+len(truth.Asks) == 0 {
				return fmt.Errorf("simulator book %s is empty: the comparison would prove nothing", id)
			}
			if fmt.Sprint(mine.Bids) != fmt.Sprint(truth.Bids) || fmt.Sprint(mine.Asks) != fmt.Sprint(truth.Asks) {
				return fmt.Errorf("/books/%s differs from the simulator:\n bids %v\n want %v\n asks %v\n want %v",
					id, mine.Bids, truth.Bids, mine.Asks, truth.Asks)
			}
			return nil
		})
	}
}

// TestBadUsageExitsTwo runs the real binary: a bad flag or variable exits 2
// with one line naming it, before anything starts.
func TestBadUsageExitsTwo(t *testing.T) {
	polyfeed, _ := binaries(t)
	tests := []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"--workers=0"}, "", "--workers"},
		{[]string{"--no-such-flag"}, "", "no-such-flag"},
		{[]string{"--assets-per-conn=501"}, "", "--assets-per-conn"},
		{nil, "POLYFEED_BACKPRESSURE=sometimes", "POLYFEED_BACKPRESSURE"},
		{[]string{"--expiry-grace=-5m"}, "", "--expiry-grace"},
		{[]string{"--discovery-interval=10ms"}, "", "--discovery-interval"},
		{nil, "POLYFEED_SUSPECT_EXPIRY_SHARE=2", "POLYFEED_SUSPECT_EXPIRY_SHARE"},
	}
	for _, tt := range tests {
		cmd := exec.Command(polyfeed, tt.args...)
		cmd.Env = cleanEnv()
		if tt.env != "" {
			cmd.Env = append(cmd.Env, tt.env)
		}
		var stderr, stdout bytes.Buffer
		cmd.Stderr, cmd.Stdout = &stderr, &stdout
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("polyfeed %q %s: %v; want exit status 2", tt.args, tt.env, err)
			continue
		}
		msg := stderr.String()
		if strings.Count(msg, "\n") != 1 || !strings.Contains(msg, tt.want) || stdout.Len() != 0 {
			t.Errorf("polyfeed %q %s: stderr %q stdout %q; want one line naming %s", tt.args, tt.env, msg, stdout.String(), tt.want)
		}
	}

	out, err := exec.Command(polyfeed, "--help").Output()
	if err != nil || !strings.Contains(string(out), "--enable-lifecycle") {
		t.Errorf("polyfeed --help: %v, %q; want usage on stdout and exit 0", err, out)
	}
}
