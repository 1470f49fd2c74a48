package plot

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

func TestSaveWritesSVGAndPNG(t *testing.T) {
	zero := 0.0
	panels := []Panel{
		{Title: "latency", XLabel: "percentile", YLabel: "us", XLog: true, YLog: true,
			XTicks: []float64{1, 10, 100}, XTick: func(v float64) string { return FormatTick(v) + "x" },
			Series: []Series{
				{Name: "a", Color: Palette[0], Points: [][2]float64{{1, 10}, {10, 20}, {100, 0}}}, // 0 cannot sit on a log axis: left out
				{Name: "b", Color: Palette[1], Points: [][2]float64{{1, 5}, {100, 50}}, Dashed: true},
			}},
		{Title: "counts", YMin: &zero, Series: []Series{{Name: "c", Color: Palette[2], Points: [][2]float64{{0, 3}, {5, 4}}}},
			Marks: []Mark{{X: 2, Name: "fault", Color: Palette[3]}, {X: 3, Name: "fault", Color: Palette[3]}}},
	}
	base := filepath.Join(t.TempDir(), "fig")
	if err := Save(base, 800, 300, panels...); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(base + ".png")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 800 || b.Dy() != 600 {
		t.Errorf("PNG is %v; want 800x600 (two 800x300 panels)", b)
	}
	svg, err := os.ReadFile(base + ".svg")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "latency", "counts", "10x"} {
		if !bytes.Contains(svg, []byte(want)) {
			t.Errorf("SVG lacks %q", want)
		}
	}
}

func TestEncodeRefusesNothingAndUnknownFormats(t *testing.T) {
	var buf bytes.Buffer
	if err := Encode(&buf, PNG, 100, 100); err == nil {
		t.Error("Encode drew no panels without an error")
	}
	if err := Encode(&buf, Format("gif"), 100, 100, Panel{}); err == nil {
		t.Error("Encode accepted an unknown format")
	}
}

func TestFormatTick(t *testing.T) {
	for v, want := range map[float64]string{1000: "1K", 2.5e6: "2500K", 3e6: "3M", 0.01: "0.01", 1234: "1234"} {
		if got := FormatTick(v); got != want {
			t.Errorf("FormatTick(%v) = %q; want %q", v, got, want)
		}
	}
}
