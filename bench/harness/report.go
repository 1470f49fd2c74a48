package harness

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// WriteText writes the report as plain-text tables.
func (rep *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	m := rep.Machine
	fmt.Fprintf(&b, "polybench report\n\n")
	fmt.Fprintf(&b, "machine: %s, %d cores, GOMAXPROCS %d, %s\n", m.CPU, m.Cores, m.GOMAXPROCS, m.GoVersion)
	fmt.Fprintf(&b, "load average (1/5/15 min): before %s, after %s; run took %v\n", m.LoadBefore, m.LoadAfter, rep.Elapsed.Round(time.Second))
	fmt.Fprintf(&b, "engine: %d workers, default ring and inbound sizes, DropAndResync, no-op handler that records latency\n\n", rep.Config.Workers)

	c := rep.Corpus
	fmt.Fprintf(&b, "corpus (recorded from internal/sim over a loopback WebSocket): %d markets, %d assets, %d frames (%d snapshot frames + stream), %.1f MB, %d handler events a cycle\n",
		c.Markets, c.Assets, c.Frames, c.SnapshotFrames, float64(c.Bytes)/1e6, c.CycleEvents)
	var kinds []string
	for _, k := range slices.Sorted(maps.Keys(c.Kinds)) {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, c.Kinds[k]))
	}
	fmt.Fprintf(&b, "stream messages: %s\n\n", strings.Join(kinds, ", "))

	if s := rep.Startup; s != nil {
		fmt.Fprintf(&b, "startup burst: %d books in %d subscribe replies (%.1f MB) pushed at once, all applied in %v (%.0f books/s), dropped %d\n",
			s.Books, s.Frames, float64(s.Bytes)/1e6, s.Duration.Round(time.Microsecond), float64(s.Books)/s.Duration.Seconds(), s.Dropped)
		fmt.Fprintf(&b, "memory per book (route + book + levels, live heap slope): %.0f B; live heap %.1f MB, RSS %.1f MB\n\n",
			s.BytesPerBook, float64(s.HeapBytes)/1e6, float64(s.RSSBytes)/1e6)
	}

	fmt.Fprintf(&b, "throughput sweep, engine alone (frames replayed into App.FrameSink)\n")
	writeThroughput(&b, rep.Sweep)
	fmt.Fprintf(&b, "\nwhole path (internal/sim → loopback WebSockets → engine; offered is the simulator's message rate; CPU and allocations include the simulator)\n")
	writeThroughput(&b, rep.Whole)

	fmt.Fprintf(&b, "\nlatency by stage, µs (route = frame received → routed, per frame; processing = routed → handler done and\nend_to_end = received → handler done, stamped per worker batch, worst worker; measured window only.\nhandler = received → handler called, per event, window only, HDR)\n")
	fmt.Fprintf(&b, "%-22s %-11s %9s %9s %9s %9s %9s %10s\n", "step", "stage", "p50", "p90", "p99", "p99.9", "max", "count")
	for _, r := range append(append([]*Result{}, rep.Sweep...), rep.Whole...) {
		name := r.Mode + " " + rateName(r.Offered, r.Mode)
		for _, st := range []struct {
			n string
			d Dist
		}{{"route", r.Route}, {"processing", r.Processing}, {"end_to_end", r.EndToEnd}, {"handler", r.Handler}} {
			d := st.d
			fmt.Fprintf(&b, "%-22s %-11s %9.1f %9.1f %9.1f %9.1f %9.1f %10d\n", name, st.n, us(d.P50), us(d.P90), us(d.P99), us(d.P999), us(d.Max), d.Count)
			name = ""
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeThroughput(b *strings.Builder, rs []*Result) {
	fmt.Fprintf(b, "%-14s %10s %10s %9s %8s %7s %7s %9s %9s %8s %8s %7s %4s %9s %7s %s\n",
		"offered", "achieved/s", "msg/s", "events", "dropped", "stalls", "invalid", "p99 µs", "p99.9 µs", "cpu/ev", "cpu util", "allocs", "GCs", "GC max", "RSS MB", "")
	for _, r := range rs {
		sat := ""
		if r.Saturated {
			sat = "saturated"
		}
		msgs := "-"
		if r.Mode == "whole" {
			msgs = fmt.Sprintf("%.0f", r.AchievedMessages)
		}
		fmt.Fprintf(b, "%-14s %10.0f %10s %9d %8d %7d %7d %9.1f %9.1f %8s %8.2f %7.4f %4d %9s %7.0f %s\n",
			rateName(r.Offered, r.Mode), r.Achieved, msgs, r.Events, r.Dropped, r.InboundStalls, r.Invalidations, us(r.Handler.P99), us(r.Handler.P999),
			r.CPUPerEvent.Round(time.Nanosecond*10), r.CPUUtil, r.AllocsPerEvent, r.GCs, r.GCPauseMax.Round(time.Microsecond), float64(r.RSSBytes)/1e6, sat)
	}
	fmt.Fprintf(b, "(achieved/s: handled events; msg/s: whole path, simulator messages generated over the window; stalls: socket readers\nwaited for the router (saturation); p99/p99.9: handler latency; cpu/ev: process CPU per handled event; allocs: heap allocations per event)\n")
}
