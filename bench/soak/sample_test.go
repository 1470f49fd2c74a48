package soak

import (
	"bytes"

	"image/color"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/polyfeed/polyfeed/bench/plot"
)

func TestParseMetrics(t *testing.T) {
	text := `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 42
go_memstats_heap_inuse_bytes 1.2345e+07
go_gc_duration_seconds{quantile="0.5"} 0.001
polyfeed_up 1 1700000000000
`
	m, err := parseMetrics(strings.NewReader(text), "go_goroutines", "go_memstats_heap_inuse_bytes", "polyfeed_up")
	if err != nil {
		t.Fatal(err)
	}
	if m["go_goroutines"] != 42 || m["go_memstats_heap_inuse_bytes"] != 12345000 || m["polyfeed_up"] != 1 {
		t.Errorf("parseMetrics = %v", m)
	}
	if _, err := parseMetrics(strings.NewReader(text), "go_threads"); err == nil {
		t.Error("parseMetrics found a metric that is not there")
	}
	if _, err := parseMetrics(strings.NewReader("go_goroutines x\n"), "go_goroutines"); err == nil {
		t.Error("parseMetrics accepted a non-number")
	}
}

func TestPlot(t *testing.T) {
	var samples []Sample
	for i := range 50 {
		samples = append(samples, Sample{At: time.Duration(i) * time.Second, RSS: uint64(40+i) << 20, HeapInuse: 20 << 20, LiveHeap: 12 << 20, Goroutines: 60 + i%5, FDs: 22, Dropped: uint64(i * 3), Healthy: i != 20, Complete: true})
	}
	ps := panels(samples, []FaultEvent{{At: 25 * time.Second}})
	var buf bytes.Buffer
	if err := writePlot(&buf, plot.PNG, ps); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dy() != len(ps)*panelHeight {
		t.Fatalf("plot is %v; want %d charts of %d px", b, len(ps), panelHeight)
	}
	// Each colour must show up in the chart it belongs to: the RSS line in
	// the first, the fault and unhealthy marks in every one.
	has := func(c color.RGBA, chart int) bool {
		b := img.Bounds()
		for y := chart * panelHeight; y < (chart+1)*panelHeight; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				// Lines are anti-aliased: their middle is the colour
				// itself, give or take a few levels.
				r, g, bl, _ := img.At(x, y).RGBA()
				if near(uint8(r>>8), c.R) && near(uint8(g>>8), c.G) && near(uint8(bl>>8), c.B) {
					return true
				}
			}
		}
		return false
	}
	if !has(colRSS, 0) {
		t.Error("no RSS line in the first chart")
	}
	for i := range ps {
		if !has(colFault, i) || !has(colRed, i) {
			t.Errorf("chart %d lacks the fault or unhealthy mark", i)
		}
	}
	if last := ps[0].Series[0].Points[49]; last[1] != 89 {
		t.Errorf("last RSS point %v; want 89 MiB", last)
	}
	buf.Reset()
	if err := writePlot(&buf, plot.SVG, ps); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(buf.Bytes(), []byte("<svg")) || !bytes.Contains(buf.Bytes(), []byte("live heap")) {
		t.Errorf("SVG plot lacks the svg element or a chart title: %.200q", buf.Bytes())
	}
}

func near(a, b uint8) bool { return max(a, b)-min(a, b) < 8 }
