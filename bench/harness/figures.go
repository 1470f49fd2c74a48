package harness

import (
	"fmt"
	"math"
	"path/filepath"

	"github.com/polyfeed/polyfeed/bench/plot"
)

// FigureNames are the figures WriteFigures draws, each as .svg and .png.
var FigureNames = []string{"latency", "stages", "throughput"}

// WriteFigures draws the figures into dir, each as SVG and PNG: latency
// (handler latency percentile curves of every step), stages (every stage
// of one engine-alone and one whole-path step) and throughput (achieved
// rate and p99 against offered load).
func (rep *Report) WriteFigures(dir string) error {
	nines := func(p float64) float64 { // x position: 1/(1-p), "how many nines"
		return 1 / (1 - math.Min(p, 99.999)/100)
	}
	nineTicks := []float64{1, 2, 10, 100, 1000, 10000, 100000}
	nineLabel := func(v float64) string {
		switch v {
		case 1:
			return "0%"
		case 2:
			return "50%"
		case 10:
			return "90%"
		case 100:
			return "99%"
		case 1000:
			return "99.9%"
		case 10000:
			return "99.99%"
		}
		return "99.999%"
	}
	curve := func(d Dist) [][2]float64 {
		var pts [][2]float64
		for _, c := range d.Curve() {
			pts = append(pts, [2]float64{nines(c.Percentile), math.Max(us(c.Nanos), 0.01)})
		}
		return pts
	}

	lat := plot.Panel{Title: "handler latency (frame received -> handler) by step", XLabel: "percentile", YLabel: "latency us",
		XLog: true, YLog: true, XTicks: nineTicks, XTick: nineLabel}
	for i, r := range append(append([]*Result{}, rep.Sweep...), rep.Whole...) {
		lat.Series = append(lat.Series, plot.Series{Name: r.Mode + " " + rateName(r.Offered, r.Mode), Color: plot.Palette[i%len(plot.Palette)], Points: curve(r.Handler), Dashed: r.Mode == "whole"})
	}
	if err := plot.Save(filepath.Join(dir, "latency"), 1100, 560, lat); err != nil {
		return fmt.Errorf("cannot draw the latency figure: %w", err)
	}

	var stages []plot.Panel
	for _, r := range []*Result{rep.reference(rep.Sweep, 20e3), rep.reference(rep.Whole, 10e3)} {
		if r == nil {
			continue
		}
		p := plot.Panel{Title: "stages, " + r.Mode + " at " + rateName(r.Offered, r.Mode), XLabel: "percentile", YLabel: "latency us",
			XLog: true, YLog: true, XTicks: nineTicks, XTick: nineLabel}
		for i, s := range []struct {
			n string
			d Dist
		}{{"route", r.Route}, {"processing", r.Processing}, {"end to end", r.EndToEnd}, {"handler (hdr)", r.Handler}} {
			p.Series = append(p.Series, plot.Series{Name: s.n, Color: plot.Palette[i], Points: curve(s.d)})
		}
		stages = append(stages, p)
	}
	if len(stages) > 0 {
		if err := plot.Save(filepath.Join(dir, "stages"), 1100, 480, stages...); err != nil {
			return fmt.Errorf("cannot draw the stages figure: %w", err)
		}
	}

	thr := plot.Panel{Title: "throughput, engine alone", XLabel: "offered events/s", YLabel: "achieved events/s", XLog: true, YLog: true}
	p99 := plot.Panel{Title: "p99 latency vs offered load, engine alone", XLabel: "offered events/s", YLabel: "p99 us", XLog: true, YLog: true}
	var ideal, ach, hp, rp, pp [][2]float64
	var maxAch float64
	for _, r := range rep.Sweep {
		if r.Offered == 0 {
			maxAch = r.Achieved
			continue
		}
		ideal = append(ideal, [2]float64{r.Offered, r.Offered})
		ach = append(ach, [2]float64{r.Offered, r.Achieved})
		hp = append(hp, [2]float64{r.Offered, us(r.Handler.P99)})
		rp = append(rp, [2]float64{r.Offered, us(r.Route.P99)})
		pp = append(pp, [2]float64{r.Offered, us(r.Processing.P99)})
	}
	thr.Series = []plot.Series{{Name: "offered", Color: plot.Palette[7], Points: ideal, Dashed: true}, {Name: "achieved", Color: plot.Palette[0], Points: ach}}
	if maxAch > 0 && len(ideal) > 0 {
		thr.Series = append(thr.Series, plot.Series{Name: fmt.Sprintf("unpaced %.0fK/s", maxAch/1e3), Color: plot.Palette[3],
			Points: [][2]float64{{ideal[0][0], maxAch}, {ideal[len(ideal)-1][0], maxAch}}, Dashed: true})
	}
	p99.Series = []plot.Series{{Name: "handler p99", Color: plot.Palette[0], Points: hp}, {Name: "route p99", Color: plot.Palette[1], Points: rp}, {Name: "processing p99", Color: plot.Palette[2], Points: pp}}
	if err := plot.Save(filepath.Join(dir, "throughput"), 1100, 480, thr, p99); err != nil {
		return fmt.Errorf("cannot draw the throughput figure: %w", err)
	}
	return nil
}

// reference picks the unsaturated step closest to rate.
func (rep *Report) reference(rs []*Result, rate float64) *Result {
	var best *Result
	for _, r := range rs {
		if r.Offered == 0 || r.Saturated {
			continue
		}
		if best == nil || math.Abs(math.Log(r.Offered/rate)) < math.Abs(math.Log(best.Offered/rate)) {
			best = r
		}
	}
	return best
}
