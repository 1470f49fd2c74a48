package replay

import "testing"

func TestParseSpeed(t *testing.T) {
	for in, want := range map[string]float64{"max": 0, "1": 1, "10": 10, "0.5": 0.5} {
		if got, err := ParseSpeed(in); err != nil || got != want {
			t.Errorf("ParseSpeed(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1", "10abc", "NaN", "fast", "1e9"} {
		if _, err := ParseSpeed(in); err == nil {
			t.Errorf("ParseSpeed(%q) accepted", in)
		}
	}
}
