package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/polyfeed/polyfeed/export"
)

// runExport is "polyfeed export --parquet OUT DIR [--from T] [--to T]".
func runExport(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("polyfeed export", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var out, from, to string
	fs.StringVar(&out, "parquet", "", "write Parquet tables (book_snapshots, book_deltas, trades, tick_sizes) under this directory")
	fs.StringVar(&from, "from", "", "start at this time (RFC 3339, YYYY-MM-DD or Unix ns)")
	fs.StringVar(&to, "to", "", "end at this time")
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintln(stdout, "Usage: polyfeed export --parquet OUT DIR [--from T] [--to T]")
				fmt.Fprintln(stdout, "Writes OUT/<table>/date=YYYY-MM-DD/hour=HH/*.parquet (zstd); prices and sizes are DECIMAL(18, 6).")
				return nil
			}
			return usagef("export: %v", err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if out == "" || len(pos) != 1 {
		return usagef("export: want --parquet OUT and one recording directory")
	}
	cfg := export.Config{Dir: pos[0], Out: out, Logger: slog.New(slog.NewTextHandler(stderr, nil))}
	var err error
	if cfg.From, err = parseTime(from); err != nil {
		return usagef("export: invalid --from: %v", err)
	}
	if cfg.To, err = parseTime(to); err != nil {
		return usagef("export: invalid --to: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	t0 := time.Now()
	st, err := export.Parquet(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "exported %d frames in %s: %d snapshots, %d deltas, %d trades, %d tick sizes in %d files (%d bad frames, %d duplicates skipped)\n",
		st.Frames, time.Since(t0).Round(time.Millisecond), st.Snapshots, st.Deltas, st.Trades, st.TickSizes, st.Files, st.BadFrames, st.Duplicates)
	return nil
}
