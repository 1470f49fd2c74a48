// Package export turns a recording into research tables: Parquet files
// (zstd) of book snapshots, book deltas, trades and tick sizes, partitioned
// by UTC date and hour of receipt:
//
//	OUT/book_deltas/date=2026-12-01/hour=13/part-<first ts_recv>.parquet
//
// Frames are decoded with the engine's own decoder; an asset carried by two
// connections at once (a recycle or a resync overlapping) is exported from
// one only (replay.Owners), so no event appears twice. Prices and sizes are
// exact fixed-point integers (DECIMAL(18, 6) on INT64).
//
// Concurrency: Parquet runs on the caller's goroutine.
package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/polyfeed/polyfeed/internal/wire"
	"github.com/polyfeed/polyfeed/record"
	"github.com/polyfeed/polyfeed/replay"
)

// Table names, the first level of the output.
const (
	TableSnapshots = "book_snapshots"
	TableDeltas    = "book_deltas"
	TableTrades    = "trades"
	TableTickSizes = "tick_sizes"
)

// Config configures an export.
type Config struct {
	// Dir is the recording, From and To its bounds (Unix ns, 0: unbounded).
	Dir      string
	From, To int64
	// Out is the output directory; created if missing.
	Out string
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

// Stats counts what an export read and wrote.
type Stats struct {
	Records, Frames uint64
	// BadFrames could not be decoded whole (their good events are kept);
	// Duplicates were events of an asset from a second connection, skipped.
	BadFrames, Duplicates                uint64
	Snapshots, Deltas, Trades, TickSizes uint64
	// Files were written.
	Files int
}

// Parquet exports the recording. On error, the files written so far are
// closed and left in place.
func Parquet(ctx context.Context, cfg Config) (st Stats, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Out == "" {
		return st, errors.New("cannot export: no output directory")
	}
	r, err := record.Open(cfg.Dir, cfg.From, cfg.To, cfg.Logger)
	if err != nil {
		return st, err
	}
	defer r.Close()
	if len(r.Files()) == 0 {
		return st, fmt.Errorf("cannot export %s: %w", cfg.Dir, replay.ErrNoRecording)
	}
	x := &exporter{
		out:    cfg.Out,
		snaps:  newTable[Snapshot](cfg.Out, TableSnapshots),
		deltas: newTable[Delta](cfg.Out, TableDeltas),
		trades: newTable[Trade](cfg.Out, TableTrades),
		ticks:  newTable[TickSize](cfg.Out, TableTickSizes),
		owners: replay.NewOwners(),
		dec:    wire.NewDecoder(),
		strs:   map[string]string{},
	}
	defer func() {
		err = errors.Join(err, x.snaps.close(), x.deltas.close(), x.trades.close(), x.ticks.close())
		st.Files = x.snaps.files + x.deltas.files + x.trades.files + x.ticks.files
	}()
	var session uint64
	sessionIdx := int64(-1)
	for n := 0; ; n++ {
		if n&4095 == 0 {
			if err := ctx.Err(); err != nil {
				return st, err
			}
		}
		rec, err := r.Next()
		if err == io.EOF {
			return x.st(st), nil
		}
		if err != nil {
			return x.st(st), fmt.Errorf("cannot read recording: %w", err)
		}
		st.Records++
		id := max(sessionIdx, 0)<<40 | rec.Conn
		switch rec.Kind {
		case record.KindSession:
			if sessionIdx < 0 || rec.Session != session {
				session = rec.Session
				sessionIdx++
				x.owners = replay.NewOwners() // a new process: every connection is new
			}
		case record.KindSubscribe, record.KindUnsubscribe:
			x.owners.Apply(rec, id)
		case record.KindFrame:
			st.Frames++
			if err := x.frame(id, rec.Frame, rec.Time); err != nil {
				return x.st(st), err
			}
		}
	}
}

// exporter holds one export's state.
type exporter struct {
	out                       string
	snaps                     *table[Snapshot]
	deltas                    *table[Delta]
	trades                    *table[Trade]
	ticks                     *table[TickSize]
	owners                    *replay.Owners
	dec                       *wire.Decoder
	strs                      map[string]string
	bad, dups                 uint64
	nSnap, nDelta, nTr, nTick uint64
}

func (x *exporter) st(s Stats) Stats {
	s.BadFrames, s.Duplicates = x.bad, x.dups
	s.Snapshots, s.Deltas, s.Trades, s.TickSizes = x.nSnap, x.nDelta, x.nTr, x.nTick
	return s
}

// frame exports the events of one frame received at recv on connection id.
func (x *exporter) frame(id int64, frame []byte, recv int64) error {
	evs, derr := x.dec.Decode(frame)
	if derr != nil {
		x.bad++
	}
	for i := range evs {
		ev := &evs[i]
		// Events alias the reader's buffer, and rows wait in batches.
		ev.AssetID, ev.Market, ev.Hash = x.intern(ev.AssetID), x.intern(ev.Market), strings.Clone(ev.Hash)
		for j := range ev.Changes {
			ev.Changes[j].AssetID = x.intern(ev.Changes[j].AssetID)
		}
		switch ev.Kind {
		case wire.KindBook:
			if !x.owners.Streams(ev.AssetID, id) {
				x.dups++
				continue
			}
			if err := x.book(ev, recv); err != nil {
				return err
			}
		case wire.KindPriceChange:
			lastOf := map[string]int{} // an asset's last change ends its message
			for j := range ev.Changes {
				lastOf[ev.Changes[j].AssetID] = j
			}
			for j := range ev.Changes {
				c := &ev.Changes[j]
				if !x.owners.Streams(c.AssetID, id) {
					x.dups++
					continue
				}
				d := Delta{Asset: c.AssetID, Market: ev.Market, TsExchange: ev.Timestamp, TsRecv: recv,
					Side: c.Side.String(), Price: int64(c.Price), Size: int64(c.Size), LastInMessage: lastOf[c.AssetID] == j}
				if err := x.deltas.add(recv, d); err != nil {
					return err
				}
				x.nDelta++
			}
		case wire.KindLastTrade:
			if !x.owners.Streams(ev.AssetID, id) {
				x.dups++
				continue
			}
			if err := x.trades.add(recv, Trade{Asset: ev.AssetID, Market: ev.Market, TsExchange: ev.Timestamp, TsRecv: recv,
				Side: ev.Side.String(), Price: int64(ev.Price), Size: int64(ev.Size)}); err != nil {
				return err
			}
			x.nTr++
		case wire.KindTickSize:
			if !x.owners.Streams(ev.AssetID, id) {
				x.dups++
				continue
			}
			if err := x.ticks.add(recv, TickSize{Asset: ev.AssetID, Market: ev.Market, TsExchange: ev.Timestamp, TsRecv: recv,
				OldTickSize: int64(ev.OldTickSize), NewTickSize: int64(ev.TickSize)}); err != nil {
				return err
			}
			x.nTick++
		}
	}
	return nil
}

// book writes a snapshot row and its levels as snapshot deltas.
func (x *exporter) book(ev *wire.Event, recv int64) error {
	levels := func(ls []wire.Level, bids bool) []Level {
		out := make([]Level, len(ls))
		for i, l := range ls {
			out[i] = Level{Price: int64(l.Price), Size: int64(l.Size)}
		}
		// Best first, whatever order the venue sent.
		slices.SortFunc(out, func(a, b Level) int {
			if bids {
				return cmpInt(b.Price, a.Price)
			}
			return cmpInt(a.Price, b.Price)
		})
		return out
	}
	bids, asks := levels(ev.Bids, true), levels(ev.Asks, false)
	if err := x.snaps.add(recv, Snapshot{Asset: ev.AssetID, Market: ev.Market, TsExchange: ev.Timestamp, TsRecv: recv,
		Bids: bids, Asks: asks, TickSize: int64(ev.TickSize), Hash: ev.Hash}); err != nil {
		return err
	}
	x.nSnap++
	n := len(ev.Bids) + len(ev.Asks)
	k := 0
	for _, side := range []struct {
		name string
		ls   []wire.Level
	}{{"BUY", ev.Bids}, {"SELL", ev.Asks}} {
		for _, l := range side.ls {
			k++
			if err := x.deltas.add(recv, Delta{Asset: ev.AssetID, Market: ev.Market, TsExchange: ev.Timestamp, TsRecv: recv,
				Side: side.name, Price: int64(l.Price), Size: int64(l.Size), Snapshot: true, LastInMessage: k == n}); err != nil {
				return err
			}
			x.nDelta++
		}
	}
	return nil
}

// intern returns a copy of s owned by the export, one per distinct id.
func (x *exporter) intern(s string) string {
	if v, ok := x.strs[s]; ok {
		return v
	}
	v := strings.Clone(s)
	x.strs[v] = v
	return v
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// table writes one table's partitions; rows are buffered and written in
// batches, one open file per hour seen.
type table[T any] struct {
	out, name string
	parts     map[int64]*part[T] // by hour start, Unix ns
	files     int
}

type part[T any] struct {
	f   *os.File
	w   *parquet.GenericWriter[T]
	buf []T
}

const batchRows = 4096

func newTable[T any](out, name string) *table[T] {
	return &table[T]{out: out, name: name, parts: map[int64]*part[T]{}}
}

func (t *table[T]) add(recv int64, row T) error {
	hour := time.Unix(0, recv).UTC().Truncate(time.Hour)
	p := t.parts[hour.UnixNano()]
	if p == nil {
		dir := filepath.Join(t.out, t.name, "date="+hour.Format(time.DateOnly), "hour="+hour.Format("15"))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("cannot create partition: %w", err)
		}
		f, err := os.OpenFile(filepath.Join(dir, "part-"+strconv.FormatInt(recv, 10)+".parquet"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return fmt.Errorf("cannot create parquet file: %w", err)
		}
		p = &part[T]{f: f, w: parquet.NewGenericWriter[T](f, parquet.Compression(&parquet.Zstd))}
		t.parts[hour.UnixNano()] = p
		t.files++
	}
	p.buf = append(p.buf, row)
	if len(p.buf) >= batchRows {
		return p.flush()
	}
	return nil
}

func (p *part[T]) flush() error {
	if len(p.buf) == 0 {
		return nil
	}
	if _, err := p.w.Write(p.buf); err != nil {
		return fmt.Errorf("cannot write parquet rows: %w", err)
	}
	clear(p.buf)
	p.buf = p.buf[:0]
	return nil
}

func (t *table[T]) close() error {
	var errs []error
	for _, p := range t.parts {
		errs = append(errs, p.flush(), p.w.Close(), p.f.Close())
	}
	t.parts = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cannot finish %s: %w", t.name, err)
	}
	return nil
}
