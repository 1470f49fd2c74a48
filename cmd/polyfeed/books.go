package main

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/engine"
	"github.com/polyfeed/polyfeed/engine/assets"
	"github.com/polyfeed/polyfeed/fixed"
)

// bookPrinter logs the top of book of a few subscribed assets periodically,
// so that a user of --sim sees live books in the terminal. It owns one
// goroutine, ended by stop.
type bookPrinter struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startBookPrinter starts logging n books every period; n == 0 starts
// nothing (stop is still safe).
func startBookPrinter(app *engine.App, n int, period time.Duration, log *slog.Logger) *bookPrinter {
	p := &bookPrinter{cancel: func() {}}
	if n == 0 {
		return p
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(period)
		defer t.Stop()
		var ids []string
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			ids = printBooks(ctx, app, ids, n, log)
		}
	}()
	return p
}

func (p *bookPrinter) stop() {
	p.cancel()
	p.wg.Wait()
}

// printBooks logs one line per book of ids, first replacing ids that are no
// longer subscribed (expired markets) by the lowest subscribed ones, so the
// same books are followed from one print to the next. It returns the ids.
func printBooks(ctx context.Context, app *engine.App, ids []string, n int, log *slog.Logger) []string {
	reg := app.Registry()
	ids = slices.DeleteFunc(ids, func(id string) bool {
		e, ok := reg.Get(id)
		return !ok || e.State != assets.StateSubscribed
	})
	if len(ids) < n {
		all := reg.ByState(assets.StateSubscribed)
		slices.Sort(all)
		for _, id := range all {
			if len(ids) == n {
				break
			}
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	if len(ids) == 0 {
		log.Info("book: no asset subscribed yet")
		return ids
	}
	for _, id := range ids {
		bctx, cancel := context.WithTimeout(ctx, bookReadTimeout)
		v, ok, err := app.Book(bctx, id, 1)
		cancel()
		if err != nil || !ok {
			log.Info("book: not received yet", "asset", short(id))
			continue
		}
		log.Info("book", "asset", short(id), "bid", side(v.Bids), "ask", side(v.Asks),
			"spread", point(v.Spread), "seq", v.Sequence, "valid", v.Valid)
	}
	return ids
}

// side renders the best level as "price x size", or "-" for an empty side.
func side(levels []book.LevelView) string {
	if len(levels) == 0 {
		return "-"
	}
	return levels[0].Price.String() + " x " + levels[0].Size.String()
}

func point(p *fixed.Point) string {
	if p == nil {
		return "-"
	}
	return p.String()
}

// short abbreviates a 77-digit token id for a log line.
func short(id string) string {
	if len(id) <= 12 {
		return id
	}
	return id[:6] + "…" + id[len(id)-6:]
}
