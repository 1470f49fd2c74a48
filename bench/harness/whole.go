package harness

import (
	"context"
	"fmt"
	"time"

	"github.com/polyfeed/polyfeed/engine"
	"github.com/polyfeed/polyfeed/engine/markets"
	"github.com/polyfeed/polyfeed/engine/venue"
	"github.com/polyfeed/polyfeed/internal/fill"
	"github.com/polyfeed/polyfeed/internal/mono"
	"github.com/polyfeed/polyfeed/internal/sim"
)

// WholeConfig configures one whole-path step.
type WholeConfig struct {
	// Workers is the engine's worker count. Default 2.
	Workers int
	// Seed and Markets select the simulated universe. Defaults 1 and 1000.
	Seed    int64
	Markets int
	// Rate is the simulator's message rate (messages/s over all markets,
	// generated every millisecond). Default 1000.
	Rate float64
	// Duration is the measured window. Default 4 s.
	Duration time.Duration
}

func (c *WholeConfig) fill() {
	fill.Zero(&c.Workers, 2)
	fill.Zero(&c.Seed, 1)
	fill.Zero(&c.Markets, 1000)
	fill.Zero(&c.Rate, 1000)
	fill.Zero(&c.Duration, 4*time.Second)
}

// WholePath runs the simulator and the engine in this process, connected
// over loopback WebSockets: the engine's pool subscribes every asset (200
// per connection), the simulator generates at cfg.Rate for the window, and
// the handler's latency is from the socket read of each frame. The process
// CPU and allocations include the simulator's.
func WholePath(ctx context.Context, cfg WholeConfig) (*Result, error) {
	cfg.fill()
	s, err := sim.New(sim.Config{Seed: cfg.Seed, Markets: cfg.Markets, Rate: cfg.Rate, Tick: time.Millisecond})
	if err != nil {
		return nil, fmt.Errorf("cannot create simulator: %w", err)
	}
	if err := s.Start(ctx); err != nil {
		return nil, fmt.Errorf("cannot start simulator: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = s.Stop(sctx)
	}()
	s.Pause() // no events until every book is loaded

	rec := NewRecorder(cfg.Workers)
	app, err := engine.New(engine.Config{
		WSURL:            s.WSURL(),
		GammaURL:         s.GammaURL(),
		Workers:          cfg.Workers,
		DisableLifecycle: true,
		DisableRecycling: true,
		Handler:          rec.Factory,
		Pool:             venue.LoopbackPool(),
		Conn:             venue.LoopbackConn(),
		Logger:           quietLogger(),
	})
	if err != nil {
		return nil, err
	}
	if err := app.Start(ctx); err != nil {
		return nil, err
	}
	defer func() { _ = app.Stop(context.WithoutCancel(ctx)) }()
	assets := 0
	for _, m := range s.Markets() {
		if m.Closed || !m.EnableOrderBook {
			continue
		}
		app.AddMarket(markets.Market{ID: m.ID, ConditionID: m.ConditionID, AssetIDs: m.TokenIDs, Outcomes: m.Outcomes, EndDate: m.EndDate})
		assets += len(m.TokenIDs)
	}
	if err := waitBooks(ctx, rec, uint64(assets)); err != nil {
		return nil, err
	}
	if _, err := waitIdle(ctx, rec); err != nil {
		return nil, err
	}

	simBefore := s.Stats()
	// The engine's stage histograms describe this window only, like the
	// handler's HDR histograms (the warm-up and startup burst stay out).
	app.ResetLatency()
	before, statsBefore := readUsage(), app.Stats()
	eventsBefore := rec.Events()
	start := mono.Now()
	rec.Arm(start)
	s.Resume()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(cfg.Duration):
	}
	s.Pause() // every generated message is on its socket
	end, err := waitIdle(ctx, rec)
	if err != nil {
		return nil, err
	}
	rec.Disarm()
	after, statsAfter := readUsage(), app.Stats()
	simAfter := s.Stats()
	if err := app.Stop(ctx); err != nil {
		return nil, err
	}
	handled := rec.Events() - eventsBefore
	window := time.Duration(end - start)
	var frames uint64
	for _, c := range statsAfter.Pool.Connections {
		frames += c.MessagesReceived
	}
	for _, c := range statsBefore.Pool.Connections {
		frames -= c.MessagesReceived
	}
	var sent, generated uint64
	for k, v := range simAfter.Sent {
		sent += v - simBefore.Sent[k]
	}
	for k, v := range simAfter.Generated {
		generated += v - simBefore.Generated[k]
	}
	r := &Result{Mode: "whole", Offered: cfg.Rate, Events: handled, Frames: frames, Window: window,
		Achieved: float64(handled) / window.Seconds()}
	fillFromStats(r, statsBefore, statsAfter)
	r.Handler = distFromHDR(rec.Histogram())
	r.Resources = resourcesBetween(before, after, handled, window)
	r.SimMessages = sent
	r.SimGenerated = generated
	r.SlowCloses = simAfter.SlowCloses - simBefore.SlowCloses
	r.AchievedMessages = float64(generated) / window.Seconds()
	r.Saturated = wholeSaturated(r)
	return r, nil
}

// wholeSaturated applies engine-alone's rule to a whole-path step, in
// messages: the step kept up when the simulator generated what was offered
// and the engine handled all of it within the window (which runs until the
// handler went quiet, so a backlog stretches it), that is achieved at least
// 95% of offered. Drops, sockets the simulator closed for an overfull
// queue, and inbound stalls (the socket readers waited for the router)
// are saturation too.
func wholeSaturated(r *Result) bool {
	return r.AchievedMessages < 0.95*r.Offered || r.Dropped > 0 || r.SlowCloses > 0 || r.InboundStalls > 0
}

// waitIdle waits until the handler has seen no event for 200 ms and
// returns when it saw the last one (mono, to a 2 ms poll).
func waitIdle(ctx context.Context, rec *Recorder) (int64, error) {
	deadline := time.Now().Add(60 * time.Second)
	last, since := rec.Events(), mono.Now()
	for mono.Since(since) < int64(200*time.Millisecond) {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("cannot wait for the engine to go idle: still handling events after 60s")
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
		if n := rec.Events(); n != last {
			last, since = n, mono.Now()
		}
	}
	return since, nil
}
