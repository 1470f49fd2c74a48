// Package poll waits in tests for a condition that other goroutines make true, checking it
// at an interval instead of sleeping a fixed time, so a test is as fast as the code allows
// and fails with the condition's last reason rather than a timing guess.
//
// Concurrency: For and Until may be called from any test goroutine; f runs on the caller's
// goroutine.
package poll

import (
	"testing"
	"time"
)

// For calls f every `every` until it returns nil or total has passed, then fails the test
// with f's last error.
func For(t testing.TB, total, every time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	var err error
	for {
		if err = f(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s: %v", total, err)
		}
		time.Sleep(every)
	}
}

// Until waits up to total for cond, checking every millisecond, and fails the test naming
// what it waited for.
func Until(t testing.TB, total time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(total)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", total, what)
		}
		time.Sleep(time.Millisecond)
	}
}
