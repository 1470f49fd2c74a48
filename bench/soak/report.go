package soak

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/polyfeed/polyfeed/bench/plot"
)

// Report is the outcome of a run.
type Report struct {
	Config  Config
	Started time.Time
	GoVer   string
	Samples []Sample
	Faults  []FaultEvent
	Trends  []Trend
	// Unexplained are the red /healthz samples no fault accounts for
	// (unexplainedRed).
	Unexplained []Sample
	// SampleErrors lists failed observations. A sample with one is left out
	// of the trends; if /healthz itself could not be reached, it is red.
	SampleErrors []string
	// Books is how many books were compared at the end, Mismatches those
	// that still differed after Converge, ConvergedIn how long the final
	// comparison took.
	Books       int
	Mismatches  []Mismatch
	ConvergedIn time.Duration
	BadIDFails  []string
	StopTook    time.Duration
	StopErr     string
	// Failures lists every reason the run failed; empty means it passed.
	Failures []string
}

// Passed reports whether the run passed every check.
func (r *Report) Passed() bool { return len(r.Failures) == 0 }

func (r *Report) judge() {
	for _, t := range r.Trends {
		if t.Fail {
			r.Failures = append(r.Failures, "trend: "+t.String())
		}
	}
	if len(r.Mismatches) > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("books: %d of %d differ from the truth after %s", len(r.Mismatches), r.Books, r.Config.Converge))
	}
	if r.Books == 0 {
		r.Failures = append(r.Failures, "books: none compared")
	}
	if len(r.Unexplained) > 0 {
		s := r.Unexplained[0]
		r.Failures = append(r.Failures, fmt.Sprintf("health: %d red /healthz samples no fault accounts for (first at %s: %s)", len(r.Unexplained), s.At.Round(time.Second), s.HealthWhy))
	}
	for _, c := range expectedReports(r.Samples, r.Faults, r.Config.RecoverBound) {
		if c.Missing != "" {
			r.Failures = append(r.Failures, "health: "+c.Missing)
		}
	}
	var failed []string
	for _, f := range r.Faults {
		if f.Err != "" {
			failed = append(failed, fmt.Sprintf("%s at %s: %s", f.Name, f.At.Round(time.Second), f.Err))
		}
	}
	if len(failed) > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("faults: %d of %d failed to inject (%s)", len(failed), len(r.Faults), strings.Join(failed, "; ")))
	}
	if d := r.dropped(); d > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("drops: %d events dropped under backpressure (the venue's rate leaves the engine idle most of the time; any drop is a fault)", d))
	}
	if n := len(r.SampleErrors); n > 0 && n*10 > len(r.Samples) {
		r.Failures = append(r.Failures, fmt.Sprintf("sampling: %d observations failed (first: %s)", n, r.SampleErrors[0]))
	}
	if len(r.BadIDFails) > 0 {
		r.Failures = append(r.Failures, "admin: bad asset ids not rejected: "+strings.Join(r.BadIDFails, "; "))
	}
	if r.StopErr != "" {
		r.Failures = append(r.Failures, "stop: "+r.StopErr)
	}
}

// dropped is the most events the engine reported dropped in any sample
// (the counter is cumulative; a restart would reset it, hence the max).
func (r *Report) dropped() uint64 {
	var d uint64
	for _, s := range r.Samples {
		d = max(d, s.Dropped)
	}
	return d
}

// write stores report.md, samples.csv, soak.svg and soak.png under dir.
func (r *Report) write(dir string) error {
	if err := writeFile(filepath.Join(dir, "samples.csv"), r.writeCSV); err != nil {
		return err
	}
	ps := panels(r.Samples, r.Faults)
	for _, f := range []plot.Format{plot.SVG, plot.PNG} {
		if err := writeFile(filepath.Join(dir, "soak."+string(f)), func(w io.Writer) error {
			return writePlot(w, f, ps)
		}); err != nil {
			return err
		}
	}
	return writeFile(filepath.Join(dir, "report.md"), func(w io.Writer) error { return r.writeMarkdown(w, ps) })
}

func writeFile(path string, f func(io.Writer) error) error {
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("cannot create %s: %w", path, err)
	}
	if err := f(out); err != nil {
		out.Close()
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	return out.Close()
}

func (r *Report) writeCSV(w io.Writer) error {
	fmt.Fprintln(w, "seconds,rss_bytes,heap_inuse_bytes,live_heap_bytes,goroutines,fds,connections,subscribed,dropped,malformed,reconnects,healthy,complete")
	for _, s := range r.Samples {
		fmt.Fprintf(w, "%.1f,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%v,%v\n", s.At.Seconds(), s.RSS, s.HeapInuse, s.LiveHeap, s.Goroutines,
			s.FDs, s.Connections, s.Subscribed, s.Dropped, s.Malformed, s.Reconnects, s.Healthy, s.Complete)
	}
	return nil
}

