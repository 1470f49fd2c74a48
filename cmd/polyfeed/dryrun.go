package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/polyfeed/polyfeed/internal/gamma"
)

// dryRun lists the active markets as the lifecycle would discover them and
// prints what would be subscribed: one line per market, then a summary with
// the number of connections the pool would open. Nothing is subscribed.
func dryRun(ctx context.Context, o options, log *slog.Logger, w io.Writer) error {
	c, err := gamma.New(gamma.Config{BaseURL: o.GammaURL, Logger: log})
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()
	log.Info("dry run: listing active markets", "gamma", o.GammaURL)
	markets, st, err := c.ListActive(ctx)
	if err != nil && len(markets) == 0 {
		return fmt.Errorf("cannot discover markets: %w", err)
	}
	if err != nil {
		log.Warn("market listing incomplete; printing what was listed", "err", err)
	}
	return printPlan(w, markets, st, o.AssetsPerConn, time.Now())
}

// printPlan writes the markets and the subscription summary.
func printPlan(w io.Writer, markets []gamma.Market, st gamma.DiscoverStats, perConn int, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "CONDITION_ID\tTOKENS\tEND_DATE\tQUESTION")
	tokens, pastEnd := 0, 0
	for _, m := range markets {
		tokens += len(m.TokenIDs)
		end := "-"
		if !m.EndDate.IsZero() {
			end = m.EndDate.UTC().Format(time.DateOnly)
			if m.EndDate.Before(now) {
				pastEnd++
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", m.ConditionID, len(m.TokenIDs), end, oneLine(m.Question))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("cannot print markets: %w", err)
	}
	conns := (tokens + perConn - 1) / perConn
	_, err := fmt.Fprintf(w, "\nwould subscribe %d assets of %d markets on %d connections (%d assets per connection)\n"+
		"listing: %s paging, %d pages, %d received, %d skipped%s, complete=%v, took %v\n",
		tokens, len(markets), conns, perConn,
		st.Mode, st.Pages, st.Received, st.SkippedTotal(), skipped(st.Skipped), st.Complete, st.Duration.Round(time.Millisecond))
	if err == nil && pastEnd > 0 {
		_, err = fmt.Fprintf(w, "note: %d of these markets are past their end date but not closed yet; "+
			"the lifecycle subscribes them, then retires them at its first expiry check\n", pastEnd)
	}
	if err != nil {
		return fmt.Errorf("cannot print plan: %w", err)
	}
	return nil
}

// skipped renders the skip reasons as " (closed=3, no_order_book=2)".
func skipped(m map[gamma.Reason]int) string {
	if len(m) == 0 {
		return ""
	}
	parts := make([]string, 0, len(m))
	for r, n := range m {
		parts = append(parts, fmt.Sprintf("%s=%d", r, n))
	}
	sort.Strings(parts)
	return " (" + strings.Join(parts, ", ") + ")"
}

// oneLine keeps a market question on one table row.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 80 {
		return string(r[:79]) + "…"
	}
	return s
}
