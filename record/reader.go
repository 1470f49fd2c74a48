package record

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"os"
	"slices"

	"github.com/klauspost/compress/zstd"
)

// ReaderStats counts what a Reader went through.
type ReaderStats struct {
	// Files were opened; Truncated of them ended early (a killed writer, a
	// damaged file) and were read up to the damage.
	Files, Truncated int
	// Records were returned; Unknown were of a kind this version does not
	// know, skipped.
	Records, Unknown uint64
}

// Reader returns the records of a recording in order. Not safe for
// concurrent use.
type Reader struct {
	files    []fileInfo
	next     int
	from, to int64
	log      *slog.Logger

	dec    *zstd.Decoder
	f      *os.File
	stream *stream
	st     ReaderStats
	rec    Record
}

// Open reads the recording in dir from from to to (Unix ns, inclusive; 0
// means unbounded). Records before from are skipped, except Session and
// Listing records, which carry the state a consumer needs at from. logger
// may be nil.
func Open(dir string, from, to int64, logger *slog.Logger) (*Reader, error) {
	if logger == nil {
		logger = slog.Default()
	}
	files, err := listFiles(dir)
	if err != nil {
		return nil, err
	}
	// A file holds records from its start up to the next file's start: the
	// files entirely before from and after to need no reading.
	first := 0
	for first+1 < len(files) && from > 0 && files[first+1].start <= from {
		first++
	}
	last := len(files)
	for to > 0 && last > first && files[last-1].start > to {
		last--
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(readerConcurrency), zstd.WithDecoderMaxMemory(256<<20), zstd.WithDecoderMaxWindow(64<<20))
	if err != nil {
		return nil, fmt.Errorf("cannot create decompressor: %w", err)
	}
	return &Reader{files: files[first:last], from: from, to: to, log: logger, dec: dec}, nil
}

// Files returns the paths the reader will read, in order.
func (r *Reader) Files() []string {
	out := make([]string, len(r.files))
	for i, f := range r.files {
		out[i] = f.path
	}
	return out
}

// Next returns the next record, or io.EOF after the last. The record and
// its slices are valid until the next call.
func (r *Reader) Next() (*Record, error) {
	for {
		if r.stream == nil {
			if r.next >= len(r.files) {
				return nil, io.EOF
			}
			if err := r.openNext(); err != nil {
				return nil, err
			}
			continue
		}
		err := r.stream.next(&r.rec)
		switch {
		case err == io.EOF:
			r.closeFile()
			continue
		case errors.Is(err, errUnknownKind):
			r.st.Unknown++
			continue
		case err != nil:
			r.st.Truncated++
			r.log.Warn("recording file ends early; reading on with the next", "file", r.files[r.next-1].path, "err", err)
			r.closeFile()
			continue
		}
		k := r.rec.Kind
		if r.from > 0 && r.rec.Time < r.from && k != KindSession && k != KindListing {
			continue
		}
		if r.to > 0 && r.rec.Time > r.to {
			continue
		}
		r.st.Records++
		return &r.rec, nil
	}
}

// All ranges over the records left, in order, as Next returns them: it ends
// after the last record, or after yielding an error with a nil record. Each
// record and its slices are valid until the next iteration.
//
//	for rec, err := range r.All() {
//		if err != nil { ... }
//		...
//	}
func (r *Reader) All() iter.Seq2[*Record, error] {
	return func(yield func(*Record, error) bool) {
		for {
			rec, err := r.Next()
			if err == io.EOF {
				return
			}
			if !yield(rec, err) || err != nil {
				return
			}
		}
	}
}

func (r *Reader) openNext() error {
	fi := r.files[r.next]
	r.next++
	f, err := os.Open(fi.path)
	if err != nil {
		return fmt.Errorf("cannot open recording file: %w", err)
	}
	if err := r.dec.Reset(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("cannot read recording file %s: %w", fi.path, err)
	}
	r.f = f
	r.st.Files++
	s, err := newStream(r.dec)
	if err != nil {
		r.st.Truncated++
		r.log.Warn("recording file unreadable; skipped", "file", fi.path, "err", err)
		r.closeFile()
		return nil
	}
	r.stream = s
	return nil
}

