package record

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Defaults of Config.
const (
	DefaultMaxFileBytes  = 256 << 20
	DefaultBufferBytes   = 64 << 20
	DefaultFlushInterval = 500 * time.Millisecond
	// batchInterval is how often the writer takes what the buffer holds
	// (FlushInterval when that is shorter). Fewer, larger takes cost less
	// CPU per record: three polyfeed processes recording the same feed at
	// once, 20, 50 and 200 ms, used 1,551–1,755, 1,531–1,634 and 1,342–1,548
	// ms of CPU over 40 s at 2,000 msg/s (PERFORMANCE.md, "Recording"). The
	// flush rule in run keeps a killed process's loss within FlushInterval
	// whatever this is.
	batchInterval = 200 * time.Millisecond
)

// Config configures a Writer.
type Config struct {
	// Dir is the recording's directory; created if missing. Required.
	Dir string
	// MaxFileBytes rotates a file once its compressed size reaches this.
	// Files also rotate at every UTC hour. Default DefaultMaxFileBytes.
	MaxFileBytes int64
	// Keep deletes the oldest files beyond an age or a total size, checked
	// at start and at every rotation. Zero: keep everything.
	Keep Keep
	// BufferBytes bounds what waits for the writer goroutine (two arenas of
	// half this each). Default DefaultBufferBytes: seconds of a busy feed.
	BufferBytes int
	// FlushInterval is the longest a record stays in the compressor before
	// it reaches the file: what a killed process can lose. Default
	// DefaultFlushInterval; at most 1 s.
	FlushInterval time.Duration
	// Level is the zstd level. Default zstd.SpeedFastest.
	Level zstd.EncoderLevel
	// Create opens a new file for writing; tests inject failures through
	// it. Default: os.OpenFile(path, O_WRONLY|O_CREATE|O_EXCL, 0o644).
	Create func(path string) (io.WriteCloser, error)
	// Logger receives file and error logs (never per record). Default
	// slog.Default().
	Logger *slog.Logger
}

