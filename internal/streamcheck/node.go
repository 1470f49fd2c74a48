package streamcheck

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Dump is what the Node example prints on "dump": every book, its counters, and
// whether it has replayed its look-back window.
type Dump struct {
	Books map[string]NodeBook `json:"books"`
	Live  bool                `json:"live"`
	Stats NodeStats           `json:"stats"`
}

// NodeBook is one book of a Dump.
type NodeBook struct {
	State  string `json:"state"`
	Reason string `json:"reason"`
	Epoch  int64  `json:"epoch"`
	Seq    int64  `json:"seq"`
	Bids   Side   `json:"bids"`
	Asks   Side   `json:"asks"`
}

// NodeStats are the Node example's counters.
type NodeStats struct {
	Applied, Ignored, Gaps, Mismatches, Resyncs, ResyncMisses, EpochChanges, StaleNotices, DecodeErrors int
	// Restarts counts the events consumer opened again after it stopped delivering.
	Restarts int
}

// NodeDir is examples/node of this module.
func NodeDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "examples", "node")
}

// NodeSkip returns why the Node example cannot run here ("" if it can): node is not
// on PATH, or its packages are not installed.
func NodeSkip() string {
	if _, err := exec.LookPath("node"); err != nil {
		return "node is not on PATH; the Node example is not checked (CI installs it: .ci/run)"
	}
	if _, err := os.Stat(filepath.Join(NodeDir(), "node_modules", "@nats-io", "jetstream", "package.json")); err != nil {
		return "examples/node/node_modules is missing: run `npm ci --prefix examples/node` (.ci/run does)"
	}
	return ""
}

// Node is a running Node example consumer.
type Node struct {
	t      testing.TB
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	done   chan struct{}
	mu     sync.Mutex
	stderr strings.Builder
	waited bool
}

// StartNode starts the Node example (--quiet) against url with the given extra
// arguments, skipping the test if it cannot run. It is stopped when the test ends.
func StartNode(t testing.TB, url, prefix string, args ...string) *Node {
	t.Helper()
	if why := NodeSkip(); why != "" {
		t.Skip(why)
	}
	cmd := exec.Command("node", append([]string{"consumer.mjs", "--servers", url, "--prefix", prefix, "--quiet"}, args...)...)
	cmd.Dir = NodeDir()
	n := &Node{t: t, cmd: cmd, lines: make(chan string), done: make(chan struct{})}
	cmd.Stderr = writerFunc(func(p []byte) (int, error) {
		n.mu.Lock()
		defer n.mu.Unlock()
		return n.stderr.Write(p)
	})
	var err error
	if n.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start the Node example: %v", err)
	}
	go func() { // ends when the process closes its stdout
		defer close(n.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<28)
		for sc.Scan() {
			n.lines <- sc.Text()
		}
		close(n.lines)
	}()
	t.Cleanup(func() {
		if !n.waited {
			_ = n.cmd.Process.Kill()
			_ = n.wait()
		}
		if t.Failed() {
			t.Logf("node stderr:\n%s", n.Stderr())
		}
	})
	return n
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// Stderr is what the process wrote to its standard error so far.
func (n *Node) Stderr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stderr.String()
}

// Dump asks for the books and waits up to 10 s for them.
func (n *Node) Dump() (Dump, error) {
	if _, err := io.WriteString(n.stdin, "dump\n"); err != nil {
		return Dump{}, fmt.Errorf("cannot ask the Node example for its books: %w", err)
	}
	select {
	case l, ok := <-n.lines:
		if !ok {
			return Dump{}, errors.New("the Node example exited: " + n.Stderr())
		}
		var d Dump
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			return Dump{}, fmt.Errorf("cannot read the Node example's books: %w", err)
		}
		return d, nil
	case <-time.After(10 * time.Second):
		return Dump{}, errors.New("no books from the Node example within 10 s")
	}
}

// Pause stops the process (SIGSTOP) until Resume, so that a test can change the
// servers under it at a chosen point.
func (n *Node) Pause() error { return n.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume continues a paused process (SIGCONT).
func (n *Node) Resume() error { return n.cmd.Process.Signal(syscall.SIGCONT) }

// Stop closes its standard input (it prints its books once more and exits) and
// waits for it; the error says how it exited.
func (n *Node) Stop() error {
	_ = n.stdin.Close()
	return n.wait()
}

func (n *Node) wait() error {
	for range n.lines {
	}
	<-n.done
	n.waited = true
	if err := n.cmd.Wait(); err != nil {
		return fmt.Errorf("node exited with %w: %s", err, n.Stderr())
	}
	return nil
}
