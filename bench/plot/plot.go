// Package plot draws the line charts of the benchmark and soak reports with
// gonum.org/v1/plot: panels stacked vertically, lines with point markers,
// log or linear axes, vertical marks for events in time, and a legend,
// written as SVG and PNG. It only describes charts; gonum draws them. Safe
// for concurrent use (no shared state).
package plot

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"strconv"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Series is one line of a panel.
type Series struct {
	Name   string
	Color  color.RGBA
	Points [][2]float64 // data coordinates
	Dashed bool
}

// Mark is a vertical line across a panel at data value X (an event in
// time, say); marks with the same Name share one legend entry.
type Mark struct {
	X     float64
	Name  string
	Color color.RGBA
}

// Panel is one chart.
type Panel struct {
	Title, XLabel, YLabel string
	XLog, YLog            bool
	XTick                 func(v float64) string // label of a tick at data value v; nil: number
	XTicks                []float64              // data values; nil: gonum's default ticks
	Series                []Series
	Marks                 []Mark
	// YMin forces the bottom of a linear y axis (e.g. 0 for counts); nil: fit the data.
	YMin *float64
}

// Palette is a set of distinguishable line colours.
var Palette = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255},
	{148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255},
	{188, 189, 34, 255}, {23, 190, 207, 255},
}

// Format is an output format of Encode.
type Format string

const (
	PNG Format = "png"
	SVG Format = "svg"
)

// dpi maps the pixel sizes callers give to gonum's lengths: at 96 dots
// per inch a w-pixel-wide PNG is w/96 inches wide.
const dpi = 96

// Save writes the panels, stacked vertically and each w x h pixels, as
// base.svg and base.png.
func Save(base string, w, h int, panels ...Panel) error {
	for _, f := range []Format{SVG, PNG} {
		if err := saveAs(base+"."+string(f), f, w, h, panels); err != nil {
			return err
		}
	}
	return nil
}

func saveAs(path string, f Format, w, h int, panels []Panel) error {
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("cannot create %s: %w", path, err)
	}
	if err := Encode(out, f, w, h, panels...); err != nil {
		out.Close()
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	return out.Close()
}

// Encode renders the panels, stacked vertically and each w x h pixels, to
// out in format f.
func Encode(out io.Writer, f Format, w, h int, panels ...Panel) error {
	if len(panels) == 0 {
		return fmt.Errorf("cannot draw a chart: no panels")
	}
	width, height := vg.Length(w)*vg.Inch/dpi, vg.Length(h*len(panels))*vg.Inch/dpi
	var c vg.CanvasWriterTo
	switch f {
	case PNG:
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(dpi), vgimg.UseBackgroundColor(color.White))}
	case SVG:
		c = vgsvg.New(width, height)
	default:
		return fmt.Errorf("cannot draw a chart as %q", f)
	}
	rows := make([][]*gplot.Plot, len(panels))
	for i, p := range panels {
		gp, err := p.plot()
		if err != nil {
			return err
		}
		rows[i] = []*gplot.Plot{gp}
	}
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadTop: 4, PadBottom: 4, PadLeft: 4, PadRight: 30, PadY: 10} // room for the last tick label
	for i, cs := range gplot.Align(rows, tiles, draw.New(c)) {
		rows[i][0].Draw(cs[0])
	}
	_, err := c.WriteTo(out)
	return err
}

