package sidebyside

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Goals of the side-by-side run (issue: cheap at the venue's real rates).
const (
	goalVsNaive = 0.6  // polyfeed CPU/msg at most this times the naive client's
	goalVsFloor = 1.3  // and at most this times the floor client's
	goalRSSMB   = 40.0 // RSS at 1,000 markets with defaults
	goalP99us   = 500.0
	goalP999us  = 2000.0
	goalIdlePct = 0.5 // % of one core, venue paused
)

// judge fills Failures (what the gate fails on: the efficiency ratio at
// GateRate and wrong books) and Goals (every goal, met or not).
func (r *Report) judge(cfg Config) {
	mark := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT MET"
	}
	for _, st := range r.Steps {
		if len(st.Clients) < 3 {
			continue
		}
		feed, naive, floor := st.Clients[0], st.Clients[1], st.Clients[2]
		vsNaive, vsFloor := ratio(feed.CPUPer1000, naive.CPUPer1000), ratio(feed.CPUPer1000, floor.CPUPer1000)
		r.Goals = append(r.Goals,
			fmt.Sprintf("%s: %.0f msg/s: polyfeed/naive CPU %.2fx (goal <= %.1fx)", mark(vsNaive <= goalVsNaive), st.Rate, vsNaive, goalVsNaive),
			fmt.Sprintf("%s: %.0f msg/s: polyfeed/floor CPU %.2fx (goal <= %.1fx)", mark(vsFloor <= goalVsFloor), st.Rate, vsFloor, goalVsFloor),
			fmt.Sprintf("%s: %.0f msg/s: polyfeed RSS %.1f MB (goal <= %.0f MB)", mark(feed.RSSMB <= goalRSSMB), st.Rate, feed.RSSMB, goalRSSMB),
			fmt.Sprintf("%s: %.0f msg/s: frame-to-handler p99 %.0f µs (goal <= %.0f µs)", mark(st.P99us <= goalP99us), st.Rate, st.P99us, goalP99us),
			fmt.Sprintf("%s: %.0f msg/s: frame-to-handler p99.9 %.0f µs (goal <= %.0f µs)", mark(st.P999us <= goalP999us), st.Rate, st.P999us, goalP999us))
		if st.Rate == cfg.GateRate && vsNaive > cfg.GateNaive {
			r.Failures = append(r.Failures, fmt.Sprintf(
				"efficiency: at %.0f msg/s polyfeed used %.1f ms CPU per 1,000 venue messages, %.2fx the naive client's %.1f ms; the gate is %.2fx (%.0f%% over)",
				st.Rate, feed.CPUPer1000, vsNaive, naive.CPUPer1000, cfg.GateNaive, (vsNaive/cfg.GateNaive-1)*100))
		}
		if st.Messages == 0 || st.Events == 0 {
			r.Failures = append(r.Failures, fmt.Sprintf("at %.0f msg/s nothing was measured (%d venue messages, %d polyfeed events)", st.Rate, st.Messages, st.Events))
		}
	}
	r.Goals = append(r.Goals, fmt.Sprintf("%s: idle CPU %.2f%% of one core (goal < %.1f%%)", mark(r.IdlePct < goalIdlePct), r.IdlePct, goalIdlePct))
	if len(r.Mismatches) > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("books: %d of %d differ from the simulator's truth (first: %s)", len(r.Mismatches), r.Books, r.Mismatches[0]))
	}
	if r.Books == 0 {
		r.Failures = append(r.Failures, "books: none checked")
	}
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Table renders the report as text.
func (r *Report) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Side by side: polyfeed, a naive client and a floor client on one polysim (%d markets, every asset, 200 per socket)\n", r.Markets)
	fmt.Fprintf(&b, "%s, %s, polyfeed flags %q\n\n", r.GoVersion, r.CPU, r.FeedFlags)
	fmt.Fprintf(&b, "%-9s %-9s %11s %9s %8s %8s %8s %10s %9s %9s %9s %6s\n",
		"rate/s", "client", "ms/1000msg", "vs naive", "vs floor", "RSS MB", "CPU %", "messages", "p50 µs", "p99 µs", "p99.9 µs", "load")
	for _, st := range r.Steps {
		if len(st.Clients) < 3 {
			continue
		}
		naive, floor := st.Clients[1].CPUPer1000, st.Clients[2].CPUPer1000
		for i, c := range st.Clients {
			lat := fmt.Sprintf("%9s %9s %9s", "", "", "")
			if i == 0 {
				lat = fmt.Sprintf("%9.0f %9.0f %9.0f", st.P50us, st.P99us, st.P999us)
			}
			fmt.Fprintf(&b, "%-9.0f %-9s %11.1f %8.2fx %7.2fx %8.1f %8.2f %10d %s %6.2f\n",
				st.Rate, c.Name, c.CPUPer1000, ratio(c.CPUPer1000, naive), ratio(c.CPUPer1000, floor), c.RSSMB,
				c.CPUms/10/st.Seconds, st.Messages, lat, st.Load)
		}
	}
	fmt.Fprintf(&b, "\nidle (venue paused, sockets open): polyfeed %.2f%% of one core, RSS %.1f MB\n", r.IdlePct, r.IdleRSSMB)
	fmt.Fprintf(&b, "books checked against the truth: %d, differing: %d\n\nGoals:\n", r.Books, len(r.Mismatches))
	for _, g := range r.Goals {
		fmt.Fprintf(&b, "  %s\n", g)
	}
	if len(r.Failures) == 0 {
		fmt.Fprintf(&b, "\nGATE PASSED\n")
	} else {
		fmt.Fprintf(&b, "\nGATE FAILED:\n")
		for _, f := range r.Failures {
			fmt.Fprintf(&b, "  %s\n", f)
		}
	}
	return b.String()
}

func (r *Report) write(dir string) error {
	if err := os.WriteFile(filepath.Join(dir, "sidebyside.txt"), []byte(r.Table()), 0o644); err != nil {
		return fmt.Errorf("cannot write report: %w", err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sidebyside.json"), b, 0o644); err != nil {
		return fmt.Errorf("cannot write report: %w", err)
	}
	return nil
}
