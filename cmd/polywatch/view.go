package main

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/polyfeed/polyfeed/stream"
)

// view is the live terminal table. update (consumer goroutine) records rows; render
// (run's goroutine) draws them; the mutex is the hand-over between the two.
type view struct {
	w    *bufio.Writer
	max  int
	mu   sync.Mutex
	rows map[string]*row
}

// row is what the table shows of one book: its top, not its levels.
type row struct {
	state    stream.State
	tsMs     int64
	last     stream.Trade
	bid, ask stream.Level
	okb, oka bool
	updated  time.Time // local time of the last update
}

func newView(w io.Writer, maxRows int) *view {
	return &view{w: bufio.NewWriter(w), max: maxRows, rows: map[string]*row{}}
}

func (v *view) update(u stream.Update) {
	v.mu.Lock()
	defer v.mu.Unlock()
	r := v.rows[u.Book.Asset]
	if r == nil {
		r = &row{}
		v.rows[u.Book.Asset] = r
	}
	b := u.Book
	r.state, r.tsMs, r.last = b.State, b.TsMs, b.Last
	r.bid, r.okb = b.BestBid()
	r.ask, r.oka = b.BestAsk()
	r.updated = time.Now()
}

func (v *view) err() error { return nil }

// render redraws the table in place (cursor home, clear) with ANSI escapes.
func (v *view) render(now time.Time, s stream.Stats) {
	v.mu.Lock()
	ids := make([]string, 0, len(v.rows))
	for id := range v.rows {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var b strings.Builder
	b.WriteString("\x1b[H\x1b[2J")
	fmt.Fprintf(&b, "polywatch  %s  assets %d  applied %d  gaps %d  resyncs %d  epochs %d  stale %d  decode errors %d\n\n",
		now.Format("15:04:05"), len(ids), s.Applied, s.Gaps, s.Resyncs, s.EpochChanges, s.StaleNotices, s.DecodeErrors)
	fmt.Fprintf(&b, "%-20s %-8s %20s %20s %8s %20s %8s %8s\n", "ASSET", "STATE", "BID x SIZE", "ASK x SIZE", "SPREAD", "LAST TRADE", "AGE", "LAG")
	shown := 0
	for _, id := range ids {
		if v.max > 0 && shown == v.max {
			fmt.Fprintf(&b, "… %d more (--rows)\n", len(ids)-shown)
			break
		}
		shown++
		r := v.rows[id]
		bid, ask, spread, last := "-", "-", "-", "-"
		bl, okb, al, oka := r.bid, r.okb, r.ask, r.oka
		if okb {
			bid = bl.Price.String() + " x " + bl.Size.String()
		}
		if oka {
			ask = al.Price.String() + " x " + al.Size.String()
		}
		if okb && oka {
			spread = (al.Price - bl.Price).String()
		}
		if r.last.Side != "" {
			last = r.last.Side + " " + r.last.Price.String() + " x " + r.last.Size.String()
		}
		lag := "-"
		if r.tsMs > 0 {
			lag = short(now.Sub(time.UnixMilli(r.tsMs)))
		}
		state := r.state.String()
		if r.state != stream.Live {
			state = "\x1b[33m" + fmt.Sprintf("%-8s", state) + "\x1b[0m"
		} else {
			state = fmt.Sprintf("%-8s", state)
		}
		fmt.Fprintf(&b, "%-20s %s %20s %20s %8s %20s %8s %8s\n", clip(id, 20), state, bid, ask, spread, last,
			short(now.Sub(r.updated)), lag)
	}
	v.mu.Unlock()
	_, _ = v.w.WriteString(b.String())
	_ = v.w.Flush()
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n/2-1] + "…" + s[len(s)-(n/2-1):]
}

func short(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}
