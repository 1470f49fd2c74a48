package sidebyside

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/polyfeed/polyfeed/bench/internal/httpjson"
	"github.com/polyfeed/polyfeed/bench/internal/proc"
	"github.com/polyfeed/polyfeed/bench/internal/truth"
)

// Config configures a run. Paths are required; the rest has defaults.
type Config struct {
	Polyfeed, Polysim, Baseline string // binaries
	OutDir                      string
	// Rates are the venue rates (messages/s over all markets). Default 2,000 and 10,000.
	Rates []float64
	// Markets at start. Default 1,000.
	Markets int
	// Warmup after every client is up (startup dump). Default 10 s.
	Warmup time.Duration
	// Window is the measured window per rate. Default 60 s: polyfeed's
	// periodic work (a Gamma listing every 60 s, which the baselines do once
	// at start) then falls in every window once, so the CPU per message does
	// not depend on the window's phase.
	Window time.Duration
	// Idle is the idle window (venue paused), at the first rate. Default
	// 60 s: one whole Gamma discovery period, the largest idle cost.
	Idle time.Duration
	// FeedFlags are extra polyfeed flags (e.g. a worker mode).
	FeedFlags []string
	// Profile, if set, takes a CPU profile of polyfeed for Window at GateRate
	// after the measured window, into this file.
	Profile string
	// GateRate and GateNaive: polyfeed's CPU per message must be at most
	// GateNaive times the naive client's at GateRate. Defaults 2,000 and 0.6.
	GateRate, GateNaive float64
}

func (c *Config) fill() error {
	if c.Polyfeed == "" || c.Polysim == "" || c.Baseline == "" || c.OutDir == "" {
		return errors.New("cannot run: polyfeed, polysim, baseline and out dir are required")
	}
	if len(c.Rates) == 0 {
		c.Rates = []float64{2000, 10000}
	}
	if c.Markets == 0 {
		c.Markets = 1000
	}
	if c.Warmup == 0 {
		c.Warmup = 10 * time.Second
	}
	if c.Window == 0 {
		c.Window = 60 * time.Second
	}
	if c.Idle == 0 {
		c.Idle = 60 * time.Second
	}
	if c.GateRate == 0 {
		c.GateRate = 2000
	}
	if c.GateNaive == 0 {
		c.GateNaive = 0.6
	}
	return nil
}

// Client is one client's figures over a window.
type Client struct {
	Name       string  `json:"name"`
	CPUms      float64 `json:"cpu_ms"`           // over the window
	CPUPer1000 float64 `json:"cpu_ms_per_1000"`  // per 1,000 venue messages
	RSSMB      float64 `json:"rss_mb"`           // at the end of the window
	Frames     uint64  `json:"frames,omitempty"` // baselines: frames received in the window
}

// Step is one rate's measurements.
type Step struct {
	Rate     float64  `json:"rate"`
	Messages uint64   `json:"venue_messages"` // generated in the window
	Seconds  float64  `json:"seconds"`
	Load     float64  `json:"load_avg_1m"`
	Clients  []Client `json:"clients"` // polyfeed, naive, floor
	Events   uint64   `json:"polyfeed_handler_events"`
	P50us    float64  `json:"p50_us"`
	P99us    float64  `json:"p99_us"`
	P999us   float64  `json:"p999_us"`
}

// Report is a whole run.
type Report struct {
	Started     time.Time `json:"started"`
	GoVersion   string    `json:"go_version"`
	CPU         string    `json:"cpu"`
	FeedFlags   []string  `json:"feed_flags"`
	Markets     int       `json:"markets"`
	Steps       []Step    `json:"steps"`
	IdlePct     float64   `json:"idle_pct_of_core"`
	IdleRSSMB   float64   `json:"idle_rss_mb"`
	Books       int       `json:"books_checked"`
	Mismatches  []string  `json:"mismatches,omitempty"`
	Failures    []string  `json:"failures,omitempty"`
	Goals       []string  `json:"goals"`
	ProfileFile string    `json:"profile,omitempty"`
}

// Run measures every rate and writes sidebyside.txt and sidebyside.json into
// OutDir. The error is about the run itself; a gate failure is in
// Report.Failures.
func Run(ctx context.Context, cfg Config, log *slog.Logger) (*Report, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create %s: %w", cfg.OutDir, err)
	}
	rep := &Report{Started: time.Now(), GoVersion: runtime.Version(), CPU: cpuModel(), FeedFlags: cfg.FeedFlags, Markets: cfg.Markets}
	for i, rate := range cfg.Rates {
		st, err := runStep(ctx, cfg, rep, rate, i == 0, log)
		if err != nil {
			return rep, err
		}
		rep.Steps = append(rep.Steps, st)
	}
	rep.judge(cfg)
	return rep, rep.write(cfg.OutDir)
}

