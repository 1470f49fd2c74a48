package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"time"

	"github.com/polyfeed/polyfeed/engine"
	"github.com/polyfeed/polyfeed/internal/mono"
)

// ReplayConfig configures one engine-alone step.
type ReplayConfig struct {
	// Workers is the engine's worker count. Default 2 (one per core here).
	Workers int
	// Rate is the offered load in handler events per second; 0 pushes as
	// fast as the feeding goroutine can.
	Rate float64
	// Duration is the measured window. Default 4 s.
	Duration time.Duration
}

func (c *ReplayConfig) fill() {
	if c.Workers == 0 {
		c.Workers = 2
	}
	if c.Duration == 0 {
		c.Duration = 4 * time.Second
	}
}

// quietLogger discards the engine's lifecycle logs.
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newOfflineApp is an engine with no venue: discovery and recycling off, no
// markets registered, so the pool never dials; frames come only from
// FrameSink.
func newOfflineApp(workers int, rec *Recorder) (*engine.App, error) {
	return engine.New(engine.Config{
		WSURL:            "ws://127.0.0.1:1/ws/market",
		GammaURL:         "http://127.0.0.1:1",
		Workers:          workers,
		DisableLifecycle: true,
		DisableRecycling: true,
		Handler:          rec.Factory,
		Logger:           quietLogger(),
	})
}

// connID is the connection the replayed frames claim to come from.
const connID = 1

// Replay runs the engine alone at one offered rate: load every book, then
// feed the corpus cyclically (paced in 100 µs slots) for the window, wait
// for the backlog to drain, and report.
func Replay(ctx context.Context, c *Corpus, cfg ReplayConfig) (*Result, error) {
	cfg.fill()
	rec := NewRecorder(cfg.Workers)
	app, err := newOfflineApp(cfg.Workers, rec)
	if err != nil {
		return nil, err
	}
	if err := app.Start(ctx); err != nil {
		return nil, err
	}
	defer func() { _ = app.Stop(context.WithoutCancel(ctx)) }()
	sink := app.FrameSink()

	// Warm-up: every book, one subscribe reply at a time as the pool's
	// connections would deliver them.
	for i, d := range c.Dumps {
		want := rec.Books() + uint64(c.DumpBooks[i])
		sink(connID, d, mono.Now())
		if err := waitBooks(ctx, rec, want); err != nil {
			return nil, err
		}
	}
	want := rec.Events()

	// The engine's stage histograms describe this window only, like the
	// handler's HDR histograms (the warm-up and startup burst stay out).
	app.ResetLatency()
	before, statsBefore := readUsage(), app.Stats()
	start := mono.Now()
	rec.Arm(start)
	var events, frames uint64
	i := c.SnapshotFrames // the stream continues from the snapshot state
	deadline := start + int64(cfg.Duration)
	for now := start; now < deadline; now = mono.Now() {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		due := uint64(1 << 62)
		if cfg.Rate > 0 {
			due = uint64(cfg.Rate * float64(now-start) / 1e9)
		}
		// Push what is due, rechecking the clock every 64 frames so an
		// unpaced feed still ends on time.
		for n := 0; events < due && n < 64; n++ {
			sink(connID, c.Frames[i], mono.Now())
			events += uint64(c.Events[i])
			frames++
			if i++; i == len(c.Frames) {
				i = 0
			}
		}
		if cfg.Rate > 0 && events >= due {
			// Sleep until the next frame is due (at least 50 µs: shorter
			// sleeps only burn the feeder's CPU, which this process pays).
			next := start + int64(float64(events+uint64(c.Events[i]))/cfg.Rate*1e9)
			time.Sleep(time.Duration(max(next-mono.Now(), int64(50*time.Microsecond))))
		}
	}
	want += events
	stallErr := waitEvents(ctx, rec, want, 60*time.Second)
	if stallErr != nil && !errors.Is(stallErr, errStalled) {
		return nil, stallErr
	}
	end := mono.Now()
	rec.Disarm()
	after, statsAfter := readUsage(), app.Stats()
	if err := app.Stop(ctx); err != nil {
		return nil, err
	}
	handled := rec.Events() - (want - events)
	window := time.Duration(end - start)
	r := &Result{Mode: "engine", Offered: cfg.Rate, Events: handled, Frames: frames, Fed: events, Window: window,
		Achieved: float64(handled) / window.Seconds()}
	fillFromStats(r, statsBefore, statsAfter)
	if handled < events {
		r.Shortfall = events - handled
	}
	// The handler stopped short of what was fed. Under DropAndResync that
	// is what a drop does; with nothing dropped, events were lost.
	if stallErr != nil && r.Dropped == 0 {
		return nil, fmt.Errorf("cannot replay: %w, with no drop to account for the %d missing", stallErr, r.Shortfall)
	}
	r.Handler = distFromHDR(rec.Histogram())
	r.Resources = resourcesBetween(before, after, handled, window)
	r.Saturated = r.Dropped > 0 || (cfg.Rate > 0 && r.Achieved < 0.95*cfg.Rate)
	return r, nil
}

