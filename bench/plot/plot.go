// Package plot renders small line charts to PNG with the standard library
// only (a built-in 5x7 bitmap font for labels): panels with axes, decade
// ticks on log scales, lines with point markers, vertical marks and a
// legend. Used by the benchmark and soak reports. Safe for concurrent use
// (no shared state).
package plot

import (
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"os"
	"strconv"
	"unicode"
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
	XTicks                []float64              // data values; nil: decades (log) or 5 steps
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

var (
	black = color.RGBA{0, 0, 0, 255}
	grey  = color.RGBA{220, 220, 220, 255}
	white = color.RGBA{255, 255, 255, 255}
)

// SavePNG renders panels stacked vertically, each w x h pixels, into path.
func SavePNG(path string, w, h int, panels ...Panel) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := Encode(f, w, h, panels...); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Encode renders panels stacked vertically, each w x h pixels, as PNG to out.
func Encode(out io.Writer, w, h int, panels ...Panel) error {
	img := image.NewRGBA(image.Rect(0, 0, w, h*len(panels)))
	draw.Draw(img, img.Bounds(), &image.Uniform{white}, image.Point{}, draw.Src)
	for i, p := range panels {
		p.draw(img, image.Rect(0, i*h, w, (i+1)*h))
	}
	return png.Encode(out, img)
}

func (p *Panel) draw(img *image.RGBA, r image.Rectangle) {
	plot := image.Rect(r.Min.X+80, r.Min.Y+34, r.Max.X-200, r.Max.Y-46)
	drawText(img, r.Min.X+80, r.Min.Y+10, p.Title, black, 2)
	drawText(img, plot.Min.X+(plot.Dx()-len(p.XLabel)*glyphAdvance)/2, plot.Max.Y+30, p.XLabel, black, 1)
	drawTextV(img, r.Min.X+8, plot.Min.Y+(plot.Dy()+len(p.YLabel)*glyphAdvance)/2, p.YLabel, black)

	tx, ty := scaleFn(p.XLog), scaleFn(p.YLog)
	x0, x1, y0, y1 := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range p.Series {
		for _, pt := range s.Points {
			if (p.XLog && pt[0] <= 0) || (p.YLog && pt[1] <= 0) {
				continue
			}
			x0, x1 = math.Min(x0, tx(pt[0])), math.Max(x1, tx(pt[0]))
			y0, y1 = math.Min(y0, ty(pt[1])), math.Max(y1, ty(pt[1]))
		}
	}
	if math.IsInf(x0, 0) {
		return
	}
	x0, x1 = pad(x0, x1, p.XLog)
	y0, y1 = pad(y0, y1, p.YLog)
	if p.YMin != nil && !p.YLog {
		y0 = *p.YMin
	}
	px := func(v float64) int { return plot.Min.X + int((tx(v)-x0)/(x1-x0)*float64(plot.Dx())) }
	py := func(v float64) int { return plot.Max.Y - int((ty(v)-y0)/(y1-y0)*float64(plot.Dy())) }

	// Grid and ticks.
	for _, v := range ticks(x0, x1, p.XLog, p.XTicks) {
		x := px(v)
		vline(img, x, plot.Min.Y, plot.Max.Y, grey)
		label := FormatTick(v)
		if p.XTick != nil {
			label = p.XTick(v)
		}
		drawText(img, x-len(label)*glyphAdvance/2, plot.Max.Y+8, label, black, 1)
	}
	for _, v := range ticks(y0, y1, p.YLog, nil) {
		y := py(v)
		hline(img, plot.Min.X, plot.Max.X, y, grey)
		label := FormatTick(v)
		drawText(img, plot.Min.X-8-len(label)*glyphAdvance, y-3, label, black, 1)
	}
	rect(img, plot, black)

	legend := 0
	seen := map[string]bool{}
	for _, m := range p.Marks {
		x := px(m.X)
		if x < plot.Min.X || x > plot.Max.X {
			continue
		}
		vline(img, x, plot.Min.Y+1, plot.Max.Y-1, m.Color)
		if m.Name != "" && !seen[m.Name] {
			seen[m.Name] = true
			ly := plot.Min.Y + 6 + legend*14
			vline(img, plot.Max.X+20, ly-2, ly+8, m.Color)
			drawText(img, plot.Max.X+36, ly, m.Name, black, 1)
			legend++
		}
	}
	for _, s := range p.Series {
		var prev image.Point
		first := true
		for _, pt := range s.Points {
			if (p.XLog && pt[0] <= 0) || (p.YLog && pt[1] <= 0) {
				continue
			}
			q := image.Pt(px(pt[0]), py(pt[1]))
			if !first {
				line(img, prev, q, s.Color, s.Dashed)
			}
			marker(img, q, s.Color)
			prev, first = q, false
		}
		// Legend.
		ly := plot.Min.Y + 6 + legend*14
		legend++
		hline(img, plot.Max.X+12, plot.Max.X+30, ly+3, s.Color)
		hline(img, plot.Max.X+12, plot.Max.X+30, ly+4, s.Color)
		drawText(img, plot.Max.X+36, ly, s.Name, black, 1)
	}
}

func scaleFn(log bool) func(float64) float64 {
	if log {
		return math.Log10
	}
	return func(v float64) float64 { return v }
}

func pad(a, b float64, log bool) (float64, float64) {
	if log {
		return math.Floor(a), math.Ceil(b + 1e-9)
	}
	if a > 0 && a < (b-a) {
		a = 0
	}
	if b == a {
		b = a + 1
	}
	return a, b + (b-a)*0.05
}

func ticks(a, b float64, log bool, fixed []float64) []float64 {
	if fixed != nil {
		return fixed
	}
	var out []float64
	if log {
		for e := a; e <= b+1e-9; e++ {
			out = append(out, math.Pow(10, e))
		}
		return out
	}
	step := (b - a) / 5
	mag := math.Pow(10, math.Floor(math.Log10(step)))
	step = math.Ceil(step/mag) * mag
	for v := math.Ceil(a/step) * step; v <= b+1e-9; v += step {
		out = append(out, v)
	}
	return out
}

// FormatTick is the default tick label: 1K, 2.5M, 0.1 ...
func FormatTick(v float64) string {
	switch {
	case v >= 1e6 && math.Mod(v, 1e6) == 0:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case v >= 1e3 && math.Mod(v, 1e3) == 0:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "K"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

func hline(img *image.RGBA, x0, x1, y int, c color.RGBA) {
	for x := x0; x <= x1; x++ {
		img.SetRGBA(x, y, c)
	}
}

func vline(img *image.RGBA, x, y0, y1 int, c color.RGBA) {
	for y := y0; y <= y1; y++ {
		img.SetRGBA(x, y, c)
	}
}

func rect(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	hline(img, r.Min.X, r.Max.X, r.Min.Y, c)
	hline(img, r.Min.X, r.Max.X, r.Max.Y, c)
	vline(img, r.Min.X, r.Min.Y, r.Max.Y, c)
	vline(img, r.Max.X, r.Min.Y, r.Max.Y, c)
}

// line draws a 2-pixel Bresenham line, optionally dashed.
func line(img *image.RGBA, a, b image.Point, c color.RGBA, dashed bool) {
	dx, dy := abs(b.X-a.X), -abs(b.Y-a.Y)
	sx, sy := sign(b.X-a.X), sign(b.Y-a.Y)
	err := dx + dy
	for n := 0; ; n++ {
		if !dashed || (n/6)%2 == 0 {
			img.SetRGBA(a.X, a.Y, c)
			img.SetRGBA(a.X, a.Y+1, c)
		}
		if a == b {
			return
		}
		e2 := 2 * err
		if e2 >= dy {
			err += dy
			a.X += sx
		}
		if e2 <= dx {
			err += dx
			a.Y += sy
		}
	}
}

func marker(img *image.RGBA, p image.Point, c color.RGBA) {
	for x := -2; x <= 2; x++ {
		for y := -2; y <= 2; y++ {
			img.SetRGBA(p.X+x, p.Y+y, c)
		}
	}
}

func drawText(img *image.RGBA, x, y int, s string, c color.RGBA, scale int) {
	for _, ch := range s {
		g, ok := glyphs[unicode.ToUpper(ch)]
		if ok {
			for row := range glyphH {
				for col := range glyphW {
					if g[row]&(1<<(glyphW-1-col)) == 0 {
						continue
					}
					for i := range scale {
						for j := range scale {
							img.SetRGBA(x+col*scale+i, y+row*scale+j, c)
						}
					}
				}
			}
		}
		x += glyphAdvance * scale
	}
}

// drawTextV draws s rotated a quarter turn, reading bottom to top.
func drawTextV(img *image.RGBA, x, y int, s string, c color.RGBA) {
	for _, ch := range s {
		g, ok := glyphs[unicode.ToUpper(ch)]
		if ok {
			for row := range glyphH {
				for col := range glyphW {
					if g[row]&(1<<(glyphW-1-col)) != 0 {
						img.SetRGBA(x+row, y-col, c)
					}
				}
			}
		}
		y -= glyphAdvance
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}