func (c *Config) fill() error {
	if c.Dir == "" {
		return errors.New("cannot configure recorder: no directory")
	}
	if c.MaxFileBytes <= 0 {
		c.MaxFileBytes = DefaultMaxFileBytes
	}
	if c.BufferBytes <= 0 {
		c.BufferBytes = DefaultBufferBytes
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	c.FlushInterval = min(c.FlushInterval, time.Second)
	if c.Level == 0 {
		c.Level = zstd.SpeedFastest
	}
	if c.Create == nil {
		c.Create = func(path string) (io.WriteCloser, error) {
			return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Stats is a point-in-time copy of a Writer's counters.
type Stats struct {
	// Recording is false once a write error stopped the recording, and
	// before Start and after Stop.
	Recording bool `json:"recording"`
	// Dir and File are the recording and the file being written.
	Dir  string `json:"dir"`
	File string `json:"file,omitempty"`
	// Records and Frames were written; Bytes is their uncompressed size and
	// FileBytes what reached the files (compressed).
	Records   uint64 `json:"records"`
	Frames    uint64 `json:"frames"`
	Bytes     uint64 `json:"bytes"`
	FileBytes uint64 `json:"file_bytes"`
	// Dropped records (DroppedBytes bytes) were lost to a full buffer or a
	// stopped recording; Gaps counts the Gap records written for them.
	Dropped      uint64 `json:"dropped"`
	DroppedBytes uint64 `json:"dropped_bytes"`
	Gaps         uint64 `json:"gaps"`
	// Files were opened; Deleted were removed by retention.
	Files   uint64 `json:"files"`
	Deleted uint64 `json:"deleted"`
	// WriteErrors counts write, flush and create failures; Error is the one
	// that stopped the recording.
	WriteErrors uint64 `json:"write_errors"`
	Error       string `json:"error,omitempty"`
}

// Writer appends records to a recording. See the package doc for its
// contract.
type Writer struct {
	cfg     Config
	log     *slog.Logger
	buf     *buffer
	session uint64

	lifeMu  sync.Mutex
	running atomic.Bool
	stop    chan struct{}
	done    chan struct{}

	// Writer goroutine state.
	enc       *zstd.Encoder
	file      io.WriteCloser
	cw        countingWriter
	path      string
	hourEnd   int64 // Unix ns at which the current file's hour ends
	lastT     int64 // time of the previous record in the current file
	lastFlush time.Time
	scratch   []byte
	listing   []byte // payload of the last listing, repeated at each file start
	dirty     bool   // written since the last flush

	curFile      atomic.Pointer[string]
	failed       atomic.Pointer[string]
	records      atomic.Uint64
	frames       atomic.Uint64
	bytes        atomic.Uint64
	fileBytes    atomic.Uint64
	dropped      atomic.Uint64
	droppedBytes atomic.Uint64
	gaps         atomic.Uint64
	files        atomic.Uint64
	deleted      atomic.Uint64
	writeErrors  atomic.Uint64
}

// New returns a Writer that is not started yet.
func New(cfg Config) (*Writer, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	return &Writer{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "recorder"),
		buf:     newBuffer(cfg.BufferBytes / 2),
		session: rand.Uint64(),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}, nil
}

// Start creates the directory, applies the retention limit once and starts
// the writer goroutine.
func (w *Writer) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cannot start recorder: %w", err)
	}
	w.lifeMu.Lock()
	defer w.lifeMu.Unlock()
	if w.enc != nil || w.running.Load() {
		return errors.New("cannot start recorder: already started")
	}
	if err := os.MkdirAll(w.cfg.Dir, 0o755); err != nil {
		return fmt.Errorf("cannot create recording directory: %w", err)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(w.cfg.Level), zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(1<<20), zstd.WithEncoderCRC(true))
	if err != nil {
		return fmt.Errorf("cannot create compressor: %w", err)
	}
	w.enc = enc
	w.pruneOld()
	w.running.Store(true)
	go w.run()
	w.log.Info("recording", "dir", w.cfg.Dir, "max_file_bytes", w.cfg.MaxFileBytes, "keep", w.cfg.Keep.String())
	return nil
}

// Stop writes what is buffered, closes the file and waits for the writer
// goroutine, or returns ctx's error if that takes too long. Idempotent.
func (w *Writer) Stop(ctx context.Context) error {
	w.lifeMu.Lock()
	defer w.lifeMu.Unlock()
	if w.enc == nil {
		return nil
	}
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cannot stop recorder: %w", ctx.Err())
	}
}

// OnFrame records a raw frame connection conn received at recvUnixNanos.
// It copies frame and returns at once. // hot path
func (w *Writer) OnFrame(conn int64, frame []byte, recvUnixNanos int64) {
	w.buf.putFrame(conn, frame, recvUnixNanos)
}

// OnOpen records that connection conn opened a socket to url.
func (w *Writer) OnOpen(conn int64, url string) {
	w.put(&Record{Kind: KindOpen, Conn: conn, URL: url})
}

// OnSubscribe records a subscribe sent on connection conn; initial for a
// socket's first, whole-set subscribe.
func (w *Writer) OnSubscribe(conn int64, assets []string, initial bool) {
	w.put(&Record{Kind: KindSubscribe, Conn: conn, Assets: assets, Initial: initial})
}

// OnUnsubscribe records an unsubscribe sent on connection conn.
func (w *Writer) OnUnsubscribe(conn int64, assets []string) {
	w.put(&Record{Kind: KindUnsubscribe, Conn: conn, Assets: assets})
}

// OnClose records that connection conn's socket went away (not by a stop).
func (w *Writer) OnClose(conn int64, code uint16, reason string) {
	w.put(&Record{Kind: KindClose, Conn: conn, Code: code, Reason: reason})
}

// OnListing records a market listing.
func (w *Writer) OnListing(markets []Market, complete bool) {
	w.put(&Record{Kind: KindListing, Markets: markets, Complete: complete})
}

// OnDrop records that the engine forgot the books of assets.
func (w *Writer) OnDrop(assets []string) {
	w.put(&Record{Kind: KindDrop, Assets: assets})
}

// OnMigrate records that the engine began moving assets off connection from.
func (w *Writer) OnMigrate(from int64, assets []string) {
	w.put(&Record{Kind: KindMigrate, Conn: from, Assets: assets})
}

