package proc

import (
	"os"
	"testing"
	"time"
)

func TestParseVmRSS(t *testing.T) {
	got, err := parseVmRSS("Name:\tpolyfeed\nVmPeak:\t  900 kB\nVmRSS:\t   51200 kB\nThreads: 9\n")
	if err != nil || got != 51200<<10 {
		t.Errorf("parseVmRSS = %d, %v; want %d", got, err, 51200<<10)
	}
	for _, bad := range []string{"Name: x\n", "VmRSS: 12 MB\n", "VmRSS: x kB\n"} {
		if _, err := parseVmRSS(bad); err == nil {
			t.Errorf("parseVmRSS(%q) accepted", bad)
		}
	}
	if rss, err := RSS(1); err == nil && rss == 0 {
		t.Error("RSS(1) = 0")
	}
}

func TestParseStatCPU(t *testing.T) {
	// The command name holds spaces and a ')'; utime 150 and stime 50 ticks.
	stat := "42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 1 0 1000 1000 100"
	got, err := parseStatCPU(stat)
	if err != nil || got != 2*time.Second {
		t.Errorf("parseStatCPU = %v, %v; want 2s", got, err)
	}
	for _, bad := range []string{"42 no paren", "42 (x) S 1 2", "42 (x) S 1 42 42 0 -1 4194560 100 0 0 0 x 50 0"} {
		if _, err := parseStatCPU(bad); err == nil {
			t.Errorf("parseStatCPU(%q) accepted", bad)
		}
	}
	if cpu, err := CPU(os.Getpid()); err != nil || cpu < 0 {
		t.Errorf("CPU(self) = %v, %v", cpu, err)
	}
}
