package record

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/internal/poll"
)

var update = flag.Bool("update", false, "rewrite testdata/golden")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startWriter(t *testing.T, cfg Config) *Writer {
	t.Helper()
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop(context.Background()) })
	return w
}

func readAll(t *testing.T, dir string, from, to int64) ([]Record, ReaderStats) {
	t.Helper()
	r, err := Open(dir, from, to, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []Record
	for rec, err := range r.All() {
		if err != nil {
			t.Fatal(err)
		}
		c := *rec
		c.Frame = slices.Clone(rec.Frame)
		c.Assets = slices.Clone(rec.Assets)
		c.Markets = slices.Clone(rec.Markets)
		out = append(out, c)
	}
	return out, r.Stats()
}

func TestWriterRoundTripAndRotation(t *testing.T) {
	dir := t.TempDir()
	w := startWriter(t, Config{Dir: dir, MaxFileBytes: 4 << 10})
	ms := []Market{{ID: "1", ConditionID: "0xabc", AssetIDs: []string{"11", "12"}, Outcomes: []string{"Yes", "No"},
		EndDate: time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC), TickSize: "0.01", NegRisk: true}}
	w.OnListing(ms, true)
	w.OnOpen(1, "ws://x/ws/market")
	w.OnSubscribe(1, []string{"11", "12"}, true)
	base := time.Now().UnixNano()
	const frames = 3000
	for i := range frames {
		// Varied frames so compression cannot hide the rotation.
		f := []byte(`{"event_type":"price_change","n":` + strings.Repeat("x", i%97) + `"` + string(rune('a'+i%26)) + `"}`)
		w.OnFrame(int64(1+i%3), f, base+int64(i))
	}
	w.OnUnsubscribe(1, []string{"12"})
	w.OnDrop([]string{"12"})
	w.OnClose(1, 1006, "gone")
	w.Mark("end")
	if err := w.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	if st.Files < 2 {
		t.Fatalf("files = %d; want rotation by size at 4 KiB", st.Files)
	}
	recs, rst := readAll(t, dir, 0, 0)
	if rst.Truncated != 0 || rst.Files != int(st.Files) {
		t.Fatalf("reader stats %+v, writer %+v", rst, st)
	}
	var got []Record
	sessions, listings := 0, 0
	for _, r := range recs {
		switch r.Kind {
		case KindSession:
			sessions++
			continue
		case KindListing:
			listings++
			if !reflect.DeepEqual(r.Markets, ms) || !r.Complete {
				t.Fatalf("listing = %+v", r.Markets)
			}
			continue
		}
		got = append(got, r)
	}
	if sessions != int(st.Files) || listings != int(st.Files) {
		t.Fatalf("%d sessions and %d listings in %d files; want one each per file", sessions, listings, st.Files)
	}
	if got[0].Kind != KindOpen || got[0].URL != "ws://x/ws/market" || got[0].Conn != 1 {
		t.Fatalf("first = %+v", got[0])
	}
	if got[1].Kind != KindSubscribe || !got[1].Initial || !slices.Equal(got[1].Assets, []string{"11", "12"}) {
		t.Fatalf("second = %+v", got[1])
	}
	for i := range frames {
		r := got[2+i]
		want := `{"event_type":"price_change","n":` + strings.Repeat("x", i%97) + `"` + string(rune('a'+i%26)) + `"}`
		if r.Kind != KindFrame || string(r.Frame) != want || r.Conn != int64(1+i%3) || r.Time != base+int64(i) {
			t.Fatalf("frame %d = %+v", i, r)
		}
	}
	tail := got[2+frames:]
	if len(tail) != 4 || tail[0].Kind != KindUnsubscribe || tail[1].Kind != KindDrop || tail[2].Kind != KindClose ||
		tail[2].Code != 1006 || tail[2].Reason != "gone" || tail[3].Kind != KindMark || tail[3].Label != "end" {
		t.Fatalf("tail = %+v", tail)
	}
	if st.Frames != frames || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestReaderFromTo(t *testing.T) {
	dir := t.TempDir()
	w := startWriter(t, Config{Dir: dir, MaxFileBytes: 1 << 10})
	base := time.Now().UnixNano()
	for i := range 2000 {
		w.OnFrame(1, []byte(strings.Repeat("y", i%50)+"z"), base+int64(i)*1000)
	}
	if err := w.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	from, to := base+500*1000, base+1499*1000
	recs, _ := readAll(t, dir, from, to)
	n := 0
	for _, r := range recs {
		if r.Kind != KindFrame {
			continue
		}
		if r.Time < from || r.Time > to {
			t.Fatalf("record at %d outside [%d, %d]", r.Time, from, to)
		}
		n++
	}
	if n != 1000 {
		t.Fatalf("%d frames in range; want 1000", n)
	}
}

func TestWriterRotatesByHour(t *testing.T) {
	dir := t.TempDir()
	w := startWriter(t, Config{Dir: dir})
	h := time.Date(2026, 11, 30, 23, 59, 59, 0, time.UTC).UnixNano()
	w.OnFrame(1, []byte("a"), h)
	w.OnFrame(1, []byte("b"), h+int64(2*time.Second)) // next hour and next day
	if err := w.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	files, err := listFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || filepath.Base(filepath.Dir(files[0].path)) != "2026-11-30" ||
		filepath.Base(filepath.Dir(files[1].path)) != "2026-12-01" {
		t.Fatalf("files = %+v", files)
	}
}

// A kill loses at most what was not flushed: a file cut anywhere reads up
// to the cut, and a stream never ended by Close (the writer was killed)
// reads up to its last flush.
func TestReaderToleratesTruncatedTail(t *testing.T) {
	dir := t.TempDir()
	w := startWriter(t, Config{Dir: dir})
	base := time.Now().UnixNano()
	for i := range 500 {
		w.OnFrame(1, []byte(strings.Repeat("q", i)), base+int64(i))
	}
	if err := w.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	files, _ := listFiles(dir)
	whole, err := os.ReadFile(files[0].path)
	if err != nil {
		t.Fatal(err)
	}
	prev := -1
	for _, cut := range []int{len(whole) - 1, len(whole) * 3 / 4, len(whole) / 2, 20, 3} {
		if err := os.WriteFile(files[0].path, whole[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		recs, st := readAll(t, dir, 0, 0)
		if st.Truncated != 1 {
			t.Fatalf("cut at %d: truncated = %d", cut, st.Truncated)
		}
		if len(recs) > 0 && recs[0].Kind != KindSession {
			t.Fatalf("cut at %d: first record %v", cut, recs[0].Kind)
		}
		for i, r := range recs[min(1, len(recs)):] { // after the session record
			if string(r.Frame) != strings.Repeat("q", i) {
				t.Fatalf("cut at %d: frame %d wrong", cut, i)
			}
		}
		if prev >= 0 && len(recs) > prev {
			t.Fatalf("cut at %d gave more records (%d) than a longer file (%d)", cut, len(recs), prev)
		}
		prev = len(recs)
	}
}

// failingFile fails every write once armed: a full disk.
type failingFile struct {
	f    *os.File
	fail *sync.Mutex
	on   *bool
}

func (f failingFile) Write(p []byte) (int, error) {
	f.fail.Lock()
	on := *f.on
	f.fail.Unlock()
	if on {
		return 0, errors.New("no space left on device")
	}
	return f.f.Write(p)
}
func (f failingFile) Close() error { return f.f.Close() }

func TestWriterStopsOnWriteErrorAndCounts(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	on := false
	w := startWriter(t, Config{Dir: dir, FlushInterval: 50 * time.Millisecond, Create: func(p string) (io.WriteCloser, error) {
		f, err := os.Create(p)
		return failingFile{f: f, fail: &mu, on: &on}, err
	}})
	for i := range 100 {
		w.OnFrame(1, []byte("before"), time.Now().UnixNano()+int64(i))
	}
	// FileBytes moves as soon as the zstd frame header lands, before the
	// block holding the frames; wait until the frames themselves read back.
	poll.For(t, 5*time.Second, 10*time.Millisecond, func() error {
		if n := countFrames(t, dir, "before"); n < 100 {
			return fmt.Errorf("%d of 100 frames on disk", n)
		}
		return nil
	})
	mu.Lock()
	on = true
	mu.Unlock()
	for i := range 100 {
		w.OnFrame(1, []byte("after"), time.Now().UnixNano()+int64(i))
	}
	poll.For(t, 5*time.Second, 10*time.Millisecond, func() error {
		if w.Health() == nil {
			return errors.New("still healthy")
		}
		return nil
	})
	st := w.Stats()
	if st.Recording || st.WriteErrors == 0 || !strings.Contains(st.Error, "no space left") {
		t.Fatalf("stats %+v", st)
	}
	// Everything after the failure is counted, never blocks.
	for range 1000 {
		w.OnFrame(1, []byte("later"), time.Now().UnixNano())
	}
	poll.For(t, 5*time.Second, 10*time.Millisecond, func() error {
		if d := w.Stats().Dropped; d < 1000 {
			return errors.New("drops not counted yet")
		}
		return nil
	})
	if err := w.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs, _ := readAll(t, dir, 0, 0)
	before := 0
	for _, r := range recs {
		if r.Kind != KindFrame {
			continue
		}
		if string(r.Frame) != "before" {
			t.Fatalf("read %q after the failure", r.Frame)
		}
		before++
	}
	if before != 100 {
		t.Fatalf("read %d frames from before the failure, want 100", before)
	}
}

// countFrames reads dir as it stands and counts the frames equal to body.
func countFrames(t *testing.T, dir, body string) int {
	t.Helper()
	recs, _ := readAll(t, dir, 0, 0)
	n := 0
	for _, r := range recs {
		if r.Kind == KindFrame && string(r.Frame) == body {
			n++
		}
	}
	return n
}

func TestWriterOverflowWritesGap(t *testing.T) {
	dir := t.TempDir()
	// A tiny buffer and a burst far larger than it: the writer cannot keep up.
	w := startWriter(t, Config{Dir: dir, BufferBytes: 8 << 10})
	frame := []byte(strings.Repeat("g", 200))
	for i := range 5000 {
		w.OnFrame(1, frame, time.Now().UnixNano()+int64(i))
	}
	if err := w.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	if st.Dropped == 0 || st.Gaps == 0 {
		t.Fatalf("stats %+v; want drops and gaps", st)
	}
	recs, _ := readAll(t, dir, 0, 0)
	var frames, dropped uint64
	for _, r := range recs {
		switch r.Kind {
		case KindFrame:
			frames++
		case KindGap:
			dropped += r.Dropped
		}
	}
	if frames+dropped != 5000 || frames != st.Frames || dropped != st.Dropped {
		t.Fatalf("frames %d + gaps %d != 5000 (stats %+v)", frames, dropped, st)
	}
}

func TestRetention(t *testing.T) {
	dir := t.TempDir()
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var paths []string
	for i := range 5 {
		p := fileName(dir, base.Add(time.Duration(i)*time.Hour).UnixNano())
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, 1000), 0o644); err != nil {
			t.Fatal(err)
		}
		mod := time.Now().Add(-time.Duration(5-i) * 24 * time.Hour)
		if err := os.Chtimes(p, mod, mod); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	n, err := prune(dir, Keep{MaxBytes: 3000}, "", time.Now())
	if err != nil || n != 2 {
		t.Fatalf("prune by size: %d, %v", n, err)
	}
	n, err = prune(dir, Keep{MaxAge: 36 * time.Hour}, paths[3], time.Now())
	if err != nil || n != 1 { // paths[2] is 3 days old; paths[3] is current
		t.Fatalf("prune by age: %d, %v", n, err)
	}
	files, _ := listFiles(dir)
	if len(files) != 2 || files[0].path != paths[3] || files[1].path != paths[4] {
		t.Fatalf("left %+v", files)
	}
	// Retention also runs in the writer.
	w := startWriter(t, Config{Dir: dir, Keep: Keep{MaxBytes: 1}})
	poll.For(t, 5*time.Second, 10*time.Millisecond, func() error {
		if w.Stats().Deleted != 2 {
			return errors.New("not pruned")
		}
		return nil
	})
}

func TestParseKeep(t *testing.T) {
	for in, want := range map[string]Keep{
		"": {}, "all": {}, "7d": {MaxAge: 7 * 24 * time.Hour}, "36h": {MaxAge: 36 * time.Hour},
		"50GB": {MaxBytes: 50e9}, "1GiB": {MaxBytes: 1 << 30}, "123B": {MaxBytes: 123}, "500MB": {MaxBytes: 500e6},
	} {
		got, err := ParseKeep(in)
		if err != nil || got != want {
			t.Errorf("ParseKeep(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"-1d", "x", "0", "-5GB", "1y"} {
		if _, err := ParseKeep(in); err == nil {
			t.Errorf("ParseKeep(%q) accepted", in)
		}
	}
}

// goldenRecords is the content of testdata/golden, documented in
// docs/RECORDING.md.
func goldenRecords() []Record {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	return []Record{
		{Kind: KindSession, Time: t0, Session: 0x0123456789abcdef},
		{Kind: KindListing, Time: t0 + 1, Complete: true, Markets: []Market{{ID: "501", ConditionID: "0x" + strings.Repeat("ab", 32),
			Question: "Will it rain?", Slug: "rain", AssetIDs: []string{"1001", "1002"}, Outcomes: []string{"Yes", "No"},
			EndDate: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), TickSize: "0.01"}}},
		{Kind: KindOpen, Time: t0 + 2_000_000, Conn: 1, URL: "wss://ws-subscriptions-clob.polymarket.com/ws/market"},
		{Kind: KindSubscribe, Time: t0 + 3_000_000, Conn: 1, Initial: true, Assets: []string{"1001", "1002"}},
		{Kind: KindFrame, Time: t0 + 40_000_000, Conn: 1, Frame: []byte(`[{"event_type":"book","asset_id":"1001","market":"0x` + strings.Repeat("ab", 32) + `","bids":[{"price":"0.48","size":"100"}],"asks":[{"price":"0.52","size":"50"}],"timestamp":"1764547200040","hash":"h1"}]`)},
		{Kind: KindFrame, Time: t0 + 50_000_000, Conn: 1, Frame: []byte(`{"event_type":"price_change","market":"0x` + strings.Repeat("ab", 32) + `","price_changes":[{"asset_id":"1001","price":"0.49","size":"10","side":"BUY","hash":"h2","best_bid":"0.49","best_ask":"0.52"}],"timestamp":"1764547200050"}`)},
		{Kind: KindGap, Time: t0 + 60_000_000, Dropped: 3, DroppedBytes: 600},
		{Kind: KindUnsubscribe, Time: t0 + 70_000_000, Conn: 1, Assets: []string{"1002"}},
		{Kind: KindDrop, Time: t0 + 70_000_001, Assets: []string{"1002"}},
		{Kind: KindClose, Time: t0 + 80_000_000, Conn: 1, Code: 1006, Reason: "unexpected EOF"},
		{Kind: KindMark, Time: t0 + 90_000_000, Label: "checkpoint"},
		{Kind: KindMigrate, Time: t0 + 100_000_000, Conn: 2, Assets: []string{"1001"}},
		{Kind: KindMigrateEnd, Time: t0 + 110_000_000, Conn: 2, Assets: []string{"1001"}, End: EndAbort},
	}
}

// TestGolden decodes the example recording of docs/RECORDING.md; -update
// rewrites it from goldenRecords.
func TestGolden(t *testing.T) {
	dir := filepath.Join("testdata", "golden")
	want := goldenRecords()
	if *update {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		w, err := New(Config{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		_ = w.Stop(context.Background())
		// Write by hand so the times and the session are fixed.
		w.session = want[0].Session
		w.failed.Store(nil)
		if !w.rotate(want[0].Time) {
			t.Fatal(w.Health())
		}
		for _, r := range want[1:] {
			p, err := appendPayload(nil, &r)
			if err != nil {
				t.Fatal(err)
			}
			w.encode(r.Kind, r.Time, p)
		}
		w.closeFile()
		if err := w.Health(); err != nil {
			t.Fatal(err)
		}
	}
	got, st := readAll(t, dir, 0, 0)
	if st.Files != 1 || st.Truncated != 0 {
		t.Fatalf("stats %+v", st)
	}
	for i := range got {
		if got[i].Assets != nil && len(got[i].Assets) == 0 {
			got[i].Assets = nil
		}
		if got[i].Markets != nil && len(got[i].Markets) == 0 {
			got[i].Markets = nil
		}
		if got[i].Frame != nil && len(got[i].Frame) == 0 {
			got[i].Frame = nil
		}
	}
	if !reflect.DeepEqual(got, want) {
		for i := range max(len(got), len(want)) {
			if i >= len(got) || i >= len(want) || !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("record %d differs:\n got %+v\nwant %+v", i, at(got, i), at(want, i))
			}
		}
	}
}

func at(rs []Record, i int) any {
	if i < len(rs) {
		return rs[i]
	}
	return "none"
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestMigrateEndUnknownIsDamaged: a migrate_end whose ending is not finish,
// abort or rollback is a damaged record, never replayed as a finish.
func TestMigrateEndUnknownIsDamaged(t *testing.T) {
	for end, damaged := range map[MigrationEnd]bool{EndFinish: false, EndAbort: false, EndRollback: false, EndRollback + 1: true} {
		p, err := appendPayload(nil, &Record{Kind: KindMigrateEnd, Conn: 2, Assets: []string{"1001"}, End: end})
		if err != nil {
			t.Fatal(err)
		}
		var got Record
		got.Kind = KindMigrateEnd
		err = decodePayload(&got, p)
		if damaged != (err != nil) {
			t.Errorf("end %d: decodePayload() = %v; want damaged %v", end, err, damaged)
		}
		if !damaged && got.End != end {
			t.Errorf("end %d decoded as %d", end, got.End)
		}
	}
}

// TestReaderRecordsAroundItsBuffer: records shorter than the reader's
// read-ahead buffer are decoded in place and longer ones copied; frames on
// either side of that length, and of a whole buffer, read back byte for
// byte, each valid until the next call.
func TestReaderRecordsAroundItsBuffer(t *testing.T) {
	dir := t.TempDir()
	w := startWriter(t, Config{Dir: dir})
	sizes := []int{1, 100, streamBuffer - 8, streamBuffer - 1, streamBuffer, streamBuffer + 1, 3 * streamBuffer, 5 << 20, 7, streamBuffer/2 + 3, streamBuffer/2 + 5, 2}
	frame := func(i, n int) []byte {
		b := make([]byte, n)
		for k := range b {
			b[k] = byte('a' + (i*7+k*13)%26)
		}
		return b
	}
	base := time.Now().UnixNano()
	for i, n := range sizes {
		w.OnFrame(1, frame(i, n), base+int64(i))
	}
	if err := w.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, err := Open(dir, 0, 0, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	i := 0
	for rec, err := range r.All() {
		if err != nil {
			t.Fatal(err)
		}
		if rec.Kind != KindFrame {
			continue
		}
		if i >= len(sizes) {
			t.Fatalf("more frames than the %d written", len(sizes))
		}
		if want := frame(i, sizes[i]); !bytes.Equal(rec.Frame, want) || rec.Time != base+int64(i) {
			t.Fatalf("frame %d: %d bytes, time %d; want %d bytes, time %d, equal", i, len(rec.Frame), rec.Time, len(want), base+int64(i))
		}
		i++
	}
	if i != len(sizes) || r.Stats().Truncated != 0 {
		t.Fatalf("read %d frames (truncated files %d); want %d", i, r.Stats().Truncated, len(sizes))
	}
}

// TestReaderAllStopsAtAnError: All yields the records in order, and a file that
// cannot be opened (removed after Open listed it) is yielded once as an error,
// with a nil record, after which the range ends.
func TestReaderAllStopsAtAnError(t *testing.T) {
	dir := t.TempDir()
	w := startWriter(t, Config{Dir: dir})
	base := time.Now().UnixNano()
	for i := range 10 {
		w.OnFrame(1, []byte(fmt.Sprintf(`{"n":%d}`, i)), base+int64(i))
	}
	if err := w.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, err := Open(dir, 0, 0, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if len(r.Files()) == 0 {
		t.Fatal("no recording file")
	}
	for _, f := range r.Files() {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	var yields, errs int
	for rec, err := range r.All() {
		yields++
		if err != nil {
			errs++
			if rec != nil {
				t.Errorf("error %v came with a record", err)
			}
		}
	}
	if yields != 1 || errs != 1 {
		t.Errorf("All yielded %d times, %d errors; want one error, then the end", yields, errs)
	}
}