// OnMigrateEnd records the end of a move off connection from.
func (w *Writer) OnMigrateEnd(from int64, assets []string, end MigrationEnd) {
	w.put(&Record{Kind: KindMigrateEnd, Conn: from, Assets: assets, End: end})
}

// Mark records a label, for finding a moment of the recording again.
func (w *Writer) Mark(label string) {
	w.put(&Record{Kind: KindMark, Label: label})
}

// put queues a rare record, stamped now.
func (w *Writer) put(r *Record) {
	r.Time = time.Now().UnixNano()
	e, err := encodeEntry(r)
	if err != nil {
		w.writeErrors.Add(1)
		return
	}
	w.buf.putEntry(e)
}

// Stats returns the counters.
func (w *Writer) Stats() Stats {
	s := Stats{
		Recording: w.running.Load() && w.failed.Load() == nil,
		Dir:       w.cfg.Dir,
		Records:   w.records.Load(), Frames: w.frames.Load(), Bytes: w.bytes.Load(), FileBytes: w.fileBytes.Load(),
		Dropped: w.dropped.Load(), DroppedBytes: w.droppedBytes.Load(), Gaps: w.gaps.Load(),
		Files: w.files.Load(), Deleted: w.deleted.Load(), WriteErrors: w.writeErrors.Load(),
	}
	if p := w.curFile.Load(); p != nil {
		s.File = *p
	}
	if e := w.failed.Load(); e != nil {
		s.Error = *e
	}
	return s
}

// Health returns why the recording stopped, or nil while it records.
func (w *Writer) Health() error {
	if e := w.failed.Load(); e != nil {
		return errors.New(*e)
	}
	return nil
}

// run is the writer goroutine.
func (w *Writer) run() {
	defer close(w.done)
	defer w.running.Store(false)
	every := min(batchInterval, w.cfg.FlushInterval)
	tick := time.NewTicker(every)
	defer tick.Stop()
	w.lastFlush = time.Now()
	for {
		select {
		case <-w.stop:
			w.buf.close()
			w.drain()
			w.closeFile()
			return
		case <-tick.C:
			w.drain()
			// Flush at the last tick before FlushInterval is up: a record
			// taken at any tick then waits at most FlushInterval in the
			// compressor, counted from when it arrived.
			if w.dirty && time.Since(w.lastFlush) >= w.cfg.FlushInterval-every {
				w.flush()
			}
		}
	}
}

// drain writes everything buffered, then a Gap record for what was lost.
func (w *Writer) drain() {
	batch, lost, lostBytes := w.buf.swap()
	rest := batch
	for len(rest) > 0 {
		kind, t, payload, next, ok := nextEntry(rest)
		if !ok {
			break // cannot happen: the buffer writes whole entries
		}
		rest = next
		w.write(kind, t, payload)
	}
	w.buf.release(batch)
	if lost > 0 {
		w.dropped.Add(lost)
		w.droppedBytes.Add(lostBytes)
		if w.failed.Load() == nil {
			g := binary.AppendUvarint(nil, lost)
			g = binary.AppendUvarint(g, lostBytes)
			w.write(KindGap, max(w.lastT, time.Now().UnixNano()), g)
			w.gaps.Add(1)
		}
	}
}

// write appends one record to the current file, rotating first when due.
func (w *Writer) write(kind Kind, t int64, payload []byte) {
	if w.failed.Load() != nil {
		w.dropped.Add(1)
		w.droppedBytes.Add(uint64(len(payload)))
		return
	}
	if w.file == nil || t >= w.hourEnd || w.cw.n >= w.cfg.MaxFileBytes {
		if !w.rotate(t) {
			w.dropped.Add(1)
			return
		}
	}
	w.encode(kind, t, payload)
	if kind == KindListing {
		w.listing = append(w.listing[:0], payload...)
	}
	w.records.Add(1)
	if kind == KindFrame {
		w.frames.Add(1)
	}
}

