package proc

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Child is one child process with its log file.
type Child struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{} // closed when Wait returned
	err    error         // Wait's result, valid once exited is closed
	endAt  time.Time     // when Wait returned, valid once exited is closed
}

// Start starts path with args, stdout and stderr to dir/name.log, in this
// process's environment plus env.
func Start(dir, name, path string, env []string, args ...string) (*Child, error) {
	f, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, fmt.Errorf("cannot create %s log: %w", name, err)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot start %s: %w", name, err)
	}
	c := &Child{name: name, cmd: cmd, exited: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		c.endAt = time.Now()
		f.Close()
		close(c.exited)
	}()
	return c, nil
}

// Name is the name the child was started with (its log is dir/Name.log).
func (c *Child) Name() string { return c.name }

// Pid is the child's process id.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// Exited is closed once the child has exited and been waited for.
func (c *Child) Exited() <-chan struct{} { return c.exited }

// Err is the child's exit error (nil: exit 0); valid once Exited is closed.
func (c *Child) Err() error { return c.err }

// Running reports whether the child has not exited yet.
func (c *Child) Running() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// Stop sends SIGTERM and waits up to bound; then SIGKILL. It returns how
// long the child took and its exit error (nil: exit 0). A child that had
// already exited is an error.
func (c *Child) Stop(bound time.Duration) (time.Duration, error) {
	if !c.Running() {
		return 0, fmt.Errorf("%s had already exited: %v", c.name, c.err)
	}
	t0 := time.Now()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
		return c.endAt.Sub(t0), c.err
	case <-time.After(bound):
		_ = c.cmd.Process.Kill()
		<-c.exited
		return time.Since(t0), fmt.Errorf("%s did not exit within %s of SIGTERM (killed)", c.name, bound)
	}
}

// Kill sends SIGKILL, unless the child has exited, and waits for it.
func (c *Child) Kill() {
	if c.Running() {
		_ = c.cmd.Process.Kill()
	}
	<-c.exited
}

// FreeAddr returns a loopback address with a port that was free a moment ago.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("cannot find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// WaitHTTP polls url until it answers 200 or ctx ends or c exits. Each
// request is bound by ctx, so a server that accepts and never answers
// cannot hold it past ctx.
func WaitHTTP(ctx context.Context, c *Child, url string) error {
	for {
		err := get200(ctx, url)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cannot reach %s: %w (last error %v)", url, ctx.Err(), err)
		case <-c.exited:
			return fmt.Errorf("%s exited before %s answered: %v", c.name, url, c.err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func get200(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
