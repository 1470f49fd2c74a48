package record

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// File layout: DIR/YYYY-MM-DD/YYYYMMDDTHHMMSS.NNNNNNNNNZ.rec.zst, the day
// and the name in UTC from the receive time of the file's first record, so
// sorting the names sorts the files in time.
const (
	fileExt    = ".rec.zst"
	dayLayout  = "2006-01-02"
	nameLayout = "20060102T150405.000000000Z"
)

// fileName returns the path of a file whose first record is at t (Unix ns).
func fileName(dir string, t int64) string {
	ts := time.Unix(0, t).UTC()
	return filepath.Join(dir, ts.Format(dayLayout), ts.Format(nameLayout)+fileExt)
}

// fileStart parses the start time out of a file's base name.
func fileStart(base string) (int64, bool) {
	s, ok := strings.CutSuffix(base, fileExt)
	if !ok {
		return 0, false
	}
	ts, err := time.Parse(nameLayout, s)
	if err != nil {
		return 0, false
	}
	return ts.UnixNano(), true
}

// fileInfo is one file of a recording.
type fileInfo struct {
	path  string
	start int64 // Unix ns of its first record
	size  int64
	mod   time.Time
}

// listFiles returns the recording's files in time order. A missing
// directory is an empty recording.
func listFiles(dir string) ([]fileInfo, error) {
	days, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot list recording %s: %w", dir, err)
	}
	var out []fileInfo
	for _, d := range days {
		if !d.IsDir() {
			continue
		}
		if _, err := time.Parse(dayLayout, d.Name()); err != nil {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(dir, d.Name()))
		if err != nil {
			return nil, fmt.Errorf("cannot list recording day %s: %w", d.Name(), err)
		}
		for _, e := range ents {
			start, ok := fileStart(e.Name())
			if !ok || e.IsDir() {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue // removed meanwhile
			}
			out = append(out, fileInfo{path: filepath.Join(dir, d.Name(), e.Name()), start: start, size: fi.Size(), mod: fi.ModTime()})
		}
	}
	slices.SortFunc(out, func(a, b fileInfo) int {
		if a.start != b.start {
			return int(min(max(a.start-b.start, -1), 1))
		}
		return strings.Compare(a.path, b.path)
	})
	return out, nil
}

// Keep is a retention limit. The zero value keeps everything.
type Keep struct {
	// MaxAge deletes files last written more than this long ago.
	MaxAge time.Duration
	// MaxBytes deletes the oldest files while the recording is larger.
	MaxBytes int64
}

func (k Keep) String() string {
	switch {
	case k.MaxAge > 0:
		return k.MaxAge.String()
	case k.MaxBytes > 0:
		return strconv.FormatInt(k.MaxBytes, 10) + "B"
	}
	return "all"
}

// ParseKeep parses a retention limit: an age ("36h", "7d") or a size
// ("500MB", "50GB", "1TiB", "123456B"); "" or "all" keeps everything.
func ParseKeep(s string) (Keep, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "all" {
		return Keep{}, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(d, 64)
		if err == nil && n > 0 {
			return Keep{MaxAge: time.Duration(n * float64(24*time.Hour))}, nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return Keep{}, fmt.Errorf("cannot parse retention %q: must be positive", s)
		}
		return Keep{MaxAge: d}, nil
	}
	n, err := ParseSize(s)
	if err != nil {
		return Keep{}, fmt.Errorf("cannot parse retention %q: want an age (36h, 7d) or a size (50GB)", s)
	}
	return Keep{MaxBytes: n}, nil
}

// ParseSize parses a byte size with an optional unit: B, KB, MB, GB, TB
// (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024).
func ParseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
	}
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if v, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(v), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f <= 0 || f*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("cannot parse size %q", s)
	}
	return int64(f * float64(mult)), nil
}

// prune deletes the oldest files beyond the limit, never current. It
// returns how many it deleted.
func prune(dir string, k Keep, current string, now time.Time) (int, error) {
	if k.MaxAge <= 0 && k.MaxBytes <= 0 {
		return 0, nil
	}
	files, err := listFiles(dir)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, f := range files {
		total += f.size
	}
	deleted := 0
	var errs []error
	for _, f := range files {
		if f.path == current {
			continue
		}
		old := k.MaxAge > 0 && now.Sub(f.mod) > k.MaxAge
		big := k.MaxBytes > 0 && total > k.MaxBytes
		if !old && !big {
			break // files are in time order: the rest are newer
		}
		if err := os.Remove(f.path); err != nil {
			errs = append(errs, err)
			continue
		}
		total -= f.size
		deleted++
		_ = os.Remove(filepath.Dir(f.path)) // the day folder, once empty
	}
	if len(errs) > 0 {
		return deleted, fmt.Errorf("cannot delete old recording files: %w", errors.Join(errs...))
	}
	return deleted, nil
}
