package soak

import (
	"image/color"
	"io"

	"github.com/polyfeed/polyfeed/bench/plot"
)

var (
	colRSS   = color.RGBA{0xd6, 0x27, 0x28, 0xff}
	colHeap  = color.RGBA{0x1f, 0x77, 0xb4, 0xff}
	colLive  = color.RGBA{0x17, 0xbe, 0xcf, 0xff}
	colFDs   = color.RGBA{0x8c, 0x56, 0x4b, 0xff}
	colGor   = color.RGBA{0x2c, 0xa0, 0x2c, 0xff}
	colDrops = color.RGBA{0x94, 0x67, 0xbd, 0xff}
	colFault = color.RGBA{0xff, 0xbf, 0x80, 0xff}
	colRed   = color.RGBA{0xff, 0x00, 0x00, 0xff}
)

// panelWidth and panelHeight are the size of one chart of the soak plot, in pixels.
const panelWidth, panelHeight = 1100, 260

// panels charts the sampled quantities over the run, one chart each, with
// every injected fault and every unhealthy sample as a vertical mark. Only
// complete samples are drawn (an incomplete one has zeros where a failed
// observation left them); health is drawn for every sample.
func panels(samples []Sample, faults []FaultEvent) []plot.Panel {
	zero := 0.0
	chart := func(title, unit string, c color.RGBA, v func(Sample) float64) plot.Panel {
		s := plot.Series{Name: title, Color: c}
		for _, x := range samples {
			if x.Complete {
				s.Points = append(s.Points, [2]float64{x.At.Seconds(), v(x)})
			}
		}
		p := plot.Panel{Title: title, XLabel: "seconds into the run", YLabel: unit, YMin: &zero, Series: []plot.Series{s}}
		for _, f := range faults {
			p.Marks = append(p.Marks, plot.Mark{X: f.At.Seconds(), Name: "fault injected", Color: colFault})
		}
		for _, x := range samples {
			if !x.Healthy {
				p.Marks = append(p.Marks, plot.Mark{X: x.At.Seconds(), Name: "healthz red", Color: colRed})
			}
		}
		return p
	}
	return []plot.Panel{
		chart("RSS", "MiB", colRSS, func(s Sample) float64 { return float64(s.RSS) / (1 << 20) }),
		chart("heap in use (with garbage)", "MiB", colHeap, func(s Sample) float64 { return float64(s.HeapInuse) / (1 << 20) }),
		chart("live heap (after a forced GC)", "MiB", colLive, func(s Sample) float64 { return float64(s.LiveHeap) / (1 << 20) }),
		chart("goroutines", "count", colGor, func(s Sample) float64 { return float64(s.Goroutines) }),
		chart("open fds", "count", colFDs, func(s Sample) float64 { return float64(s.FDs) }),
		chart("dropped events (cumulative)", "events", colDrops, func(s Sample) float64 { return float64(s.Dropped) }),
	}
}

// writePlot renders the soak's charts as one figure in format f.
func writePlot(w io.Writer, f plot.Format, ps []plot.Panel) error {
	return plot.Encode(w, f, panelWidth, panelHeight, ps...)
}
