package export

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/polyfeed/polyfeed/record"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

const (
	assetA = "1001"
	assetB = "1002"
	market = "0xabababababababababababababababababababababababababababababababab"
)

// writeRecording writes a small recording with every kind of event, a
// duplicate from a second connection, a bad frame, and a second hour.
func writeRecording(t *testing.T) (dir string, t0 int64) {
	dir = t.TempDir()
	w, err := record.New(record.Config{Dir: dir, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t0 = time.Date(2026, 12, 1, 13, 59, 0, 0, time.UTC).UnixNano()
	w.OnSubscribe(1, []string{assetA, assetB}, true)
	w.OnFrame(1, []byte(`[{"event_type":"book","asset_id":"`+assetA+`","market":"`+market+`","bids":[{"price":"0.47","size":"10"},{"price":"0.48","size":"20.5"}],"asks":[{"price":"0.53","size":"7"},{"price":"0.52","size":"5"}],"timestamp":"1764597540001","hash":"h1","tick_size":"0.01"},`+
		`{"event_type":"book","asset_id":"`+assetB+`","market":"`+market+`","bids":[{"price":"0.5","size":"1"}],"asks":[],"timestamp":"1764597540002","hash":"h2"}]`), t0+1)
	w.OnFrame(1, []byte(`{"event_type":"price_change","market":"`+market+`","price_changes":[`+
		`{"asset_id":"`+assetA+`","price":"0.49","size":"3.25","side":"BUY","hash":"x","best_bid":"0.49","best_ask":"0.52"},`+
		`{"asset_id":"`+assetA+`","price":"0.52","size":"0","side":"SELL","hash":"y","best_bid":"0.49","best_ask":"0.53"},`+
		`{"asset_id":"`+assetB+`","price":"0.51","size":"2","side":"SELL","hash":"z","best_bid":"0.5","best_ask":"0.51"}],"timestamp":"1764597540003"}`), t0+2)
	// Connection 2 never subscribed A: its copy is a duplicate.
	w.OnFrame(2, []byte(`{"event_type":"last_trade_price","asset_id":"`+assetA+`","market":"`+market+`","price":"0.49","size":"1","side":"BUY","timestamp":"1764597540004"}`), t0+3)
	w.OnFrame(1, []byte(`{"event_type":"last_trade_price","asset_id":"`+assetA+`","market":"`+market+`","price":"0.49","size":"1.5","side":"SELL","timestamp":"1764597540004"}`), t0+4)
	w.OnFrame(1, []byte(`{"event_type":"price_ch`), t0+5) // cut short
	// Next hour.
	w.OnFrame(1, []byte(`{"event_type":"tick_size_change","asset_id":"`+assetB+`","market":"`+market+`","old_tick_size":"0.01","new_tick_size":"0.001","timestamp":"1764601200000"}`), t0+int64(2*time.Minute))
	if err := w.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	return dir, t0
}

// readParquet reads every file of a table with arrow-go's Parquet reader
// (an implementation independent of the writer's) and returns each
// column's values as text, and the column types.
func readParquet(t *testing.T, out, table string) (map[string][]string, map[string]arrow.DataType, []string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(out, table, "date=*", "hour=*", "*.parquet"))
	slices.Sort(files)
	cols := map[string][]string{}
	types := map[string]arrow.DataType{}
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		tbl, err := pqarrow.ReadTable(context.Background(), f, nil, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
		_ = f.Close()
		if err != nil {
			t.Fatalf("cannot read %s: %v", p, err)
		}
		for i := range int(tbl.NumCols()) {
			c := tbl.Column(i)
			types[c.Name()] = c.DataType()
			for _, ch := range c.Data().Chunks() {
				for j := range ch.Len() {
					cols[c.Name()] = append(cols[c.Name()], ch.ValueStr(j))
				}
			}
		}
		tbl.Release()
	}
	rel := make([]string, len(files))
	for i, p := range files {
		rel[i], _ = filepath.Rel(out, p)
	}
	return cols, types, rel
}

func TestParquetReadBackIndependently(t *testing.T) {
	dir, _ := writeRecording(t)
	out := t.TempDir()
	st, err := Parquet(context.Background(), Config{Dir: dir, Out: out, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if st.Snapshots != 2 || st.Deltas != 8 || st.Trades != 1 || st.TickSizes != 1 || st.Duplicates != 1 || st.BadFrames != 1 {
		t.Fatalf("stats %+v", st)
	}

	snaps, types, files := readParquet(t, out, TableSnapshots)
	want := map[string][]string{
		"asset":       {assetA, assetB},
		"market":      {market, market},
		"bids":        {`[{"price":"0.48","size":"20.5"},{"price":"0.47","size":"10"}]`, `[{"price":"0.5","size":"1"}]`},
		"asks":        {`[{"price":"0.52","size":"5"},{"price":"0.53","size":"7"}]`, `[]`},
		"tick_size":   {"0.01", "0"},
		"hash":        {"h1", "h2"},
		"ts_exchange": {"2025-12-01T13:59:00.001Z", "2025-12-01T13:59:00.002Z"},
		"ts_recv":     {"2026-12-01T13:59:00.000000001Z", "2026-12-01T13:59:00.000000001Z"},
	}
	checkColumns(t, TableSnapshots, snaps, want)
	if !slices.Equal(files, []string{"book_snapshots/date=2026-12-01/hour=13/part-1796133540000000001.parquet"}) {
		t.Errorf("snapshot files %v", files)
	}
	if got := types["tick_size"].String(); got != "decimal(18, 6)" {
		t.Errorf("tick_size type %s; want decimal(18, 6)", got)
	}

	deltas, dtypes, _ := readParquet(t, out, TableDeltas)
	checkColumns(t, TableDeltas, deltas, map[string][]string{
		"asset":           {assetA, assetA, assetA, assetA, assetB, assetA, assetA, assetB},
		"side":            {"BUY", "BUY", "SELL", "SELL", "BUY", "BUY", "SELL", "SELL"},
		"price":           {"0.47", "0.48", "0.53", "0.52", "0.5", "0.49", "0.52", "0.51"},
		"size":            {"10", "20.5", "7", "5", "1", "3.25", "0", "2"},
		"snapshot":        {"true", "true", "true", "true", "true", "false", "false", "false"},
		"last_in_message": {"false", "false", "false", "true", "true", "false", "true", "true"},
	})
	for _, c := range []string{"price", "size"} {
		if got := dtypes[c].String(); got != "decimal(18, 6)" {
			t.Errorf("deltas %s type %s; want decimal(18, 6)", c, got)
		}
	}

	trades, _, _ := readParquet(t, out, TableTrades)
	checkColumns(t, TableTrades, trades, map[string][]string{
		"asset": {assetA}, "side": {"SELL"}, "price": {"0.49"}, "size": {"1.5"},
		"ts_recv": {"2026-12-01T13:59:00.000000004Z"},
	})
	ticks, _, tfiles := readParquet(t, out, TableTickSizes)
	checkColumns(t, TableTickSizes, ticks, map[string][]string{
		"asset": {assetB}, "old_tick_size": {"0.01"}, "new_tick_size": {"0.001"},
	})
	if len(tfiles) != 1 || !strings.Contains(tfiles[0], "date=2026-12-01/hour=14/") {
		t.Errorf("tick size files %v; want the 14:00 partition", tfiles)
	}
	checkPhysical(t, filepath.Join(out, dfiles(t, out, TableDeltas)))
}

// checkColumns compares the named columns.
func checkColumns(t *testing.T, table string, got, want map[string][]string) {
	t.Helper()
	for name, w := range want {
		if !slices.Equal(got[name], w) {
			t.Errorf("%s.%s = %q; want %q", table, name, got[name], w)
		}
	}
}

func dfiles(t *testing.T, out, table string) string {
	files, _ := filepath.Glob(filepath.Join(out, table, "date=*", "hour=*", "*.parquet"))
	if len(files) == 0 {
		t.Fatalf("no %s files", table)
	}
	rel, _ := filepath.Rel(out, files[0])
	return rel
}

// checkPhysical: prices are INT64 with the DECIMAL logical type, scale 6,
// as the Parquet footer says (read by arrow-go's low-level reader).
func checkPhysical(t *testing.T, path string) {
	t.Helper()
	r, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sc := r.MetaData().Schema
	for _, name := range []string{"price", "size"} {
		i := sc.ColumnIndexByName(name)
		if i < 0 {
			t.Fatalf("no column %s", name)
		}
		col := sc.Column(i)
		dec, ok := col.LogicalType().(interface {
			Scale() int32
			Precision() int32
		})
		if col.PhysicalType() != parquet.Types.Int64 || !ok || dec.Scale() != 6 || dec.Precision() != 18 {
			t.Errorf("%s: physical %v, logical %v; want INT64 DECIMAL(18, 6)", name, col.PhysicalType(), col.LogicalType())
		}
	}
	if n := r.NumRows(); n != 8 {
		t.Errorf("%d delta rows in the footer; want 8", n)
	}
}
