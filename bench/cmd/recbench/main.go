// Command recbench measures what recording costs and what a recording
// gives back, the three figures of docs/RECORDING.md's goals, side by side
// in one run:
//
//   - overhead: polyfeed's CPU per venue message with --record against
//     without, at each rate (default 2,000 and 10,000 msg/s);
//
//   - bytes on disk per venue message;
//
//   - replay speed: events/s of `polyfeed replay --speed max` over the
//     recording just made at the highest rate.
//
//     go build -o bin/ ./cmd/polyfeed ./cmd/polysim ./bench/cmd/recbench
//     ./bin/recbench -polyfeed ./bin/polyfeed -polysim ./bin/polysim
//
// Method. The machine is shared, so the A/B is made at the same moment:
// per rate, one polysim and two polyfeed processes subscribed to every
// market, one with --record and one without, fed the same stream. Each
// measured window reads both processes' CPU time (the nanosecond run
// time of each thread, /proc/PID/task/*/schedstat) over the same seconds, so load from elsewhere falls on both;
// the overhead of a window is the ratio of their CPU per message. Rounds
// swap which process records (so neither process's own luck counts) and
// each round has several windows; the overhead reported is the median
// window's, with the pooled figure (all CPU over all messages) beside it.
// Messages are what polysim sent in the window, apportioned to the two
// processes by the data frames each read off its sockets (/stats, the
// pool's connections; counted at the socket, so a process whose router
// lags still counts what it was sent). They are equal when both are
// healthy; a window where they are not, or where the simulator strayed from
// the offered rate, is printed, marked and left out. Publishing to NATS is
// off in both processes unless -publish: its cost would dilute the
// recorder's in the ratio. Linux only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/polyfeed/polyfeed/bench/internal/httpjson"
	"github.com/polyfeed/polyfeed/bench/internal/proc"
)

// The goals of issue 16, as docs/RECORDING.md states them.
const (
	goalOverheadPct = 15.0
	goalDiskPerMsg  = 120.0
	goalReplayRate  = 500_000.0
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "recbench:", err)
		os.Exit(1)
	}
}

type options struct {
	polyfeed, polysim string
	rates             []int
	window, warmup    time.Duration
	windows, rounds   int
	markets, replays  int
	keep              string
	publish           bool
}

func parse() (options, error) {
	var o options
	rates := flag.String("rates", "2000,10000", "venue messages per second to measure at")
	flag.StringVar(&o.polyfeed, "polyfeed", "bin/polyfeed", "polyfeed binary")
	flag.StringVar(&o.polysim, "polysim", "bin/polysim", "polysim binary")
	flag.DurationVar(&o.window, "window", 5*time.Second, "length of one measured window")
	flag.DurationVar(&o.warmup, "warmup", 4*time.Second, "warm-up after both processes are ready, per round")
	flag.IntVar(&o.windows, "windows", 4, "measured windows per round")
	flag.IntVar(&o.rounds, "rounds", 2, "rounds per rate; each swaps which process records")
	flag.IntVar(&o.markets, "markets", 500, "simulated markets")
	flag.IntVar(&o.replays, "replays", 3, "replays at --speed max of the last recording")
	flag.BoolVar(&o.publish, "publish", false, "publish to NATS in both processes (an in-process server each, streams in memory), as polyfeed does by default")
	flag.StringVar(&o.keep, "keep", "", "keep the work directory (recordings, logs) here instead of deleting it")
	flag.Parse()
	for _, s := range strings.Split(*rates, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || r <= 0 {
			return o, fmt.Errorf("cannot parse rate %q", s)
		}
		o.rates = append(o.rates, r)
	}
	if o.windows < 1 || o.rounds < 1 || o.replays < 0 || o.window <= 0 {
		return o, errors.New("cannot run: -windows and -rounds must be at least 1, -window positive")
	}
	return o, nil
}

