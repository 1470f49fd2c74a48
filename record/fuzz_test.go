package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// goldenStream returns the decompressed stream of the golden file.
func goldenStream(f *testing.F) []byte {
	files, err := listFiles(filepath.Join("testdata", "golden"))
	if err != nil || len(files) == 0 {
		f.Fatal("no golden file", err)
	}
	raw, err := os.ReadFile(files[0].path)
	if err != nil {
		f.Fatal(err)
	}
	d, _ := zstd.NewReader(nil)
	defer d.Close()
	out, err := d.DecodeAll(raw, nil)
	if err != nil {
		f.Fatal(err)
	}
	return out
}

// FuzzStream feeds arbitrary decompressed bytes to the record decoder: it
// must return records or an error, never panic or allocate without bound.
func FuzzStream(f *testing.F) {
	g := goldenStream(f)
	f.Add(g)
	f.Add(g[:len(g)/2])
	f.Add([]byte(magic + "\x01"))
	f.Add(binary.AppendUvarint([]byte(magic+"\x01"), maxBody+1))
	f.Add(append([]byte(magic+"\x01"), 3, byte(KindClose), 0, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := newStream(bytes.NewReader(b))
		if err != nil {
			return
		}
		var r Record
		for range 10000 {
			err := s.next(&r)
			if err == io.EOF || (err != nil && !errors.Is(err, errUnknownKind)) {
				return
			}
		}
	})
}

// FuzzReader writes arbitrary bytes as a recording file (compressed as
// given, and compressed by us) and reads it.
func FuzzReader(f *testing.F) {
	g := goldenStream(f)
	f.Add(g, false)
	f.Add(g, true)
	f.Add([]byte("\x28\xb5\x2f\xfd garbage"), false)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		f.Fatal(err)
	}
	defer enc.Close()
	f.Fuzz(func(t *testing.T, b []byte, compress bool) {
		if compress {
			b = enc.EncodeAll(b, nil)
		}
		dir := t.TempDir()
		p := fileName(dir, 1_764_547_200_000_000_000)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Open(dir, 0, 0, discardLogger())
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		for range 10000 {
			if _, err := r.Next(); err != nil {
				if err != io.EOF {
					t.Fatalf("Next: %v; a damaged file must end quietly", err)
				}
				return
			}
		}
	})
}
