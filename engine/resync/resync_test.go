package resync

import (
	"slices"
	"testing"
	"time"
)

const sec = int64(time.Second)

func TestBackoffDoublesUpToMax(t *testing.T) {
	lo, hi := time.Second, 5*time.Second
	want := []int64{0, 1 * sec, 2 * sec, 4 * sec, 5 * sec, 5 * sec}
	for n, w := range want {
		if got := backoff(n, lo, hi); got != w {
			t.Errorf("backoff(%d) = %v; want %v", n, time.Duration(got), time.Duration(w))
		}
	}
}

// A pending request is not requested twice, and Due takes it once.
func TestRequestDeduplicatesWhilePending(t *testing.T) {
	s := New(0, 0)
	if !s.Request("a", 100*sec) {
		t.Fatal("first request not due at once")
	}
	if s.Request("a", 100*sec) {
		t.Fatal("second request while pending reported due")
	}
	if ids := s.Due(100*sec, nil); !slices.Equal(ids, []string{"a"}) {
		t.Fatalf("Due = %v; want [a]", ids)
	}
	if ids := s.Due(101*sec, nil); len(ids) != 0 {
		t.Fatalf("Due after taking = %v; want none", ids)
	}
}

// Repeats of a rejected asset wait a doubling backoff; other assets' and
// accepted assets' resyncs do not; forgotten assets leave the set.
func TestRejectedAssetBacksOff(t *testing.T) {
	s := New(time.Second, time.Minute)
	s.SetRejected("a", true)
	now := 100 * sec
	s.Request("a", now)
	s.Due(now, nil) // first resync goes out: not a repeat
	for i, wait := range []int64{1 * sec, 2 * sec, 4 * sec} {
		now += sec / 10
		if s.Request("a", now) {
			t.Fatalf("repeat %d due at once; want backed off", i+1)
		}
		if ids := s.Due(now+wait-sec/10-1, nil); len(ids) != 0 {
			t.Fatalf("repeat %d taken before its backoff", i+1)
		}
		now += wait - sec/10
		if ids := s.Due(now, nil); !slices.Equal(ids, []string{"a"}) {
			t.Fatalf("repeat %d: Due = %v at its backoff; want [a]", i+1, ids)
		}
	}
	if got := s.Backoffs(); got != 3 {
		t.Errorf("Backoffs = %d; want 3", got)
	}
	s.SetRejected("a", false)
	if !s.Request("a", now+1) {
		t.Error("request after the rejection ended not due at once")
	}
	s.Due(now+1, nil)
	s.Due(now+int64(RepeatWindow)+2, nil)
	s.mu.Lock()
	n := len(s.assets)
	s.mu.Unlock()
	if n != 0 {
		t.Errorf("%d assets kept after the repeat window; want 0", n)
	}
}

// NextDue names the earliest pending request, a backed-off one included, and
// nothing once every request is taken.
func TestNextDue(t *testing.T) {
	s := New(time.Second, time.Minute)
	if _, ok := s.NextDue(); ok {
		t.Fatal("NextDue on an empty scheduler reports a request")
	}
	s.SetRejected("r", true)
	s.Request("r", 100*sec)
	s.Due(100*sec, nil)
	if s.Request("r", 100*sec+sec/2) { // a repeat: waits its backoff, until 101 s
		t.Fatal("repeat of a rejected asset due at once")
	}
	if next, ok := s.NextDue(); !ok || next != 101*sec {
		t.Fatalf("NextDue = %v, %v; want 101 s (the backed-off repeat)", time.Duration(next), ok)
	}
	s.Request("a", 100*sec+1)
	if next, ok := s.NextDue(); !ok || next != 100*sec+1 {
		t.Fatalf("NextDue = %v, %v; want the request due at once", time.Duration(next), ok)
	}
	s.Due(200*sec, nil)
	if next, ok := s.NextDue(); ok {
		t.Fatalf("NextDue = %v after every request was taken; want none", time.Duration(next))
	}
}