func run() error {
	o, err := parse()
	if err != nil {
		return err
	}
	work := o.keep
	if work == "" {
		if work, err = os.MkdirTemp("", "recbench"); err != nil {
			return err
		}
		defer os.RemoveAll(work)
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	fmt.Printf("recbench: %s, %s, %d CPUs, load %s\n", runtime.Version(), cpuModel(), runtime.NumCPU(), loadAvg())
	fmt.Printf("command: recbench -rates %s -window %s -warmup %s -windows %d -rounds %d -markets %d -replays %d -publish=%v\n\n",
		joinInts(o.rates), o.window, o.warmup, o.windows, o.rounds, o.markets, o.replays, o.publish)

	var sums []rateSummary
	var lastRec string
	for _, rate := range o.rates {
		s, rec, err := measureRate(o, work, rate)
		if err != nil {
			return err
		}
		sums = append(sums, s)
		lastRec = rec
	}

	if o.replays > 0 {
		fmt.Printf("\nreplay --speed max of the %d msg/s recording (%s):\n", o.rates[len(o.rates)-1], recSize(lastRec))
	}
	var rates, perCPU []float64
	for i := range o.replays {
		out, err := exec.Command(o.polyfeed, "replay", lastRec, "--speed", "max", "--exit", "--http-addr", "", "--log-level", "warn").Output()
		if err != nil {
			return fmt.Errorf("cannot replay: %w", err)
		}
		r, c, err := parseReplay(string(out))
		if err != nil {
			return err
		}
		rates, perCPU = append(rates, r), append(perCPU, c)
		fmt.Printf("  run %d (load %s): %s", i+1, loadAvg(), out)
	}

	fmt.Printf("\nsummary (load %s)\n", loadAvg())
	for _, s := range sums {
		fmt.Printf("  overhead of --record at %6d msg/s: %+6.1f %% CPU per message (median of %d windows, %d excluded; pooled %+.1f %%: %.2f → %.2f µs/msg; goal <= %.0f %%: %s)\n",
			s.rate, s.medianPct, s.windows, s.excluded, s.pooledPct, s.offUs, s.onUs, goalOverheadPct, verdict(s.medianPct <= goalOverheadPct))
	}
	for _, s := range sums {
		fmt.Printf("  bytes on disk at %6d msg/s: %6.1f B per venue message (goal <= %.0f: %s); recorder drops %d\n",
			s.rate, s.diskPerMsg, goalDiskPerMsg, verdict(s.diskPerMsg <= goalDiskPerMsg), s.drops)
	}
	if len(rates) > 0 {
		m := median(rates)
		fmt.Printf("  replay --speed max: median %.0f events/s of %d runs (min %.0f, max %.0f; goal >= %.0f: %s); median %.0f events per CPU-second\n",
			m, len(rates), slices.Min(rates), slices.Max(rates), goalReplayRate, verdict(m >= goalReplayRate), median(perCPU))
	}
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

type rateSummary struct {
	rate                 int
	windows, excluded    int
	medianPct, pooledPct float64
	offUs, onUs          float64 // pooled CPU µs per message without and with --record
	diskPerMsg           float64
	drops                uint64
}

// feed is one polyfeed process of a round.
type feed struct {
	child  *proc.Child
	admin  string
	record string // recording directory; "" without --record
}

// sample is what one process did over one window.
type sample struct {
	cpu    time.Duration
	frames int64 // data frames read off the sockets (negative: a socket was replaced)
	fileB  uint64
	drops  uint64
}

type reading struct {
	cpu    time.Duration
	frames int64
	rec    recording
}

type recording struct {
	Frames    uint64 `json:"frames"`
	FileBytes uint64 `json:"file_bytes"`
	Dropped   uint64 `json:"dropped"`
}

var client = &http.Client{Timeout: 5 * time.Second}

func (f *feed) read() (reading, error) {
	var st struct {
		Pool struct {
			Connections []struct {
				Frames int64 `json:"messages_received"` // data frames
			} `json:"connections"`
		} `json:"pool"`
		Recording recording `json:"recording"`
	}
	if _, err := httpjson.Get(client, "http://"+f.admin+"/stats", &st); err != nil {
		return reading{}, err
	}
	cpu, err := cpuTime(f.child.Pid())
	if err != nil {
		return reading{}, err
	}
	var frames int64
	for _, c := range st.Pool.Connections {
		frames += c.Frames
	}
	return reading{cpu: cpu, frames: frames, rec: st.Recording}, nil
}

// measureRate runs the rounds at one rate and prints a line per window. It
// returns the rate's summary and the last round's recording.
func measureRate(o options, work string, rate int) (rateSummary, string, error) {
	simAddr, err := proc.FreeAddr()
	if err != nil {
		return rateSummary{}, "", err
	}
	sim, err := proc.Start(work, fmt.Sprintf("polysim-%d", rate), o.polysim, nil,
		"--addr", simAddr, "--rate", strconv.Itoa(rate), "--markets", strconv.Itoa(o.markets), "--idle-timeout", "-1s")
	if err != nil {
		return rateSummary{}, "", err
	}
	defer sim.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := proc.WaitHTTP(ctx, sim, "http://"+simAddr+"/sim/stats"); err != nil {
		return rateSummary{}, "", err
	}

	fmt.Printf("%-6s %-5s %-6s %11s %11s %11s %9s %10s\n", "rate", "round", "window", "messages", "off µs/msg", "on µs/msg", "overhead", "disk B/msg")
	var pcts []float64
	var offCPU, onCPU time.Duration
	var offMsgs, onMsgs, fileB float64
	var drops uint64
	var lastRec string
	excluded := 0
	for round := range o.rounds {
		feeds, err := startFeeds(o, work, simAddr, rate, round)
		if err != nil {
			return rateSummary{}, "", err
		}
		off, on := feeds[0], feeds[1]
		if feeds[0].record != "" {
			off, on = feeds[1], feeds[0]
		}
		lastRec = on.record
		err = func() error {
			defer func() {
				for _, f := range feeds {
					if _, err := f.child.Stop(30 * time.Second); err != nil {
						fmt.Fprintln(os.Stderr, "recbench:", err)
					}
				}
			}()
			time.Sleep(o.warmup)
			for w := range o.windows {
				so, sn, msgs, err := window(off, on, simAddr, o.window)
				if err != nil {
					return err
				}
				total := float64(so.frames + sn.frames)
				if total <= 0 || msgs == 0 {
					return fmt.Errorf("no messages in window %d at %d msg/s (see the logs in %s)", w, rate, work)
				}
				mo, mn := msgs*float64(so.frames)/total, msgs*float64(sn.frames)/total
				uo, un := so.cpu.Seconds()*1e6/mo, sn.cpu.Seconds()*1e6/mn
				pct := 100 * (un - uo) / uo
				line := fmt.Sprintf("%-6d %-5d %-6d %11.0f %11.2f %11.2f %+8.1f%% %10.1f", rate, round+1, w+1, mn, uo, un, pct, float64(sn.fileB)/mn)
				if why := unfair(so.frames, sn.frames, msgs, float64(2*rate)*o.window.Seconds()); why != "" {
					// Not the same work in both, or not the offered rate: no
					// ratio of CPU per message says anything about recording.
					fmt.Printf("%s  excluded: %s\n", line, why)
					excluded++
					continue
				}
				pcts = append(pcts, pct)
				offCPU += so.cpu
				onCPU += sn.cpu
				offMsgs += mo
				onMsgs += mn
				fileB += float64(sn.fileB)
				drops += sn.drops
				fmt.Println(line)
			}
			return nil
		}()
		if err != nil {
			return rateSummary{}, "", err
		}
	}
	if _, err := sim.Stop(10 * time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "recbench:", err)
	}
	if len(pcts) == 0 {
		return rateSummary{}, "", fmt.Errorf("cannot measure at %d msg/s: all %d windows excluded", rate, excluded)
	}
	uo, un := offCPU.Seconds()/offMsgs, onCPU.Seconds()/onMsgs
	return rateSummary{rate: rate, windows: len(pcts), excluded: excluded, medianPct: median(pcts), pooledPct: 100 * (un - uo) / uo, offUs: uo * 1e6, onUs: un * 1e6,
		diskPerMsg: fileB / onMsgs, drops: drops}, lastRec, nil
}

// startFeeds starts two polyfeed processes on the simulator, the first
// recording in even rounds and the second in odd ones, and waits until both
// are ready.
func startFeeds(o options, work, simAddr string, rate, round int) ([2]*feed, error) {
	var feeds [2]*feed
	for i := range feeds {
		addr, err := proc.FreeAddr()
		if err != nil {
			return feeds, err
		}
		f := &feed{admin: addr}
		args := []string{"--ws-url", "ws://" + simAddr + "/ws/market", "--gamma-url", "http://" + simAddr,
			"--http-addr", addr, "--log-level", "warn"}
		if o.publish {
			args = append(args, "--nats-listen", "", "--nats-memory")
		} else {
			args = append(args, "--publish=false")
		}
		name := fmt.Sprintf("polyfeed-%d-r%d-%c", rate, round+1, 'a'+i)
		if i == round%2 {
			f.record = filepath.Join(work, "rec-"+name)
			args = append(args, "--record", f.record)
		}
		if f.child, err = proc.Start(work, name, o.polyfeed, nil, args...); err != nil {
			stopAll(feeds[:i])
			return feeds, err
		}
		feeds[i] = f
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, f := range feeds {
		if err := proc.WaitHTTP(ctx, f.child, "http://"+f.admin+"/readyz"); err != nil {
			stopAll(feeds[:])
			return feeds, err
		}
	}
	return feeds, nil
}

func stopAll(fs []*feed) {
	for _, f := range fs {
		if f != nil {
			f.child.Kill()
		}
	}
}

// window measures both processes over the same d; msgs is what the
// simulator sent meanwhile (to both).
func window(off, on *feed, simAddr string, d time.Duration) (so, sn sample, msgs float64, err error) {
	s0, err := simSent(simAddr)
	if err != nil {
		return so, sn, 0, err
	}
	o0, err := off.read()
	if err != nil {
		return so, sn, 0, err
	}
	n0, err := on.read()
	if err != nil {
		return so, sn, 0, err
	}
	time.Sleep(d)
	s1, err := simSent(simAddr)
	if err != nil {
		return so, sn, 0, err
	}
	o1, err := off.read()
	if err != nil {
		return so, sn, 0, err
	}
	n1, err := on.read()
	if err != nil {
		return so, sn, 0, err
	}
	so = sample{cpu: o1.cpu - o0.cpu, frames: o1.frames - o0.frames}
	sn = sample{cpu: n1.cpu - n0.cpu, frames: n1.frames - n0.frames, fileB: n1.rec.FileBytes - n0.rec.FileBytes,
		drops: n1.rec.Dropped - n0.rec.Dropped}
	return so, sn, float64(s1 - s0), nil
}

// unfair says why a window cannot compare the two processes, or "": the
// frames their sockets read differ by more than a tenth (one of them
// resynced, or replaced a socket and lost its count), or the simulator sent
// more than a quarter off the offered rate to the two (it fell behind, then
// caught up).
func unfair(frOff, frOn int64, msgs, want float64) string {
	a, b := float64(frOff), float64(frOn)
	if a <= 0 || b <= 0 || max(a, b)-min(a, b) > 0.1*max(a, b) {
		return fmt.Sprintf("frames %d without, %d with --record", frOff, frOn)
	}
	if msgs < 0.75*want || msgs > 1.25*want {
		return fmt.Sprintf("%.0f messages sent, %.0f offered", msgs, want)
	}
	return ""
}

// cpuTime is the time pid's threads have spent on a CPU, user and system,
// in nanoseconds from each thread's /proc/PID/task/TID/schedstat: the
// 10 ms ticks of /proc/PID/stat are too coarse for a few seconds of a
// process that uses a few percent of a core (a 5 s window at 2,000 msg/s
// is some 15 ticks). A thread that exits mid-window takes its time with
// it; Go's threads live as long as the process.
func cpuTime(pid int) (time.Duration, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, fmt.Errorf("cannot read cpu time: %w", err)
	}
	var sum int64
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue // the thread exited
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cannot parse schedstat: %w", err)
		}
		sum += n
	}
	return time.Duration(sum), nil
}

func simSent(addr string) (uint64, error) {
	var st struct {
		Sent map[string]uint64 `json:"sent"`
	}
	if _, err := httpjson.Get(client, "http://"+addr+"/sim/stats", &st); err != nil {
		return 0, err
	}
	var n uint64
	for _, v := range st.Sent {
		n += v
	}
	return n, nil
}

// parseReplay reads events/s and events per CPU-second from polyfeed
// replay's summary line.
func parseReplay(out string) (rate, perCPU float64, err error) {
	_, tail, ok := strings.Cut(out, ": ")
	if ok {
		_, err = fmt.Sscanf(tail, "%g events/s, %g events per CPU-second", &rate, &perCPU)
	}
	if !ok || err != nil {
		return 0, 0, fmt.Errorf("cannot parse replay output %q", strings.TrimSpace(out))
	}
	return rate, perCPU, nil
}

func recSize(dir string) string {
	var n int64
	files := 0
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
				files++
			}
		}
		return nil
	})
	return fmt.Sprintf("%d files, %.1f MB", files, float64(n)/1e6)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
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
