package soak

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSoakCatchesLeaks runs the default soak (3 minutes, the real binaries
// on loopback) three times at once against a polyfeed built with the
// soakleak tag (cmd/polyfeed/soakleak.go): as built, which must pass;
// leaking one goroutine per reconnect, which must fail the goroutine
// trend; and leaking 1 MiB per reconnect, which must fail the live-heap
// trend. About five minutes, so it runs only when asked:
//
//	POLYFEED_SOAK_LEAKS=1 go test -run TestSoakCatchesLeaks -timeout 20m -v ./bench/soak
func TestSoakCatchesLeaks(t *testing.T) {
	if os.Getenv("POLYFEED_SOAK_LEAKS") == "" {
		t.Skip("long (about five minutes): set POLYFEED_SOAK_LEAKS=1")
	}
	bin := t.TempDir()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]string{
		{"build", "-tags", "soakleak", "-o", bin, "./cmd/polyfeed"},
		{"build", "-o", bin, "./cmd/polysim"},
	} {
		cmd := exec.Command("go", b...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %v: %v\n%s", b, err, out)
		}
	}
	for _, tc := range []struct {
		mode, failure string // failure: "" to pass, else a failure must start with it
	}{
		{"", ""},
		{"goroutine", "trend: goroutines"},
		{"memory", "trend: live_heap_bytes"},
	} {
		t.Run("leak="+tc.mode, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(os.Getenv("POLYFEED_SOAK_LEAKS_OUT"), "leak-"+tc.mode)
			if os.Getenv("POLYFEED_SOAK_LEAKS_OUT") == "" {
				out = t.TempDir()
			}
			rep, err := Run(context.Background(), Config{
				Polyfeed: filepath.Join(bin, "polyfeed"), Polysim: filepath.Join(bin, "polysim"),
				OutDir: out, Env: []string{"POLYFEED_SOAKLEAK=" + tc.mode},
			}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			for _, tr := range rep.Trends {
				t.Log(tr)
			}
			t.Logf("failures: %q (report in %s)", rep.Failures, out)
			if tc.failure == "" {
				if !rep.Passed() {
					t.Errorf("the unmodified engine failed: %q", rep.Failures)
				}
				return
			}
			var hit bool
			for _, f := range rep.Failures {
				hit = hit || strings.HasPrefix(f, tc.failure)
			}
			if !hit {
				t.Errorf("leaking a %s per reconnect: failures %q; want one starting %q", tc.mode, rep.Failures, tc.failure)
			}
			if len(rep.Mismatches) > 0 || rep.Books == 0 {
				t.Errorf("books: %d of %d differ; a leak must not corrupt them", len(rep.Mismatches), rep.Books)
			}
		})
	}
}
