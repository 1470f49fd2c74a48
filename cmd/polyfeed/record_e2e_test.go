package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRecordReplayExport runs the binary the way the README says: record
// the simulator with --record (its counters in /stats, its state in
// /healthz detail), stop with SIGINT, replay the recording, export it.
func TestRecordReplayExport(t *testing.T) {
	polyfeed, _ := binaries(t)
	dir := filepath.Join(t.TempDir(), "rec")
	pf := start(t, polyfeed, "--sim", "--sim-markets=30", "--sim-rate=500", "--record="+dir,
		"--http-addr=127.0.0.1:0", "--log-format=json", "--workers=2",
		"--nats-listen=127.0.0.1:0", "--data-dir="+t.TempDir()) // never the source tree or a fixed port
	admin := "http://" + pf.await(reAdmin, 30*time.Second)
	var frames uint64
	checkFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		code, body := get(t, admin+"/stats")
		var s struct {
			Recording struct {
				Recording bool   `json:"recording"`
				Frames    uint64 `json:"frames"`
			} `json:"recording"`
		}
		if code != http.StatusOK || json.Unmarshal(body, &s) != nil {
			return fmt.Errorf("/stats: %d %.200s", code, body)
		}
		if !s.Recording.Recording || s.Recording.Frames < 300 {
			return fmt.Errorf("recording %+v", s.Recording)
		}
		frames = s.Recording.Frames
		return nil
	})
	if code, body := get(t, admin+"/healthz"); code != http.StatusOK || !strings.Contains(string(body), `"recording":"ok"`) {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	if code := pf.signalAndWait(syscall.SIGINT, e2eExitBound); code != 0 {
		t.Fatalf("exit code after SIGINT = %d", code)
	}

	out, err := exec.Command(polyfeed, "replay", dir, "--speed", "max", "--exit", "--http-addr", "").Output()
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	m := regexp.MustCompile(`replayed \d+ records \((\d+) frames, (\d+) events\)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("replay output %q", out)
	}
	if n, _ := strconv.ParseUint(string(m[1]), 10, 64); n < frames {
		t.Fatalf("replayed %d frames; /stats had recorded %d before the stop", n, frames)
	}

	pq := filepath.Join(t.TempDir(), "pq")
	out, err = exec.Command(polyfeed, "export", "--parquet", pq, dir).Output()
	if err != nil || !strings.Contains(string(out), "exported") {
		t.Fatalf("export: %v %s", err, out)
	}
	for _, table := range []string{"book_snapshots", "book_deltas", "trades"} {
		files, _ := filepath.Glob(filepath.Join(pq, table, "date=*", "hour=*", "*.parquet"))
		if len(files) == 0 {
			t.Errorf("no %s files", table)
		}
	}
}
