//go:build soakleak

// A deliberately broken build for the soak's own tests (bench/soak,
// TestSoakCatchesLeaks): built with -tags soakleak and run with
// POLYFEED_SOAKLEAK=goroutine or =memory, polyfeed leaks one goroutine, or
// 1 MiB of live heap, per reconnect. It watches its own /stats (the
// connections' reconnect counters) rather than hooking the connection
// code, so no file of the engine changes. Never part of a normal build.

package main

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"time"
)

func init() {
	mode := os.Getenv("POLYFEED_SOAKLEAK")
	if mode != "goroutine" && mode != "memory" {
		return
	}
	addr := "127.0.0.1:9090"
	for i, a := range os.Args {
		if v, ok := strings.CutPrefix(strings.TrimLeft(a, "-"), "http-addr"); ok {
			if v, ok = strings.CutPrefix(v, "="); !ok && i+1 < len(os.Args) {
				v = os.Args[i+1]
			}
			addr = v
		}
	}
	go leakPerReconnect("http://"+addr+"/stats", mode)
}

var (
	leaked [][]byte      // memory mode: kept reachable for the process's life
	never  chan struct{} // goroutine mode: leaked goroutines wait on it forever
)

// leakPerReconnect polls /stats and leaks once for every reconnect it
// sees (a rise in the sum of the live connections' reconnect counters).
func leakPerReconnect(url, mode string) {
	var last uint64
	for range time.Tick(200 * time.Millisecond) {
		var st struct {
			Pool struct {
				Connections []struct {
					Reconnects uint64 `json:"reconnects"`
				} `json:"connections"`
			} `json:"pool"`
		}
		resp, err := http.Get(url)
		if err != nil {
			continue
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			continue
		}
		var n uint64
		for _, c := range st.Pool.Connections {
			n += c.Reconnects
		}
		for ; last < n; last++ {
			switch mode {
			case "goroutine":
				go func() { <-never }()
			case "memory":
				b := make([]byte, 1<<20)
				for i := range b { // touch every page, so RSS grows too
					b[i] = 1
				}
				leaked = append(leaked, b)
			}
		}
		last = n // a recycled connection takes its counter with it: count rises from here
	}
}