func (r *Reader) closeFile() {
	if r.f != nil {
		_ = r.f.Close()
		r.f = nil
	}
	r.stream = nil
}

// Stats returns what the reader went through so far.
func (r *Reader) Stats() ReaderStats { return r.st }

// Close releases the open file and the decompressor.
func (r *Reader) Close() error {
	r.closeFile()
	r.dec.Close()
	return nil
}

// errUnknownKind: a record of a newer kind, skipped whole.
var errUnknownKind = errors.New("unknown record kind")

// stream decodes the records of one decompressed file stream.
type stream struct {
	br *bufio.Reader
	// body holds a record longer than br's buffer; shorter ones are
	// decoded in place (Peek), without a copy.
	body []byte
	// consumed is what the record last returned still holds of br's
	// buffer: discarded at the next call, so the record stays valid until
	// then.
	consumed int
	lastT    int64
}

// streamBuffer is the decompressed bytes a stream reads ahead; records up
// to this long are decoded in place.
const streamBuffer = 256 << 10

// newStream checks the magic and the version.
func newStream(r io.Reader) (*stream, error) {
	br := bufio.NewReaderSize(r, streamBuffer)
	head := make([]byte, len(magic)+1)
	if _, err := io.ReadFull(br, head); err != nil {
		return nil, fmt.Errorf("cannot read header: %w", err)
	}
	if string(head[:len(magic)]) != magic {
		return nil, errors.New("not a recording file")
	}
	if v := head[len(magic)]; v == 0 || v > Version {
		return nil, fmt.Errorf("unsupported format version %d (this build reads up to %d)", v, Version)
	}
	return &stream{br: br}, nil
}

// next decodes one record into rec. io.EOF: the stream ended cleanly at a
// record boundary. Any other error: the stream is damaged or cut here.
func (s *stream) next(rec *Record) error {
	if s.consumed > 0 {
		_, _ = s.br.Discard(s.consumed) // peeked before: always there
		s.consumed = 0
	}
	n, err := binary.ReadUvarint(s.br)
	if err == io.EOF {
		return io.EOF
	}
	if err != nil {
		return fmt.Errorf("cannot read record length: %w", err)
	}
	if n < 2 || n > maxBody {
		return fmt.Errorf("cannot read record: length %d: %w", n, errDamaged)
	}
	var body []byte
	if n <= streamBuffer {
		// The common case: decode where the decompressor put it.
		body, err = s.br.Peek(int(n))
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("cannot read record: %w", err)
		}
		s.consumed = int(n)
	} else if body, err = s.readLong(int(n)); err != nil {
		return err
	}
	d := decoder{b: body}
	kind := Kind(d.byte1())
	dt := d.varint()
	if d.err != nil {
		return fmt.Errorf("cannot read record header: %w", d.err)
	}
	s.lastT += dt
	assets := rec.Assets
	*rec = Record{Kind: kind, Time: s.lastT, Assets: assets[:0]}
	if kind == 0 || int(kind) >= len(kindNames) {
		return errUnknownKind
	}
	if err := decodePayload(rec, d.b); err != nil {
		return fmt.Errorf("cannot decode %s record: %w", kind, err)
	}
	return nil
}

// readLong copies a record longer than the read-ahead buffer into body,
// growing it in steps: a damaged length must not allocate what the file
// does not hold.
func (s *stream) readLong(n int) ([]byte, error) {
	s.body = s.body[:0]
	for rem := n; rem > 0; {
		step := min(rem, 1<<20)
		s.body = slices.Grow(s.body, step)
		m, err := io.ReadFull(s.br, s.body[len(s.body):len(s.body)+step])
		s.body = s.body[:len(s.body)+m]
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("cannot read record: %w", err)
		}
		rem -= step
	}
	return s.body, nil
}

// readerConcurrency 1 decodes synchronously, on the consumer's goroutine
// inside Read. A replay's consumer waits on the engine's router most of the
// time, so the decoding fits in those waits; the asynchronous stream
// decoder (2 and more) added goroutine hand-offs per block and cost more
// CPU per event for no faster replay (BenchmarkReplay, PERFORMANCE.md).
const readerConcurrency = 1
