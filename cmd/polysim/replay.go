package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/polyfeed/polyfeed/replay"
	"github.com/polyfeed/polyfeed/replay/venue"
)

const replayUsageHead = `polysim --replay DIR: serve a recording (polyfeed --record DIR) as a venue.

Endpoints:
  GET  /markets, /markets/keyset          Gamma listing: the recorded listing in force, end dates moved to now
  GET  /ws/market                         WebSocket market channel: recorded frames per subscribed asset,
                                          initial dumps from the books the replay has rebuilt at that moment
  GET  /replay/stats                      counters

The replay starts with the first subscribe and, once the recording ends,
keeps serving its end state.

Flags:
`

// wantsReplay reports whether the command line asks for --replay.
func wantsReplay(args []string) bool {
	for _, a := range args {
		if a == "--replay" || a == "-replay" || strings.HasPrefix(a, "--replay=") || strings.HasPrefix(a, "-replay=") {
			return true
		}
	}
	return false
}

// runReplay serves a recording until ctx ends.
func runReplay(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("polysim --replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg venue.Config
	var speed string
	fs.StringVar(&cfg.Dir, "replay", "", "the recording directory to serve")
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8765", "listen address (host:port; port 0 picks one)")
	fs.StringVar(&speed, "speed", "1", "pace: 1 (recorded time), 10 (ten times faster), max")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), replayUsageHead)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 || cfg.Dir == "" {
		fmt.Fprintln(stderr, "polysim: --replay takes a directory and only --addr and --speed besides")
		return errUsage
	}
	s, err := replay.ParseSpeed(speed)
	if err != nil {
		fmt.Fprintln(stderr, "polysim:", err)
		return errUsage
	}
	cfg.Speed, cfg.Max = s, s == 0
	log := slog.New(slog.NewTextHandler(stderr, nil))
	cfg.Logger = log
	v, err := venue.New(cfg)
	if err != nil {
		return err
	}
	if err := v.Start(ctx); err != nil {
		return err
	}
	log.Info("polysim serving a recording", "dir", cfg.Dir, "gamma", v.GammaURL(), "ws", v.WSURL(), "speed", speed)
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return v.Stop(stopCtx)
}