func (r *Report) writeMarkdown(w io.Writer, ps []plot.Panel) error {
	c := r.Config
	verdict := "PASS"
	if !r.Passed() {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "# Soak report: %s\n\n", verdict)
	fmt.Fprintf(w, "Started %s, %s, loaded for %s, sampled every %s.\n\n", r.Started.UTC().Format(time.RFC3339), r.GoVer, c.Duration, c.Sample)
	fmt.Fprintf(w, "Simulator: %d markets, %.0f messages/s, churn %.0f markets/min, seed %d. Faults every %s (lasting ones %s), none in the last %s.\n\n",
		c.Markets, c.Rate, c.Churn, c.Seed, c.FaultEvery, c.FaultLength, c.QuietTail)
	for _, f := range r.Failures {
		fmt.Fprintf(w, "- **FAIL** %s\n", f)
	}
	if len(r.Failures) > 0 {
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "| check | result |\n|---|---|")
	fmt.Fprintf(w, "| books equal truth at the end | %d of %d (converged in %s) |\n", r.Books-len(r.Mismatches), r.Books, r.ConvergedIn.Round(time.Second))
	for _, t := range r.Trends {
		fmt.Fprintf(w, "| trend %s | %s |\n", t.Name, strings.TrimPrefix(t.String(), t.Name+": "))
	}
	unhealthy := 0
	for _, s := range r.Samples {
		if !s.Healthy {
			unhealthy++
		}
	}
	fmt.Fprintf(w, "| /healthz red | %d samples, %d not accounted for by a fault (fault end + %s, until recovery) |\n", unhealthy, len(r.Unexplained), c.RecoverBound)
	for _, rc := range expectedReports(r.Samples, r.Faults, c.RecoverBound) {
		res := rc.Missing
		if res == "" {
			res = fmt.Sprintf("reported at %s (%s), green again at %s", rc.ReportedAt.Round(time.Second), tableCell(rc.Why), rc.RecoveredAt.Round(time.Second))
		}
		fmt.Fprintf(w, "| /healthz report of %s at %s | %s |\n", rc.Fault.Name, rc.Fault.At.Round(time.Second), res)
	}
	fmt.Fprintf(w, "| dropped events | %d |\n", r.dropped())
	fmt.Fprintf(w, "| bad asset ids rejected (400) | %d of %d |\n", len(badIDs)-len(r.BadIDFails), len(badIDs))
	fmt.Fprintf(w, "| SIGTERM to exit | %s %s |\n", r.StopTook.Round(time.Millisecond), orOK(r.StopErr))
	fmt.Fprintf(w, "| failed observations | %d |\n\n", len(r.SampleErrors))

	var complete []Sample // an incomplete sample has zeros where an observation failed
	for _, s := range r.Samples {
		if s.Complete {
			complete = append(complete, s)
		}
	}
	if n := len(complete); n > 0 {
		first, last := complete[0], complete[n-1]
		peak := func(f func(Sample) float64) float64 {
			m := 0.0
			for _, s := range complete {
				m = max(m, f(s))
			}
			return m
		}
		fmt.Fprintln(w, "| series | first | last | peak |\n|---|---|---|---|")
		mib := func(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
		fmt.Fprintf(w, "| RSS | %s | %s | %.1f MiB |\n", mib(first.RSS), mib(last.RSS), peak(func(s Sample) float64 { return float64(s.RSS) / (1 << 20) }))
		fmt.Fprintf(w, "| heap in use | %s | %s | %.1f MiB |\n", mib(first.HeapInuse), mib(last.HeapInuse), peak(func(s Sample) float64 { return float64(s.HeapInuse) / (1 << 20) }))
		fmt.Fprintf(w, "| live heap (after a forced GC) | %s | %s | %.1f MiB |\n", mib(first.LiveHeap), mib(last.LiveHeap), peak(func(s Sample) float64 { return float64(s.LiveHeap) / (1 << 20) }))
		fmt.Fprintf(w, "| goroutines | %d | %d | %.0f |\n", first.Goroutines, last.Goroutines, peak(func(s Sample) float64 { return float64(s.Goroutines) }))
		fmt.Fprintf(w, "| open fds | %d | %d | %.0f |\n", first.FDs, last.FDs, peak(func(s Sample) float64 { return float64(s.FDs) }))
		fmt.Fprintf(w, "| connections | %d | %d | %.0f |\n", first.Connections, last.Connections, peak(func(s Sample) float64 { return float64(s.Connections) }))
		fmt.Fprintf(w, "| assets subscribed | %d | %d | %.0f |\n", first.Subscribed, last.Subscribed, peak(func(s Sample) float64 { return float64(s.Subscribed) }))
		fmt.Fprintf(w, "| dropped events (cum.) | %d | %d | |\n", first.Dropped, last.Dropped)
		fmt.Fprintf(w, "| malformed frames (cum.) | %d | %d | |\n", first.Malformed, last.Malformed)
		fmt.Fprintf(w, "| reconnects (cum., live conns) | %d | %d | |\n\n", first.Reconnects, last.Reconnects)
	}

	fmt.Fprintln(w, "![soak](soak.png)")
	fmt.Fprintf(w, "\nPlot: %d charts over the run (%s); orange lines mark injected faults, red lines samples with /healthz red.\n", len(ps), panelTitles(ps))
	fmt.Fprintln(w, "\n## Faults\n\n| at | fault | error |\n|---|---|---|")
	for _, f := range r.Faults {
		fmt.Fprintf(w, "| %s | %s | %s |\n", f.At.Round(time.Second), f.Name, f.Err)
	}
	if len(r.Mismatches) > 0 {
		fmt.Fprintln(w, "\n## Books that differ (first 20)")
		for i, m := range r.Mismatches {
			if i == 20 {
				break
			}
			fmt.Fprintf(w, "- %s: %s\n", m.AssetID, m.Why)
		}
	}
	if len(r.SampleErrors) > 0 {
		fmt.Fprintf(w, "\n## Failed observations (first 10 of %d)\n", len(r.SampleErrors))
		for i, e := range r.SampleErrors {
			if i == 10 {
				break
			}
			fmt.Fprintf(w, "- %s\n", e)
		}
	}
	return nil
}

func orOK(err string) string {
	if err == "" {
		return "(exit 0)"
	}
	return "(" + err + ")"
}

func panelTitles(ps []plot.Panel) string {
	var t []string
	for _, p := range ps {
		t = append(t, p.Title)
	}
	return strings.Join(t, ", ")
}

// tableCell makes s safe inside a Markdown table cell.
func tableCell(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s)
}