var errStalled = errors.New("engine made no progress")

// waitEvents polls until the handler has seen want events, or no event
// arrived for a second (drops make the count fall short).
func waitEvents(ctx context.Context, rec *Recorder, want uint64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last, lastChange := rec.Events(), time.Now()
	for {
		n := rec.Events()
		if n >= want {
			return nil
		}
		if n != last {
			last, lastChange = n, time.Now()
		} else if time.Since(lastChange) > time.Second {
			return fmt.Errorf("%w: %d of %d events handled, none for a second", errStalled, n, want)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cannot wait for events: %d of %d after %v", n, want, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// MeasureStartup feeds every subscribe reply at once (the startup burst)
// and measures how long the engine takes to hold every book, and the live
// heap each book costs (slope between half and all of the books, after GC,
// so buffers that grew once are not charged to books).
func MeasureStartup(ctx context.Context, c *Corpus, workers int) (*Startup, error) {
	rec := NewRecorder(workers)
	app, err := newOfflineApp(workers, rec)
	if err != nil {
		return nil, err
	}
	if err := app.Start(ctx); err != nil {
		return nil, err
	}
	defer func() { _ = app.Stop(context.WithoutCancel(ctx)) }()
	sink := app.FrameSink()
	st := &Startup{Books: len(c.Assets), Frames: len(c.Dumps)}
	t0 := time.Now()
	for _, d := range c.Dumps {
		sink(connID, d, mono.Now())
		st.Bytes += int64(len(d))
	}
	if err := waitEvents(ctx, rec, uint64(len(c.Assets)), 60*time.Second); err != nil {
		return nil, err
	}
	st.Duration = time.Since(t0)
	st.Dropped = app.Stats().Router.Dropped
	if err := app.Stop(ctx); err != nil {
		return nil, err
	}

	// Memory: a fresh engine, books loaded one reply at a time.
	rec = NewRecorder(workers)
	app2, err := newOfflineApp(workers, rec)
	if err != nil {
		return nil, err
	}
	if err := app2.Start(ctx); err != nil {
		return nil, err
	}
	defer func() { _ = app2.Stop(context.WithoutCancel(ctx)) }()
	sink = app2.FrameSink()
	half := len(c.Dumps) / 2
	var mid uint64
	var booksMid uint64
	for i, d := range c.Dumps {
		if i == half {
			booksMid = rec.Books()
			mid = liveHeap()
		}
		want := rec.Books()
		sink(connID, d, mono.Now())
		if err := waitBooks(ctx, rec, want+uint64(c.DumpBooks[i])); err != nil {
			return nil, err
		}
	}
	end := liveHeap()
	if n := rec.Books() - booksMid; n > 0 {
		st.BytesPerBook = (float64(end) - float64(mid)) / float64(n)
	}
	st.HeapBytes, st.RSSBytes = end, rss()
	return st, nil
}

func waitBooks(ctx context.Context, rec *Recorder, want uint64) error {
	deadline := time.Now().Add(30 * time.Second)
	for rec.Books() < want {
		if time.Now().After(deadline) {
			return fmt.Errorf("cannot load books: %d of %d", rec.Books(), want)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// liveHeap is the heap in use after two full collections.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
