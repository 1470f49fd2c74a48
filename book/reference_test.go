package book_test

import (
	"encoding/binary"
	"errors"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/fixed"
)

// refBook is the obviously correct model the fuzz test holds Book to: a map
// of price to size per side, sorted only when read.
type refBook struct {
	sides [2]map[fixed.Point]fixed.Point
	valid bool
}

func newRef() *refBook {
	return &refBook{sides: [2]map[fixed.Point]fixed.Point{{}, {}}}
}

func (r *refBook) set(side book.Side, price, size fixed.Point) (error, bool) {
	switch {
	case side > book.Ask:
		return book.ErrSide, false
	case price <= 0:
		return book.ErrPrice, false
	case size < 0:
		return book.ErrSize, false
	}
	m := r.sides[side]
	old, had := m[price]
	if size == 0 {
		delete(m, price)
		return nil, had
	}
	m[price] = size
	return nil, !had || old != size
}

func (r *refBook) snapshot(bids, asks []book.Level) (rejected int) {
	r.sides = [2]map[fixed.Point]fixed.Point{{}, {}}
	for side, in := range [][]book.Level{bids, asks} {
		for _, l := range in {
			if err, _ := r.set(book.Side(side), l.Price, l.Size); err != nil {
				rejected++
			}
		}
	}
	r.valid = true
	return rejected
}

// levels returns side best first.
func (r *refBook) levels(side book.Side) []book.Level {
	var out []book.Level
	for p, s := range r.sides[side] {
		out = append(out, book.Level{Price: p, Size: s})
	}
	slices.SortFunc(out, func(x, y book.Level) int {
		if side == book.Bid {
			return cmpPoint(y.Price, x.Price)
		}
		return cmpPoint(x.Price, y.Price)
	})
	return out
}

func cmpPoint(x, y fixed.Point) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// opReader decodes a sequence of book operations from fuzz bytes. Prices
// mostly come from a small grid so that updates hit existing levels, with
// zero, negative and extreme values mixed in.
type opReader struct{ data []byte }

func (o *opReader) byte() byte {
	if len(o.data) == 0 {
		return 0
	}
	c := o.data[0]
	o.data = o.data[1:]
	return c
}

func (o *opReader) int64() int64 {
	var buf [8]byte
	for i := range buf {
		buf[i] = o.byte()
	}
	return int64(binary.LittleEndian.Uint64(buf[:]))
}

func (o *opReader) price() fixed.Point {
	switch m := o.byte(); m % 10 {
	case 0:
		return 0
	case 1:
		return -fixed.Point(o.byte())
	case 2:
		return fixed.Point(o.int64())
	case 3:
		return fixed.Max - fixed.Point(o.byte())
	case 4:
		return fixed.Point(o.byte()) + 1 // millionths
	default:
		return fixed.Point(o.byte()%40+1) * 10_000 // 0.01 .. 0.40
	}
}

func (o *opReader) size() fixed.Point {
	switch m := o.byte(); m % 8 {
	case 0, 1:
		return 0
	case 2:
		return -fixed.Point(o.byte()%3 + 1)
	case 3:
		return fixed.Point(o.int64())
	default:
		return fixed.Point(o.byte()%4+1) * fixed.Scale
	}
}

func (o *opReader) side() book.Side {
	c := o.byte()
	if c == 0xff {
		return book.Side(2 + c%3) // rarely an invalid side
	}
	return book.Side(c & 1)
}

func (o *opReader) levels() []book.Level {
	n := int(o.byte() % 24)
	out := make([]book.Level, n)
	for i := range out {
		out[i] = book.Level{Price: o.price(), Size: o.size()}
	}
	switch o.byte() % 4 { // mostly the orders the venue and its docs use
	case 0:
		slices.SortStableFunc(out, func(x, y book.Level) int { return cmpPoint(x.Price, y.Price) })
	case 1:
		slices.SortStableFunc(out, func(x, y book.Level) int { return cmpPoint(y.Price, x.Price) })
	}
	return out
}

