package wire

import (
	"encoding/json"
	"testing"
)

// stdDecoder is the encoding/json baseline: the same raw structs, presence
// tracking and conversion as Decoder, with json.Unmarshal in place of sonic
// (array frames are unmarshalled whole into a reused []rawEvent).
type stdDecoder struct {
	d   *Decoder
	arr []rawEvent
}

func (s *stdDecoder) decode(frame []byte) ([]Event, error) {
	d := s.d
	d.begin()
	if i := skipSpace(frame, 0); i < len(frame) && frame[i] == '{' {
		d.raw.reset()
		err := json.Unmarshal(frame, &d.raw)
		p := d.raw.finish(err != nil)
		if err != nil {
			return nil, err
		}
		d.convert(&d.raw, p, -1)
		return d.events, d.err()
	}
	s.arr = s.arr[:cap(s.arr)]
	for j := range s.arr {
		s.arr[j].reset()
	}
	s.arr = s.arr[:0]
	if err := json.Unmarshal(frame, &s.arr); err != nil {
		return nil, err
	}
	for j := range s.arr {
		p := s.arr[j].finish(false)
		d.convert(&s.arr[j], p, j)
	}
	return d.events, d.err()
}

// benchFrames: a two-asset price_change (~0.4 KB), a ~1 KB book (11 levels
// a side) and an initial dump of 100 such books (~100 KB).
func benchFrames() []struct {
	name   string
	frame  []byte
	events int
} {
	return []struct {
		name   string
		frame  []byte
		events int
	}{
		{"price_change", priceChangeFrame, 1},
		{"book_1KB", bookFrame(assetA, 11), 1},
		{"dump_100_books", dumpFrame(100, 11), 100},
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, bf := range benchFrames() {
		b.Run(bf.name+"/sonic", func(b *testing.B) {
			d := NewDecoder()
			b.SetBytes(int64(len(bf.frame)))
			b.ReportAllocs()
			for b.Loop() {
				evs, err := d.Decode(bf.frame)
				if err != nil || len(evs) != bf.events {
					b.Fatalf("%d events, %v", len(evs), err)
				}
			}
		})
		b.Run(bf.name+"/encoding_json", func(b *testing.B) {
			s := &stdDecoder{d: NewDecoder()}
			b.SetBytes(int64(len(bf.frame)))
			b.ReportAllocs()
			for b.Loop() {
				evs, err := s.decode(bf.frame)
				if err != nil || len(evs) != bf.events {
					b.Fatalf("%d events, %v", len(evs), err)
				}
			}
		})
	}
}

// TestStdBaselineAgrees keeps the baseline honest: it must produce the same
// events as Decode, or the benchmark compares different work.
func TestStdBaselineAgrees(t *testing.T) {
	for _, bf := range benchFrames() {
		want, err := NewDecoder().Decode(bf.frame)
		if err != nil {
			t.Fatal(err)
		}
		want = cloneEvents(want)
		s := &stdDecoder{d: NewDecoder()}
		for range 2 { // the second run reuses the baseline's buffers
			got, err := s.decode(bf.frame)
			if err != nil {
				t.Fatal(err)
			}
			if diff := diffEvents(got, want); diff != "" {
				t.Fatalf("%s: %s", bf.name, diff)
			}
		}
	}
}
