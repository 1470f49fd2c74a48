package record

import (
	"encoding/binary"
	"sync"
)

// buffer is the bounded hand-off between the callers of the Writer's On*
// methods (socket readers, among others) and the writer goroutine.
//
// Why an arena and not a channel: a frame's bytes must be copied out of the
// socket's reused read buffer anyway, so producers append whole entries to
// one preallocated arena under a short mutex (one lock per frame) and the
// writer swaps it for its spare. Nothing allocates in steady state and no
// producer ever waits for the disk. A full arena drops the entry and counts
// it; the writer turns the count into a Gap record at the place of the loss.
//
// An entry is uvarint(len(body)) then body = kind, time (8 bytes little
// endian, Unix ns) and the kind's payload as the files carry it.
type buffer struct {
	mu     sync.Mutex
	cur    []byte
	spare  []byte // writer goroutine only, between swaps
	limit  int
	closed bool
	// Losses since the last swap, handed to the writer with the batch.
	lost, lostBytes uint64
}

func newBuffer(limit int) *buffer {
	return &buffer{cur: make([]byte, 0, limit), spare: make([]byte, 0, limit), limit: limit}
}

// putFrame appends a frame entry, or drops and counts it. // hot path
func (b *buffer) putFrame(conn int64, frame []byte, t int64) bool {
	body := 1 + 8 + uvarintLen(uint64(conn)) + len(frame)
	need := uvarintLen(uint64(body)) + body
	b.mu.Lock()
	if b.closed || len(b.cur)+need > b.limit {
		b.lost++
		b.lostBytes += uint64(len(frame))
		b.mu.Unlock()
		return false
	}
	c := binary.AppendUvarint(b.cur, uint64(body))
	c = append(c, byte(KindFrame))
	c = binary.LittleEndian.AppendUint64(c, uint64(t))
	c = binary.AppendUvarint(c, uint64(conn))
	b.cur = append(c, frame...)
	b.mu.Unlock()
	return true
}

// putEntry appends an encoded entry (see encodeEntry), or drops and counts it.
func (b *buffer) putEntry(e []byte) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || len(b.cur)+len(e) > b.limit {
		b.lost++
		b.lostBytes += uint64(len(e))
		return false
	}
	b.cur = append(b.cur, e...)
	return true
}

// encodeEntry encodes r as a buffer entry.
func encodeEntry(r *Record) ([]byte, error) {
	p, err := appendPayload(make([]byte, 0, 64), r)
	if err != nil {
		return nil, err
	}
	body := 1 + 8 + len(p)
	e := make([]byte, 0, uvarintLen(uint64(body))+body)
	e = binary.AppendUvarint(e, uint64(body))
	e = append(e, byte(r.Kind))
	e = binary.LittleEndian.AppendUint64(e, uint64(r.Time))
	return append(e, p...), nil
}

// swap takes everything queued and the losses since the last swap. The
// caller gives the batch back with release once it has been written.
func (b *buffer) swap() (batch []byte, lost, lostBytes uint64) {
	b.mu.Lock()
	batch, b.cur = b.cur, b.spare[:0]
	b.spare = nil
	lost, lostBytes = b.lost, b.lostBytes
	b.lost, b.lostBytes = 0, 0
	b.mu.Unlock()
	return batch, lost, lostBytes
}

// release hands a written batch back as the next spare.
func (b *buffer) release(batch []byte) { b.spare = batch[:0] }

// close makes every later put a counted drop.
func (b *buffer) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
}

// nextEntry splits the first entry off a batch.
func nextEntry(batch []byte) (kind Kind, t int64, payload, rest []byte, ok bool) {
	n, k := binary.Uvarint(batch)
	if k <= 0 || n < 9 || uint64(len(batch)-k) < n {
		return 0, 0, nil, nil, false
	}
	body := batch[k : k+int(n)]
	return Kind(body[0]), int64(binary.LittleEndian.Uint64(body[1:9])), body[9:], batch[k+int(n):], true
}