// runOps applies the operations encoded in data to a Book and to the
// reference, comparing them after every operation.
func runOps(t *testing.T, data []byte) {
	b := book.New("asset")
	r := newRef()
	o := &opReader{data: data}
	var buf []book.Level
	for step := 0; len(o.data) > 0; step++ {
		seq := b.Seq()
		var op string
		switch c := o.byte(); c % 12 {
		case 8, 9:
			op = "ApplySnapshot"
			bids, asks := o.levels(), o.levels()
			want := r.snapshot(bids, asks)
			if got := b.ApplySnapshot(bids, asks, int64(step)); got != want {
				t.Fatalf("step %d: ApplySnapshot(%v, %v) rejected %d; want %d", step, bids, asks, got, want)
			}
			if b.Seq() <= seq {
				t.Fatalf("step %d: ApplySnapshot did not move Seq", step)
			}
		case 10:
			op = "Invalidate"
			b.Invalidate()
			r.valid = false
		case 11:
			op = "Reset"
			b.Reset()
			r.sides = [2]map[fixed.Point]fixed.Point{{}, {}}
			r.valid = false
		default:
			side, price, size := o.side(), o.price(), o.size()
			op = "Set"
			wantErr, changed := r.set(side, price, size)
			if err := b.Set(side, price, size); !errors.Is(err, wantErr) || (err == nil) != (wantErr == nil) {
				t.Fatalf("step %d: Set(%v, %v, %v) = %v; want %v", step, side, price, size, err, wantErr)
			}
			if moved := b.Seq() != seq; moved != changed {
				t.Fatalf("step %d: Set(%v, %v, %v) moved Seq %v; book changed %v", step, side, price, size, moved, changed)
			}
		}
		if b.Seq() < seq {
			t.Fatalf("step %d: %s moved Seq back from %d to %d", step, op, seq, b.Seq())
		}
		compare(t, step, op, b, r, &buf)
	}
}

func compare(t *testing.T, step int, op string, b *book.Book, r *refBook, buf *[]book.Level) {
	t.Helper()
	if b.Valid() != r.valid {
		t.Fatalf("step %d (%s): Valid() = %v; want %v", step, op, b.Valid(), r.valid)
	}
	var best [2]book.Level
	var has [2]bool
	for _, side := range []book.Side{book.Bid, book.Ask} {
		want := r.levels(side)
		*buf = b.Levels(side, (*buf)[:0])
		if !slices.Equal(*buf, want) {
			t.Fatalf("step %d (%s): Levels(%v) = %v; want %v", step, op, side, *buf, want)
		}
		if got := b.Depth(side); got != len(want) {
			t.Fatalf("step %d (%s): Depth(%v) = %d; want %d", step, op, side, got, len(want))
		}
		l, ok := b.Best(side)
		if ok != (len(want) > 0) || (ok && l != want[0]) {
			t.Fatalf("step %d (%s): Best(%v) = %v, %v; want %v", step, op, side, l, ok, want)
		}
		best[side], has[side] = l, ok
	}
	both := has[book.Bid] && has[book.Ask]
	bid, ask := best[book.Bid].Price, best[book.Ask].Price
	if s, ok := b.Spread(); ok != both || (ok && s != ask-bid) {
		t.Fatalf("step %d (%s): Spread() = %v, %v; best %v / %v", step, op, s, ok, best, has)
	}
	if m, ok := b.Mid(); ok != both || (ok && m != refMid(bid, ask)) {
		t.Fatalf("step %d (%s): Mid() = %v, %v; want %v", step, op, m, ok, refMid(bid, ask))
	}
	if got, want := b.Crossed(), both && bid >= ask; got != want {
		t.Fatalf("step %d (%s): Crossed() = %v; want %v", step, op, got, want)
	}
	if !b.MatchesBest(bid, ask) { // zero Level price stands for an empty side
		t.Fatalf("step %d (%s): MatchesBest(own best %v / %v) = false", step, op, bid, ask)
	}
	if has[book.Bid] && b.MatchesBest(bid+1, ask) {
		t.Fatalf("step %d (%s): MatchesBest(wrong bid) = true", step, op)
	}
}

// refMid is floor((bid+ask)/2) computed without overflow.
func refMid(bid, ask fixed.Point) fixed.Point {
	s := new(big.Int).Add(big.NewInt(int64(bid)), big.NewInt(int64(ask)))
	return fixed.Point(s.Rsh(s, 1).Int64())
}

func FuzzAgainstReference(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 5, 3, 4, 2, 1, 5, 3, 4, 2, 0, 5, 3, 4, 0}) // sets on a small grid
	f.Add([]byte{8, 5, 5, 1, 5, 4, 5, 2, 5, 3, 5, 1, 5, 2, 1, 3, 5, 9, 5, 4, 5, 7, 2, 3})
	f.Add([]byte{0, 1, 3, 0xff, 5, 2, 1, 1, 0, 5, 0, 2, 5, 4, 1, 1, 5, 5, 1, 10, 11, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 3, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte("\x08\x10\x05\x01\x05\x05\x02\x05\x05\x01\x05\x05\x03\x05\x02\x0a\x00\x05\x05\x05\x05\x00\x05\x06\x00\x05\x06\x05\x07\x00\x05\x08\x07"))
	f.Fuzz(func(t *testing.T, data []byte) {
		runOps(t, data)
	})
}

// TestAgainstReference runs the fuzz body over random sequences, so plain
// `go test` covers far more than the seed corpus.
func TestAgainstReference(t *testing.T) {
	runs := 2000
	if testing.Short() {
		runs = 300
	}
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 4096)
	for range runs {
		n := rng.IntN(len(data))
		for i := range data[:n] {
			data[i] = byte(rng.Uint32())
		}
		runOps(t, data[:n])
	}
}
