package proc

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestStartStop(t *testing.T) {
	defer goleak.VerifyNone(t)
	c, err := Start(t.TempDir(), "sleep", "/bin/sleep", nil, "30")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Running() || c.Pid() <= 0 || c.Name() != "sleep" {
		t.Fatalf("child running %v pid %d name %q; want a running sleep", c.Running(), c.Pid(), c.Name())
	}
	// sleep dies of SIGTERM: an exit error, not a kill after the bound.
	if _, err := c.Stop(10 * time.Second); err == nil || strings.Contains(err.Error(), "did not exit") {
		t.Errorf("Stop = %v; want the SIGTERM exit error", err)
	}
	if c.Running() {
		t.Error("child still running after Stop")
	}
	if _, err := c.Stop(time.Second); err == nil || !strings.Contains(err.Error(), "already exited") {
		t.Errorf("second Stop = %v; want already exited", err)
	}
	c.Kill() // an exited child: returns at once
}

func TestStopKillsAfterBound(t *testing.T) {
	dir := t.TempDir()
	// The shell ignores SIGTERM and says so once the trap is set.
	c, err := Start(dir, "stubborn", "/bin/sh", nil, "-c", `trap "" TERM; echo ready; while :; do sleep 0.1; done`)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(dir, "stubborn.log"))
		if strings.Contains(string(b), "ready") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("shell never set its trap")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := c.Stop(200 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "did not exit") {
		t.Errorf("Stop = %v; want a kill after the bound", err)
	}
	if c.Running() {
		t.Error("child still running after Stop killed it")
	}
}

func TestWaitHTTP(t *testing.T) {
	var ready atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ready.Swap(true) { // the first poll is refused, the next answered
			http.Error(w, "starting", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	c, err := Start(t.TempDir(), "sleep", "/bin/sleep", nil, "30")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := WaitHTTP(ctx, c, srv.URL); err != nil {
		t.Errorf("WaitHTTP = %v; want nil once the server answers 200", err)
	}
}

func TestWaitHTTPChildExits(t *testing.T) {
	addr, err := FreeAddr() // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	c, err := Start(t.TempDir(), "early", "/bin/sh", nil, "-c", "exit 3")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := WaitHTTP(ctx, c, "http://"+addr+"/readyz"); err == nil || !strings.Contains(err.Error(), "exited before") {
		t.Errorf("WaitHTTP = %v; want the child's early exit", err)
	}
	if ctx.Err() != nil {
		t.Error("WaitHTTP waited for the context instead of the exit")
	}
}
