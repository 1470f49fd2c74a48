package harness

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// usage is a reading of the process-wide counters a step is charged with.
type usage struct {
	cpu        time.Duration // user + system CPU of the whole process
	mallocs    uint64
	allocBytes uint64
	numGC      uint32
	pauseTotal time.Duration
	pauses     [256]uint64 // MemStats.PauseNs ring
	heapAlloc  uint64
}

// readUsage stops the world briefly (ReadMemStats): call it only at step
// boundaries, never while measuring latency.
func readUsage() usage {
	var u usage
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		u.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	u.mallocs, u.allocBytes = ms.Mallocs, ms.TotalAlloc
	u.numGC, u.pauseTotal, u.pauses = ms.NumGC, time.Duration(ms.PauseTotalNs), ms.PauseNs
	u.heapAlloc = ms.HeapAlloc
	return u
}

// Resources is what a step cost the process.
type Resources struct {
	CPUPerEvent    time.Duration // process CPU (all goroutines) / events
	CPUUtil        float64       // process CPU / wall time (2.0 = both cores busy)
	AllocsPerEvent float64       // heap allocations / events
	BytesPerEvent  float64       // heap bytes allocated / events
	GCs            uint32
	GCPauseTotal   time.Duration
	GCPauseMax     time.Duration
	RSSBytes       int64 // VmRSS at the end of the step
}

func resourcesBetween(a, b usage, events uint64, wall time.Duration) Resources {
	r := Resources{GCs: b.numGC - a.numGC, GCPauseTotal: b.pauseTotal - a.pauseTotal, RSSBytes: rss()}
	if events > 0 {
		r.CPUPerEvent = (b.cpu - a.cpu) / time.Duration(events)
		r.AllocsPerEvent = float64(b.mallocs-a.mallocs) / float64(events)
		r.BytesPerEvent = float64(b.allocBytes-a.allocBytes) / float64(events)
	}
	if wall > 0 {
		r.CPUUtil = float64(b.cpu-a.cpu) / float64(wall)
	}
	// The last min(GCs, 256) pauses are in the ring, the newest at (NumGC+255)%256.
	for i := uint32(0); i < min(r.GCs, 256); i++ {
		p := time.Duration(b.pauses[(b.numGC-i+255)%256])
		r.GCPauseMax = max(r.GCPauseMax, p)
	}
	return r
}

// rss is VmRSS from /proc/self/status in bytes; 0 if unavailable.
func rss() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return n << 10
		}
	}
	return 0
}