// encode writes a record's file form: uvarint(len(body)), body = kind,
// zigzag varint time delta, payload. The payload goes to the compressor
// from where it is (the batch), not through a copy.
func (w *Writer) encode(kind Kind, t int64, payload []byte) {
	dt := t - w.lastT
	w.lastT = t
	body := 1 + varintLen(dt) + len(payload)
	b := binary.AppendUvarint(w.scratch[:0], uint64(body))
	b = append(b, byte(kind))
	b = binary.AppendVarint(b, dt)
	w.scratch = b[:0]
	if _, err := w.enc.Write(b); err != nil {
		w.fail(fmt.Errorf("cannot write %s: %w", w.path, err))
		return
	}
	if _, err := w.enc.Write(payload); err != nil {
		w.fail(fmt.Errorf("cannot write %s: %w", w.path, err))
		return
	}
	w.bytes.Add(uint64(len(b) + len(payload)))
	w.dirty = true
}

func varintLen(v int64) int {
	u := uint64(v) << 1
	if v < 0 {
		u = ^u
	}
	return uvarintLen(u)
}

// rotate closes the current file and opens the next one, named after t.
func (w *Writer) rotate(t int64) bool {
	w.closeFile()
	if w.failed.Load() != nil {
		return false
	}
	path := fileName(w.cfg.Dir, t)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		w.fail(fmt.Errorf("cannot create recording day folder: %w", err))
		return false
	}
	f, err := w.cfg.Create(path)
	for i := 1; err != nil && errors.Is(err, os.ErrExist) && i < 1000; i++ {
		path = fileName(w.cfg.Dir, t+int64(i)) // two files started in the same nanosecond
		f, err = w.cfg.Create(path)
	}
	if err != nil {
		w.fail(fmt.Errorf("cannot create recording file: %w", err))
		return false
	}
	w.file, w.path = f, path
	w.cw = countingWriter{w: f, added: &w.fileBytes}
	w.enc.Reset(&w.cw)
	w.lastT = 0
	hour := time.Unix(0, t).UTC().Truncate(time.Hour)
	w.hourEnd = hour.Add(time.Hour).UnixNano()
	w.files.Add(1)
	w.curFile.Store(&path)

	head := append([]byte(magic), Version)
	if _, err := w.enc.Write(head); err != nil {
		w.fail(fmt.Errorf("cannot write %s: %w", path, err))
		return false
	}
	w.encode(KindSession, t, binary.AppendUvarint(nil, w.session))
	if len(w.listing) > 0 {
		// Each file carries the listing in force, so it stands on its own.
		w.encode(KindListing, t, w.listing)
	}
	w.pruneOld()
	return w.failed.Load() == nil
}

// flush pushes the compressor's pending block to the file.
func (w *Writer) flush() {
	w.lastFlush = time.Now()
	w.dirty = false
	if w.file == nil || w.failed.Load() != nil {
		return
	}
	if err := w.enc.Flush(); err != nil {
		w.fail(fmt.Errorf("cannot flush %s: %w", w.path, err))
	}
}

// closeFile ends the zstd frame and closes the file.
func (w *Writer) closeFile() {
	if w.file == nil {
		return
	}
	var err error
	if w.failed.Load() == nil {
		err = w.enc.Close()
	}
	err = errors.Join(err, w.file.Close())
	w.file = nil
	w.curFile.Store(nil)
	if err != nil && w.failed.Load() == nil {
		w.fail(fmt.Errorf("cannot close %s: %w", w.path, err))
	}
}

// fail stops the recording for good: the engine goes on without it.
func (w *Writer) fail(err error) {
	w.writeErrors.Add(1)
	msg := err.Error()
	if !w.failed.CompareAndSwap(nil, &msg) {
		return
	}
	w.buf.close()
	w.log.Error("recording stopped; the engine goes on without it", "err", err)
	if w.file != nil {
		_ = w.file.Close()
		w.file = nil
		w.curFile.Store(nil)
	}
}

// pruneOld applies the retention limit.
func (w *Writer) pruneOld() {
	n, err := prune(w.cfg.Dir, w.cfg.Keep, w.path, time.Now())
	w.deleted.Add(uint64(n))
	if err != nil {
		w.log.Warn("cannot apply recording retention", "err", err)
	}
}

// countingWriter counts the bytes that reached the file.
type countingWriter struct {
	w     io.Writer
	n     int64
	added *atomic.Uint64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.added.Add(uint64(n))
	return n, err
}