// set is the four processes of one step.
type set struct {
	sim, feed, naive, floor                 *proc.Child
	simBase, feedBase, naiveBase, floorBase string
}

func (s *set) stop() {
	for _, p := range []*proc.Child{s.feed, s.naive, s.floor, s.sim} {
		if p != nil && p.Running() {
			_, _ = p.Stop(10 * time.Second)
		}
	}
}

func runStep(ctx context.Context, cfg Config, rep *Report, rate float64, first bool, log *slog.Logger) (Step, error) {
	st := Step{Rate: rate}
	var s set
	defer s.stop()
	addrs := make([]string, 4)
	for i := range addrs {
		a, err := proc.FreeAddr()
		if err != nil {
			return st, err
		}
		addrs[i] = a
	}
	s.simBase, s.feedBase, s.naiveBase, s.floorBase = "http://"+addrs[0], "http://"+addrs[1], "http://"+addrs[2], "http://"+addrs[3]
	dir := filepath.Join(cfg.OutDir, "rate-"+strconv.Itoa(int(rate)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return st, fmt.Errorf("cannot create %s: %w", dir, err)
	}
	var err error
	s.sim, err = proc.Start(dir, "polysim", cfg.Polysim, nil, "--addr", addrs[0], "--markets", strconv.Itoa(cfg.Markets),
		"--rate", fmt.Sprint(rate), "--seed", "1", "--churn", "0")
	if err != nil {
		return st, err
	}
	start, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := proc.WaitHTTP(start, s.sim, s.simBase+"/sim/stats"); err != nil {
		return st, err
	}
	ws := "ws://" + addrs[0] + "/ws/market"
	s.feed, err = proc.Start(dir, "polyfeed", cfg.Polyfeed, nil, append([]string{"--gamma-url", s.simBase, "--ws-url", ws,
		"--http-addr", addrs[1], "--log-format", "json",
		// The embedded stream server on a free port and in the run's own
		// directory: a fixed port clashes with any other polyfeed here.
		"--nats-listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "polyfeed-data")}, cfg.FeedFlags...)...)
	if err != nil {
		return st, err
	}
	for _, b := range []struct {
		p    **proc.Child
		mode string
		addr string
	}{{&s.naive, "naive", addrs[2]}, {&s.floor, "floor", addrs[3]}} {
		*b.p, err = proc.Start(dir, b.mode, cfg.Baseline, nil, "--mode", b.mode, "--gamma-url", s.simBase, "--ws-url", ws, "--http-addr", b.addr)
		if err != nil {
			return st, err
		}
	}
	if err := proc.WaitHTTP(start, s.feed, s.feedBase+"/readyz"); err != nil {
		return st, err
	}
	if err := proc.WaitHTTP(start, s.naive, s.naiveBase+"/stats"); err != nil {
		return st, err
	}
	if err := proc.WaitHTTP(start, s.floor, s.floorBase+"/stats"); err != nil {
		return st, err
	}
	log.Info("side by side: warming up", "rate", rate, "warmup", cfg.Warmup)
	if err := sleep(ctx, cfg.Warmup); err != nil {
		return st, err
	}

	// The measured window.
	procs := []*proc.Child{s.feed, s.naive, s.floor}
	cpu0 := make([]time.Duration, len(procs))
	for i, p := range procs {
		if cpu0[i], err = proc.CPU(p.Pid()); err != nil {
			return st, err
		}
	}
	gen0, err := generated(s.simBase)
	if err != nil {
		return st, err
	}
	h0, err := scrapeHistogram(s.feedBase+"/metrics", e2eMetric)
	if err != nil {
		return st, err
	}
	fr0 := [2]uint64{frames(s.naiveBase), frames(s.floorBase)}
	t0 := time.Now()
	log.Info("side by side: measuring", "rate", rate, "window", cfg.Window)
	if err := sleep(ctx, cfg.Window); err != nil {
		return st, err
	}
	gen1, err := generated(s.simBase)
	if err != nil {
		return st, err
	}
	st.Seconds = time.Since(t0).Seconds()
	st.Messages = gen1 - gen0
	st.Load = proc.LoadAvg()
	for i, p := range procs {
		c1, err := proc.CPU(p.Pid())
		if err != nil {
			return st, err
		}
		rss, err := proc.RSS(p.Pid())
		if err != nil {
			return st, err
		}
		c := Client{Name: p.Name(), CPUms: float64(c1-cpu0[i]) / 1e6, RSSMB: float64(rss) / (1 << 20)}
		if st.Messages > 0 {
			c.CPUPer1000 = c.CPUms / float64(st.Messages) * 1000
		}
		if i > 0 {
			base := []string{s.naiveBase, s.floorBase}[i-1]
			c.Frames = frames(base) - fr0[i-1]
		}
		st.Clients = append(st.Clients, c)
	}
	h1, err := scrapeHistogram(s.feedBase+"/metrics", e2eMetric)
	if err != nil {
		return st, err
	}
	q, n := quantiles(h0, h1, 0.5, 0.99, 0.999)
	st.Events, st.P50us, st.P99us, st.P999us = n, q[0]*1e6, q[1]*1e6, q[2]*1e6
	log.Info("side by side: step", "rate", rate, "messages", st.Messages, "polyfeed_ms_per_1000", st.Clients[0].CPUPer1000,
		"naive", st.Clients[1].CPUPer1000, "floor", st.Clients[2].CPUPer1000, "p99_us", st.P99us)

	if cfg.Profile != "" && rate == cfg.GateRate {
		if err := profile(s.feedBase, cfg.Profile, cfg.Window); err != nil {
			return st, err
		}
		rep.ProfileFile = cfg.Profile
	}
	if !first {
		return st, nil
	}
	// Idle, then the books against the truth: the venue is paused for both.
	if err := post(s.simBase + "/sim/pause"); err != nil {
		return st, err
	}
	if err := sleep(ctx, 2*time.Second); err != nil {
		return st, err
	}
	c0, err := proc.CPU(s.feed.Pid())
	if err != nil {
		return st, err
	}
	i0 := time.Now()
	if err := sleep(ctx, cfg.Idle); err != nil {
		return st, err
	}
	c1, err := proc.CPU(s.feed.Pid())
	if err != nil {
		return st, err
	}
	rep.IdlePct = float64(c1-c0) / float64(time.Since(i0)) * 100
	if rss, err := proc.RSS(s.feed.Pid()); err == nil {
		rep.IdleRSSMB = float64(rss) / (1 << 20)
	}
	ids, err := truth.OpenAssets(httpc, s.simBase)
	if err != nil {
		return st, err
	}
	t := time.Now()
	for {
		rep.Books, rep.Mismatches = len(ids), nil
		for _, m := range truth.Compare(httpc, s.feedBase, s.simBase, ids) {
			rep.Mismatches = append(rep.Mismatches, m.String())
		}
		if len(rep.Mismatches) == 0 || time.Since(t) > 30*time.Second {
			break
		}
		if err := sleep(ctx, 2*time.Second); err != nil {
			return st, err
		}
	}
	return st, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func generated(simBase string) (uint64, error) {
	var st struct {
		Generated map[string]uint64 `json:"generated"`
	}
	if _, err := httpjson.Get(httpc, simBase+"/sim/stats", &st); err != nil {
		return 0, err
	}
	var n uint64
	for _, v := range st.Generated {
		n += v
	}
	return n, nil
}

func frames(base string) uint64 {
	var st struct {
		Frames uint64 `json:"frames"`
	}
	_, _ = httpjson.Get(httpc, base+"/stats", &st)
	return st.Frames
}

func post(u string) error {
	resp, err := httpc.Post(u, "text/plain", nil)
	if err != nil {
		return fmt.Errorf("cannot post %s: %w", u, err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("cannot post %s: status %d", u, resp.StatusCode)
	}
	return nil
}

// profile saves a CPU profile of d from polyfeed's pprof endpoint.
func profile(feedBase, file string, d time.Duration) error {
	c := &http.Client{Timeout: d + 30*time.Second}
	resp, err := c.Get(feedBase + "/debug/pprof/profile?seconds=" + url.QueryEscape(strconv.Itoa(int(d.Seconds()))))
	if err != nil {
		return fmt.Errorf("cannot take profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("cannot take profile: status %d", resp.StatusCode)
	}
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("cannot create profile: %w", err)
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		return fmt.Errorf("cannot save profile: %w", err)
	}
	return nil
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v) + " x" + strconv.Itoa(runtime.NumCPU())
		}
	}
	return "unknown"
}
