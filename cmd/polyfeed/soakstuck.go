//go:build soakstuck

// A fault build for the soak (bench/soak, the "stuck handler" fault):
// built with -tags soakstuck and run with POLYFEED_SOAK_STUCK=FILE,
// polyfeed watches FILE; when it appears, holding a duration such as "5s",
// polyfeed removes it and worker 0's handler blocks that long on its next
// event, as a publisher stuck on a slow consumer would. The engine does
// not change: the wrap goes around the handler factory (wrapHandler in
// run.go). Never part of a normal build.

package main

import (
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/engine"
)

// stuckFor is the pending block, in nanoseconds: set by the watcher,
// taken (swapped to 0) by worker 0's next event.
var stuckFor atomic.Int64

func init() {
	file := os.Getenv("POLYFEED_SOAK_STUCK")
	if file == "" {
		return
	}
	// The watcher lives as long as the process, like the build's purpose.
	go watchStuckRequests(file)
	wrapHandler = func(next engine.HandlerFactory) engine.HandlerFactory {
		return func(worker int) engine.Handler {
			var h engine.Handler = engine.HandlerFunc(func(*engine.Event, *book.Book) {})
			if next != nil {
				h = next(worker)
			}
			if worker != 0 {
				return h
			}
			return engine.HandlerFunc(func(ev *engine.Event, b *book.Book) {
				if d := stuckFor.Swap(0); d > 0 {
					time.Sleep(time.Duration(d))
				}
				h.OnEvent(ev, b)
			})
		}
	}
}

// watchStuckRequests takes each request written to file: it reads the
// duration, removes the file (the soak's sign that the request was
// taken) and arms the block. An unreadable duration blocks 5 s.
func watchStuckRequests(file string) {
	for range time.Tick(100 * time.Millisecond) {
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		d, err := time.ParseDuration(strings.TrimSpace(string(b)))
		if err != nil || d <= 0 {
			d = 5 * time.Second
		}
		if os.Remove(file) == nil {
			stuckFor.Store(int64(d))
		}
	}
}
