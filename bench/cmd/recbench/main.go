// Command recbench measures what recording costs and what a recording
// gives back: polyfeed's CPU per venue message with and without --record
// (same run, alternating, against one polysim per rate), bytes on disk per
// venue message, and replay speed at --speed max.
//
//	go build -o bin/ ./cmd/polyfeed ./cmd/polysim ./bench/cmd/recbench
//	./bin/recbench -polyfeed ./bin/polyfeed -polysim ./bin/polysim
//
// CPU is the polyfeed process's user+system time (/proc/PID/stat) over a
// window after warm-up; messages are what polysim sent meanwhile
// (/sim/stats "sent"). Linux only.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "recbench:", err)
		os.Exit(1)
	}
}

type sample struct {
	rate    int
	record  bool
	cpuNs   int64
	msgs    uint64
	frames  uint64
	fileB   uint64
	dropped uint64
}

func run() error {
	polyfeed := flag.String("polyfeed", "bin/polyfeed", "polyfeed binary")
	polysim := flag.String("polysim", "bin/polysim", "polysim binary")
	rates := flag.String("rates", "2000,10000", "venue messages per second to measure at")
	window := flag.Duration("window", 10*time.Second, "measured window per run")
	warmup := flag.Duration("warmup", 3*time.Second, "warm-up before each window")
	count := flag.Int("count", 2, "runs per variant (alternating without/with --record)")
	markets := flag.Int("markets", 500, "simulated markets")
	flag.Parse()

	work, err := os.MkdirTemp("", "recbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	fmt.Printf("recbench: go %s, %s, %d CPUs, load %s\n", runtime.Version(), cpuModel(), runtime.NumCPU(), loadAvg())
	fmt.Printf("command: recbench -rates %s -window %s -warmup %s -count %d -markets %d\n\n", *rates, *window, *warmup, *count, *markets)

	var lastRec string
	fmt.Printf("%-6s %-8s %12s %12s %14s %12s %10s\n", "rate", "record", "messages", "cpu µs/msg", "disk B/msg", "disk B/frame", "rec drops")
	for _, rs := range strings.Split(*rates, ",") {
		rate, err := strconv.Atoi(strings.TrimSpace(rs))
		if err != nil {
			return fmt.Errorf("cannot parse rate %q", rs)
		}
		simAddr := freeAddr()
		sim := exec.Command(*polysim, "--addr", simAddr, "--rate", strconv.Itoa(rate), "--markets", strconv.Itoa(*markets), "--idle-timeout", "-1s")
		sim.Stderr = io.Discard
		if err := sim.Start(); err != nil {
			return fmt.Errorf("cannot start polysim: %w", err)
		}
		if err := waitHTTP("http://" + simAddr + "/sim/stats"); err != nil {
			_ = sim.Process.Kill()
			return err
		}
		var sums [2]sample
		for i := range *count {
			for _, rec := range []bool{false, true} {
				dir := ""
				if rec {
					dir = filepath.Join(work, fmt.Sprintf("rec-%d-%d", rate, i))
					lastRec = dir
				}
				s, err := measure(*polyfeed, simAddr, dir, *warmup, *window)
				if err != nil {
					_ = sim.Process.Kill()
					return err
				}
				s.rate, s.record = rate, rec
				k := 0
				if rec {
					k = 1
				}
				sums[k].cpuNs += s.cpuNs
				sums[k].msgs += s.msgs
				sums[k].frames += s.frames
				sums[k].fileB += s.fileB
				sums[k].dropped += s.dropped
			}
		}
		_ = sim.Process.Signal(syscall.SIGINT)
		_ = sim.Wait()
		for k, s := range sums {
			disk, diskF := "-", "-"
			if k == 1 {
				disk = fmt.Sprintf("%.1f", float64(s.fileB)/float64(s.msgs))
				diskF = fmt.Sprintf("%.1f", float64(s.fileB)/float64(s.frames))
			}
			fmt.Printf("%-6d %-8v %12d %12.2f %14s %12s %10d\n", rate, k == 1, s.msgs, float64(s.cpuNs)/1e3/float64(s.msgs), disk, diskF, s.dropped)
		}
		off := float64(sums[0].cpuNs) / float64(sums[0].msgs)
		on := float64(sums[1].cpuNs) / float64(sums[1].msgs)
		fmt.Printf("%-6d overhead of --record: %+.1f %% CPU per message\n", rate, 100*(on-off)/off)
	}

	// Replay speed over the last (largest-rate) recording.
	out, err := exec.Command(*polyfeed, "replay", lastRec, "--speed", "max", "--exit", "--http-addr", "").Output()
	if err != nil {
		return fmt.Errorf("cannot replay: %w", err)
	}
	fmt.Printf("\nreplay --speed max of the last recording: %s", out)
	fmt.Printf("load after: %s\n", loadAvg())
	return nil
}

// measure runs polyfeed against the simulator and returns its CPU and the
// messages the simulator sent during the window.
func measure(bin, simAddr, recDir string, warmup, window time.Duration) (sample, error) {
	httpAddr := freeAddr()
	args := []string{"--ws-url", "ws://" + simAddr + "/ws/market", "--gamma-url", "http://" + simAddr,
		"--http-addr", httpAddr, "--log-level", "warn"}
	if recDir != "" {
		args = append(args, "--record", recDir)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return sample{}, fmt.Errorf("cannot start polyfeed: %w", err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
	}()
	if err := waitHTTP("http://" + httpAddr + "/readyz"); err != nil {
		return sample{}, err
	}
	time.Sleep(warmup)
	cpu0, sent0, rec0 := procCPU(cmd.Process.Pid), simSent(simAddr), recStats(httpAddr)
	time.Sleep(window)
	cpu1, sent1, rec1 := procCPU(cmd.Process.Pid), simSent(simAddr), recStats(httpAddr)
	return sample{cpuNs: cpu1 - cpu0, msgs: sent1 - sent0, frames: rec1.Frames - rec0.Frames,
		fileB: rec1.FileBytes - rec0.FileBytes, dropped: rec1.Dropped}, nil
}

type recording struct {
	Frames    uint64 `json:"frames"`
	FileBytes uint64 `json:"file_bytes"`
	Dropped   uint64 `json:"dropped"`
}

func recStats(addr string) recording {
	var st struct {
		Recording recording `json:"recording"`
	}
	_ = getJSON("http://"+addr+"/stats", &st)
	return st.Recording
}

func simSent(addr string) uint64 {
	var st struct {
		Sent map[string]uint64 `json:"sent"`
	}
	_ = getJSON("http://"+addr+"/sim/stats", &st)
	var n uint64
	for _, v := range st.Sent {
		n += v
	}
	return n
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

func waitHTTP(url string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("timed out waiting for " + url)
}

// procCPU is a process's user+system CPU time in ns.
func procCPU(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return (ut + st) * int64(time.Second) / 100 // USER_HZ
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer ln.Close()
	return ln.Addr().String()
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
