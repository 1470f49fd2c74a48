package soak

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/polyfeed/polyfeed/bench/internal/proc"
	"github.com/polyfeed/polyfeed/bench/internal/truth"
)

// Run performs one soak run and writes its report to cfg.OutDir. The
// returned error is about the run itself (a binary that does not start,
// an unwritable directory); a finished run that failed its checks returns
// a report with Failures and a nil error. ctx cancels the loaded phase
// early (the final checks still run).
func Run(ctx context.Context, cfg Config, log *slog.Logger) (*Report, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create %s: %w", cfg.OutDir, err)
	}
	simAddr, err := proc.FreeAddr()
	if err != nil {
		return nil, err
	}
	feedAddr, err := proc.FreeAddr()
	if err != nil {
		return nil, err
	}
	simBase, feedBase := "http://"+simAddr, "http://"+feedAddr

	sim, err := proc.Start(cfg.OutDir, "polysim", cfg.Polysim, nil,
		"--addr", simAddr, "--markets", strconv.Itoa(cfg.Markets), "--rate", fmt.Sprint(cfg.Rate),
		"--seed", strconv.FormatInt(cfg.Seed, 10), "--churn", fmt.Sprint(cfg.Churn))
	if err != nil {
		return nil, err
	}
	defer func() {
		if sim.Running() {
			_, _ = sim.Stop(10 * time.Second)
		}
	}()
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := proc.WaitHTTP(startCtx, sim, simBase+"/sim/stats"); err != nil {
		return nil, err
	}
	// The embedded NATS server keeps its streams in OutDir, emptied first,
	// so a run neither inherits an earlier run's stored events nor leaves
	// them in the working directory, and it listens in-process only, so
	// runs side by side do not fight over its default port.
	dataDir := filepath.Join(cfg.OutDir, "polyfeed-data")
	if err := os.RemoveAll(dataDir); err != nil {
		return nil, fmt.Errorf("cannot empty %s: %w", dataDir, err)
	}
	args := append([]string{
		"--gamma-url", simBase, "--ws-url", "ws://" + simAddr + "/ws/market",
		"--http-addr", feedAddr, "--log-format", "json",
		"--discovery-interval", cfg.DiscoveryInterval.String(),
		"--data-dir", dataDir, "--nats-listen", "",
	}, cfg.ExtraFlags...)
	env := cfg.Env
	stuckFile := ""
	if cfg.StuckHandler {
		if stuckFile, err = filepath.Abs(filepath.Join(cfg.OutDir, "stuck-request")); err != nil {
			return nil, fmt.Errorf("cannot name the stuck-handler request file: %w", err)
		}
		_ = os.Remove(stuckFile) // a stale request from an earlier run
		env = append(append([]string(nil), env...), "POLYFEED_SOAK_STUCK="+stuckFile)
	}
	feed, err := proc.Start(cfg.OutDir, "polyfeed", cfg.Polyfeed, env, args...)
	if err != nil {
		return nil, err
	}
	defer func() {
		feed.Kill()
	}()
	if err := proc.WaitHTTP(startCtx, feed, feedBase+"/readyz"); err != nil {
		return nil, err
	}
	log.Info("soak started", "polysim", simAddr, "polyfeed", feedAddr, "pid", feed.Pid(), "duration", cfg.Duration)

	rep := &Report{Config: cfg, Started: time.Now(), GoVer: runtime.Version()}
	loaded(ctx, cfg, rep, feed, simBase, feedBase, stuckFile, log)
	rep.Trends = trends(rep.Samples, cfg.warmup())
	rep.Unexplained = unexplainedRed(rep.Samples, rep.Faults, cfg.RecoverBound)

	// Final check: a quiet venue, then every open market's book against the truth.
	if err := clearFaults(simBase); err != nil {
		rep.SampleErrors = append(rep.SampleErrors, "clear faults: "+err.Error())
	}
	if err := post(simBase+"/sim/pause", ""); err != nil {
		return nil, fmt.Errorf("cannot pause the simulator: %w", err)
	}
	t0 := time.Now()
	for {
		ids, err := truth.OpenAssets(httpc, simBase)
		if err != nil {
			return nil, err
		}
		rep.Books, rep.Mismatches = len(ids), truth.Compare(httpc, feedBase, simBase, ids)
		if len(rep.Mismatches) == 0 || time.Since(t0) > cfg.Converge || !feed.Running() {
			break
		}
		log.Info("books not converged yet", "differ", len(rep.Mismatches), "of", len(ids), "first", rep.Mismatches[0].Why)
		time.Sleep(5 * time.Second)
	}
	rep.ConvergedIn = time.Since(t0)
	rep.BadIDFails = probeBadIDs(feedBase)
	took, err := feed.Stop(cfg.StopBound)
	rep.StopTook = took
	if err != nil {
		rep.StopErr = err.Error()
	}
	rep.judge()
	if err := rep.write(cfg.OutDir); err != nil {
		return rep, err
	}
	return rep, nil
}

// loaded runs the loaded phase: samples every Sample, a fault every
// FaultEvery (lasting ones cleared after FaultLength), until Duration or
// ctx ends or polyfeed exits.
func loaded(ctx context.Context, cfg Config, rep *Report, feed *proc.Child, simBase, feedBase, stuckFile string, log *slog.Logger) {
	cycle := schedule(&cfg)
	start := rep.Started
	end := start.Add(cfg.Duration)
	sampleT := time.NewTicker(cfg.Sample)
	defer sampleT.Stop()
	var faultC <-chan time.Time
	if cfg.FaultEvery > 0 {
		ft := time.NewTicker(cfg.FaultEvery)
		defer ft.Stop()
		faultC = ft.C
	}
	var clearC <-chan time.Time
	next := 0
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			log.Warn("soak interrupted: running the final checks")
			return
		case <-feed.Exited():
			rep.StopErr = fmt.Sprintf("polyfeed exited during the run: %v", feed.Err())
			return
		case <-time.After(time.Until(end)):
		case <-sampleT.C:
			s, err := takeSample(feedBase, feed.Pid(), time.Since(start))
			if err != nil {
				rep.SampleErrors = append(rep.SampleErrors, fmt.Sprintf("%s: %v", s.At.Round(time.Second), err))
			}
			rep.Samples = append(rep.Samples, s)
		case <-faultC:
			at := time.Since(start)
			if at > cfg.Duration-cfg.QuietTail {
				continue
			}
			f := cycle[next%len(cycle)]
			next++
			ev := FaultEvent{At: at, Until: at, Name: f.Name, Expect: f.Expect}
			if f.Spec != "" {
				ev.Until = at + cfg.FaultLength // until the clear below records the real end
			}
			if f.Stuck > 0 {
				ev.Until = at + f.Stuck // the handler blocks from its next event on
			}
			if err := inject(simBase, stuckFile, f); err != nil {
				ev.Err = err.Error()
			}
			rep.Faults = append(rep.Faults, ev)
			log.Info("fault", "name", f.Name, "at", at.Round(time.Second), "err", ev.Err)
			if f.Spec != "" {
				clearC = time.After(cfg.FaultLength)
			}
		case <-clearC:
			clearC = nil
			rep.Faults[len(rep.Faults)-1].Until = time.Since(start)
			if err := clearFaults(simBase); err != nil {
				rep.SampleErrors = append(rep.SampleErrors, "clear faults: "+err.Error())
			}
		}
	}
}

// ErrFailed is returned by the command when the run failed its checks.
var ErrFailed = errors.New("soak failed")
