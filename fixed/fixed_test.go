package fixed

import (
	"errors"
	"math"
	"strconv"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Point
		err  error
	}{
		{"0", 0, nil},
		{"0.5", 500_000, nil},
		{".48", 480_000, nil},
		{"0.50", 500_000, nil},
		{"3149725.72", 3_149_725_720_000, nil},
		{"1", Scale, nil},
		{"-0.000001", -1, nil},
		{"+2.5", 2_500_000, nil},
		{"0.1000000000", 100_000, nil},
		{"5.", 5 * Scale, nil},
		{"9223372.036854", 9_223_372_036_854, nil},
		{"9223372036854.775807", Max, nil},
		{"9223372036854.775808", 0, ErrRange},
		{"99999999999999", 0, ErrRange},
		{"0.0000001", 0, ErrPrecision},
		{"", 0, ErrEmpty},
		{"-", 0, ErrSyntax},
		{".", 0, ErrSyntax},
		{"1e-2", 0, ErrSyntax},
		{"0x10", 0, ErrSyntax},
		{"1.2.3", 0, ErrSyntax},
		{" 1", 0, ErrSyntax},
		{"NaN", 0, ErrSyntax},
	}
	for _, tt := range tests {
		got, err := ParseString(tt.in)
		if !errors.Is(err, tt.err) || got != tt.want {
			t.Errorf("ParseString(%q) = %d, %v; want %d, %v", tt.in, got, err, tt.want, tt.err)
		}
		got2, err2 := Parse([]byte(tt.in))
		if got2 != got || !errors.Is(err2, tt.err) {
			t.Errorf("Parse(%q) = %d, %v; ParseString gave %d, %v", tt.in, got2, err2, got, err)
		}
	}
}

func TestString(t *testing.T) {
	tests := map[Point]string{
		0: "0", 500_000: "0.5", 1: "0.000001", -1: "-0.000001", 3_149_725_720_000: "3149725.72",
		Scale: "1", Max: "9223372036854.775807", math.MinInt64 + 1: "-9223372036854.775807",
	}
	for p, want := range tests {
		if got := p.String(); got != want {
			t.Errorf("Point(%d).String() = %q; want %q", int64(p), got, want)
		}
	}
}

func TestParseAllocs(t *testing.T) {
	b := []byte("3149725.72")
	if n := testing.AllocsPerRun(100, func() { _, _ = Parse(b) }); n != 0 {
		t.Fatalf("Parse allocates %v times; want 0", n)
	}
}

func FuzzParseRoundTrip(f *testing.F) {
	for _, s := range []string{"0", "0.5", ".48", "3149725.72", "-1", "0.0000001", "1e5", "9223372036854.775808"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseString(s)
		if err != nil {
			return
		}
		back, err := ParseString(p.String())
		if err != nil || back != p {
			t.Fatalf("round trip of %q: %d -> %q -> %d, %v", s, p, p.String(), back, err)
		}
		// Cross-check against strconv for the values floats can hold exactly enough.
		if f, ferr := strconv.ParseFloat(s, 64); ferr == nil && math.Abs(f) < 1e6 {
			if d := math.Abs(f*Scale - float64(p)); d > 1 {
				t.Fatalf("ParseString(%q) = %d; float says %v", s, p, f*Scale)
			}
		}
	})
}

func BenchmarkParse(b *testing.B) {
	in := []byte("3149725.72")
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		_, _ = Parse(in)
	}
}
