// Command polybaseline runs one baseline client (package bench/baseline) as its
// own process, for the side-by-side benchmark: it lists the markets from Gamma,
// subscribes every asset of every open book-carrying market, 200 per socket,
// and serves its counters as JSON on GET /stats until SIGTERM.
//
//	bin/polybaseline -mode naive -gamma-url http://127.0.0.1:8765 -ws-url ws://127.0.0.1:8765/ws/market
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/polyfeed/polyfeed/bench/baseline"
	"github.com/polyfeed/polyfeed/internal/gamma"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "polybaseline:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("polybaseline", flag.ContinueOnError)
	mode := fs.String("mode", "naive", "naive (decode and keep books) or floor (read frames only)")
	gammaURL := fs.String("gamma-url", "http://127.0.0.1:8765", "Gamma API base URL (market discovery)")
	wsURL := fs.String("ws-url", "ws://127.0.0.1:8765/ws/market", "market channel URL")
	perConn := fs.Int("assets-per-conn", 200, "assets per socket")
	httpAddr := fs.String("http-addr", "127.0.0.1:0", "address of GET /stats")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	g, err := gamma.New(gamma.Config{BaseURL: *gammaURL})
	if err != nil {
		return fmt.Errorf("cannot create gamma client: %w", err)
	}
	markets, _, err := g.ListActive(ctx)
	if err != nil {
		return fmt.Errorf("cannot list markets: %w", err)
	}
	var ids []string
	for _, m := range markets {
		if m.EnableOrderBook && !m.Closed {
			ids = append(ids, m.TokenIDs...)
		}
	}
	c, err := baseline.New(baseline.Config{WSURL: *wsURL, Assets: ids, AssetsPerConn: *perConn, Mode: baseline.Mode(*mode), Logger: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", *httpAddr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(c.Stats())
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("polybaseline running", "mode", *mode, "assets", len(ids), "stats", "http://"+ln.Addr().String()+"/stats")
	err = c.Run(ctx)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return err
}
