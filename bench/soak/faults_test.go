package soak

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/polyfeed/polyfeed/bench/internal/proc"
	"github.com/polyfeed/polyfeed/internal/sim"
)

// TestScheduleFitsTenMinutes pins the promise of `make soak
// SOAK_DURATION=10m`: every fault of the cycle, the stuck handler
// included, starts at least once before the quiet tail at the default
// period. Adding a fault that breaks this fails here, not silently in a
// run.
func TestScheduleFitsTenMinutes(t *testing.T) {
	c := Config{Polyfeed: "x", Polysim: "x", Duration: 10 * time.Minute, StuckHandler: true}
	if err := c.fill(); err != nil {
		t.Fatal(err)
	}
	slots := 0 // the loaded phase's ticker fires at FaultEvery, 2·FaultEvery, …
	for at := c.FaultEvery; at <= c.Duration-c.QuietTail; at += c.FaultEvery {
		slots++
	}
	if n := len(schedule(&c)); slots < n {
		t.Errorf("a 10-minute run has %d fault slots for %d faults", slots, n)
	}
	c.StuckHandler = false
	for _, f := range schedule(&c) {
		if f.Stuck > 0 {
			t.Errorf("%q scheduled without Config.StuckHandler", f.Name)
		}
	}
}

// TestFaultSpecsParse: every SPEC the soak posts is one the simulator
// accepts (a rejected one would only show as an injection error mid-run).
func TestFaultSpecsParse(t *testing.T) {
	for _, f := range faultCycle {
		if f.Spec == "" {
			continue
		}
		if _, err := sim.ParseFaults(f.Spec); err != nil {
			t.Errorf("%s: %v", f.Name, err)
		}
	}
}

// TestRequestStuckUntaken: with no polyfeed to take the request, the
// injection fails (the report must not claim a stuck handler that never
// happened) and leaves no request behind for a later run.
func TestRequestStuckUntaken(t *testing.T) {
	file := filepath.Join(t.TempDir(), "stuck-request")
	if err := requestStuck(file, time.Second); err == nil {
		t.Fatal("an untaken request reported success")
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("request file left behind: %v", err)
	}
	if err := requestStuck("", time.Second); err == nil {
		t.Error("a request with no file reported success")
	}
}

// TestStuckHandlerBuild runs polyfeed against the simulator twice: built
// with -tags soakstuck it takes a stuck-handler request; a normal build
// never takes it, and the injection reports that. Builds both binaries,
// so not in -short.
func TestStuckHandlerBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds polyfeed twice and runs it against the simulator")
	}
	bin := t.TempDir()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]string{
		{"build", "-tags", "soakstuck", "-o", filepath.Join(bin, "polyfeed-soakstuck"), "./cmd/polyfeed"},
		{"build", "-o", bin, "./cmd/polyfeed", "./cmd/polysim"},
	} {
		cmd := exec.Command("go", b...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %v: %v\n%s", b, err, out)
		}
	}
	for _, tc := range []struct {
		binary string
		takes  bool
	}{{"polyfeed-soakstuck", true}, {"polyfeed", false}} {
		t.Run(tc.binary, func(t *testing.T) {
			dir := t.TempDir()
			simAddr, _ := proc.FreeAddr()
			feedAddr, _ := proc.FreeAddr()
			s, err := proc.Start(dir, "polysim", filepath.Join(bin, "polysim"), nil,
				"--addr", simAddr, "--markets", "50", "--rate", "200")
			if err != nil {
				t.Fatal(err)
			}
			defer s.Stop(10 * time.Second)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := proc.WaitHTTP(ctx, s, "http://"+simAddr+"/sim/stats"); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, "stuck-request")
			f, err := proc.Start(dir, "polyfeed", filepath.Join(bin, tc.binary), []string{"POLYFEED_SOAK_STUCK=" + file},
				"--gamma-url", "http://"+simAddr, "--ws-url", "ws://"+simAddr+"/ws/market", "--http-addr", feedAddr,
				"--data-dir", filepath.Join(dir, "polyfeed-data"), "--nats-listen", "")
			if err != nil {
				t.Fatal(err)
			}
			defer f.Stop(35 * time.Second)
			if err := proc.WaitHTTP(ctx, f, "http://"+feedAddr+"/readyz"); err != nil {
				t.Fatal(err)
			}
			err = requestStuck(file, 3*time.Second)
			if tc.takes && err != nil {
				t.Fatalf("the soakstuck build did not take the request: %v", err)
			}
			if !tc.takes {
				if err == nil || !strings.Contains(err.Error(), "soakstuck") {
					t.Fatalf("a normal build: %v; want the untaken-request error", err)
				}
			}
		})
	}
}
