package main

import (
	"errors"
	"testing"
	"time"
)

func TestParseReplay(t *testing.T) {
	o, err := parseReplay([]string{"rec/", "--from", "2026-12-01", "--to", "2026-12-01T10:00:00Z", "--speed", "10", "--exit"})
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	to := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC).UnixNano()
	if o.Dir != "rec/" || o.From != from || o.To != to || o.Speed != 10 || !o.Exit {
		t.Fatalf("parseReplay = %+v", o)
	}
	if o, err := parseReplay([]string{"--speed", "max", "rec/"}); err != nil || o.Speed != 0 || o.Dir != "rec/" {
		t.Fatalf("flags before DIR: %+v, %v", o, err)
	}
	for _, args := range [][]string{
		{}, {"a", "b"}, {"rec/", "--speed", "fast"}, {"rec/", "--from", "yesterday"},
		{"rec/", "--from", "2026-12-02", "--to", "2026-12-01"}, {"rec/", "--workers", "0"}, {"rec/", "--nope"},
	} {
		if _, err := parseReplay(args); !errors.Is(err, errUsage) {
			t.Errorf("parseReplay(%q) = %v; want a usage error", args, err)
		}
	}
}
