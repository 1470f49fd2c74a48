package soak

import (
	"image"
	"image/color"
	"image/png"
	"io"
	"time"
)

// Panel is one series of the plot, drawn in its own band with its own
// vertical scale (Min..Max, reported in the report's legend).
type Panel struct {
	Name     string
	Color    color.RGBA
	Values   []float64
	Min, Max float64
}

var (
	colRSS   = color.RGBA{0xd6, 0x27, 0x28, 0xff}
	colHeap  = color.RGBA{0x1f, 0x77, 0xb4, 0xff}
	colGor   = color.RGBA{0x2c, 0xa0, 0x2c, 0xff}
	colDrops = color.RGBA{0x94, 0x67, 0xbd, 0xff}
	colGrid  = color.RGBA{0xe0, 0xe0, 0xe0, 0xff}
	colFault = color.RGBA{0xff, 0xbf, 0x80, 0xff}
	colRed   = color.RGBA{0xff, 0x00, 0x00, 0xff}
)

// panels builds the four plotted series from the samples.
func panels(samples []Sample) []Panel {
	ps := []Panel{
		{Name: "RSS (MiB)", Color: colRSS},
		{Name: "heap in use (MiB)", Color: colHeap},
		{Name: "goroutines", Color: colGor},
		{Name: "dropped events (cumulative)", Color: colDrops},
	}
	for _, s := range samples {
		ps[0].Values = append(ps[0].Values, float64(s.RSS)/(1<<20))
		ps[1].Values = append(ps[1].Values, float64(s.HeapInuse)/(1<<20))
		ps[2].Values = append(ps[2].Values, float64(s.Goroutines))
		ps[3].Values = append(ps[3].Values, float64(s.Dropped))
	}
	for i := range ps {
		ps[i].Min, ps[i].Max = 0, 1
		for _, v := range ps[i].Values {
			ps[i].Max = max(ps[i].Max, v*1.05)
		}
	}
	return ps
}

// plot draws the panels stacked, time on the x axis (at, from 0 to total),
// with a vertical band at each fault and a red tick under each unhealthy
// sample. The standard library has no fonts: the legend is in the report.
func plot(w io.Writer, at []time.Duration, total time.Duration, ps []Panel, faults []FaultEvent, unhealthy []time.Duration) error {
	const width, bandH, pad = 1000, 160, 12
	height := len(ps)*(bandH+pad) + pad
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	fill(img, img.Bounds(), color.RGBA{0xff, 0xff, 0xff, 0xff})
	x := func(d time.Duration) int {
		if total <= 0 {
			return pad
		}
		return pad + int(float64(width-2*pad)*float64(d)/float64(total))
	}
	for i, p := range ps {
		top := pad + i*(bandH+pad)
		band := image.Rect(pad, top, width-pad, top+bandH)
		for g := 0; g <= 4; g++ { // horizontal grid: quarters of Min..Max
			y := band.Max.Y - g*bandH/4
			fill(img, image.Rect(band.Min.X, y, band.Max.X, y+1), colGrid)
		}
		for _, f := range faults {
			fx := x(f.At)
			fill(img, image.Rect(fx, band.Min.Y, fx+2, band.Max.Y), colFault)
		}
		for _, u := range unhealthy {
			ux := x(u)
			fill(img, image.Rect(ux, band.Max.Y-6, ux+2, band.Max.Y), colRed)
		}
		y := func(v float64) int {
			f := (v - p.Min) / (p.Max - p.Min)
			return band.Max.Y - int(f*float64(bandH))
		}
		for k := 1; k < len(p.Values) && k < len(at); k++ {
			line(img, x(at[k-1]), y(p.Values[k-1]), x(at[k]), y(p.Values[k]), p.Color)
		}
		fill(img, image.Rect(band.Min.X, band.Min.Y, band.Min.X+8, band.Min.Y+8), p.Color) // panel key
	}
	return png.Encode(w, img)
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

// line draws a 2-pixel-thick segment (Bresenham).
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		img.SetRGBA(x0, y0, c)
		img.SetRGBA(x0, y0+1, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
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