// plot builds the gonum plot of one panel.
func (p Panel) plot() (*gplot.Plot, error) {
	gp := gplot.New()
	gp.Title.Text, gp.X.Label.Text, gp.Y.Label.Text = p.Title, p.XLabel, p.YLabel
	gp.Legend.Top, gp.Legend.Left = true, true
	gp.Add(plotter.NewGrid())
	gp.X.Tick.Marker, gp.Y.Tick.Marker = plainTicks{}, plainTicks{}
	if p.XLog {
		gp.X.Scale, gp.X.Tick.Marker = gplot.LogScale{}, logTicks{}
	}
	if p.YLog {
		gp.Y.Scale, gp.Y.Tick.Marker = gplot.LogScale{}, logTicks{}
	}
	if p.XTicks != nil {
		label := p.XTick
		if label == nil {
			label = FormatTick
		}
		var ts gplot.ConstantTicks
		for _, v := range p.XTicks {
			ts = append(ts, gplot.Tick{Value: v, Label: label(v)})
		}
		gp.X.Tick.Marker = ts
	}
	for _, s := range p.Series {
		var xys plotter.XYs
		for _, pt := range s.Points {
			// A log axis cannot place zero or less; such points are left out.
			if (p.XLog && pt[0] <= 0) || (p.YLog && pt[1] <= 0) || math.IsNaN(pt[0]) || math.IsNaN(pt[1]) {
				continue
			}
			xys = append(xys, plotter.XY{X: pt[0], Y: pt[1]})
		}
		if len(xys) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, fmt.Errorf("cannot draw series %q: %w", s.Name, err)
		}
		line.Color, line.Width = s.Color, vg.Points(1.5)
		if s.Dashed {
			line.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		points.Color, points.Radius, points.Shape = s.Color, vg.Points(2), draw.CircleGlyph{}
		if len(xys) > 60 {
			points.Radius = 0 // a dense series reads better as a line
		}
		gp.Add(line, points)
		gp.Legend.Add(s.Name, line, points)
	}
	if p.YMin != nil && !p.YLog {
		gp.Y.Min = *p.YMin
	}
	if len(p.Marks) > 0 {
		// Marks span the y range the series set, so they come after them.
		y0, y1 := gp.Y.Min, gp.Y.Max
		if y1 <= y0 {
			y1 = y0 + 1
		}
		named := map[string]bool{}
		for _, m := range p.Marks {
			line, err := plotter.NewLine(plotter.XYs{{X: m.X, Y: y0}, {X: m.X, Y: y1}})
			if err != nil {
				return nil, fmt.Errorf("cannot draw mark %q: %w", m.Name, err)
			}
			line.Color, line.Width = m.Color, vg.Points(1.5) // 2 px: at least one pixel in full colour
			gp.Add(line)
			if !named[m.Name] {
				named[m.Name] = true
				gp.Legend.Add(m.Name, line)
			}
		}
	}
	return gp, nil
}

// plainTicks are gonum's default ticks labelled by FormatTick ("25",
// not "25.00").
type plainTicks struct{}

func (plainTicks) Ticks(lo, hi float64) []gplot.Tick {
	ts := gplot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = FormatTick(ts[i].Value)
		}
	}
	return ts
}

// logTicks labels a log axis at 1, 2 and 5 times each power of ten when
// it spans fewer than three decades (gonum's LogTicks labels powers of ten
// only, so a range within one decade would get one label or none), and at
// powers of ten otherwise; the other integer multiples get unlabelled
// minor ticks.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []gplot.Tick {
	if lo <= 0 || hi < lo {
		return nil
	}
	few := math.Log10(hi/lo) < 3
	var ts []gplot.Tick
	for e := math.Floor(math.Log10(lo)); math.Pow(10, e) <= hi; e++ {
		for m := 1.0; m < 10; m++ {
			v := m * math.Pow(10, e)
			if v < lo || v > hi {
				continue
			}
			t := gplot.Tick{Value: v}
			if m == 1 || few && (m == 2 || m == 5) {
				t.Label = FormatTick(v)
			}
			ts = append(ts, t)
		}
	}
	return ts
}

// FormatTick renders a tick or rate value compactly: 1K, 2.5M, 0.01.
func FormatTick(v float64) string {
	switch {
	case v >= 1e6 && math.Mod(v, 1e6) == 0:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case v >= 1e3 && math.Mod(v, 1e3) == 0:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "K"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}
