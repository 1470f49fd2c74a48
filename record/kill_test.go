package record

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/polyfeed/polyfeed/internal/poll"
)

// TestKillChildRecorder is the recorder process TestKill9LosesAtMostOneSecond
// kills; it does nothing unless that test started it.
func TestKillChildRecorder(t *testing.T) {
	dir := os.Getenv("RECORD_KILL_CHILD_DIR")
	if dir == "" {
		t.Skip("only run as TestKill9's child")
	}
	w, err := New(Config{Dir: dir, MaxFileBytes: 16 << 10, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	fmt.Println("recording")
	for i := 0; ; i++ {
		now := time.Now().UnixNano()
		w.OnFrame(1, []byte(fmt.Sprintf(`{"seq":%d,"pad":"%s"}`, i, strings.Repeat("p", i%64))), now)
		time.Sleep(200 * time.Microsecond) // pace the feed like a live socket, on purpose
	}
}

// TestKill9LosesAtMostOneSecond kills a recording process with SIGKILL:
// every file reads up to its damage, the frames read are a gap-free
// prefix of what was written, and the last one read was written at most
// one second before the kill.
func TestKill9LosesAtMostOneSecond(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChildRecorder$", "-test.count=1")
	cmd.Env = append(os.Environ(), "RECORD_KILL_CHILD_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if _, err := out.Read(buf); err != nil {
		t.Fatal(err)
	}
	// Run long enough for several rotations and flushes.
	poll.For(t, 20*time.Second, 50*time.Millisecond, func() error {
		files, _ := listFiles(dir)
		if len(files) < 3 {
			return fmt.Errorf("%d files so far", len(files))
		}
		return nil
	})
	time.Sleep(700 * time.Millisecond) // kill mid-interval, not right after a rotation
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now().UnixNano()
	_ = cmd.Wait()

	recs, st := readAll(t, dir, 0, 0)
	next, last := 0, int64(0)
	for _, r := range recs {
		if r.Kind != KindFrame {
			continue
		}
		var seq int
		if _, err := fmt.Sscanf(string(r.Frame), `{"seq":%d,`, &seq); err != nil {
			t.Fatalf("frame %q: %v", r.Frame, err)
		}
		if seq != next {
			t.Fatalf("frame %d after %d: frames lost in the middle", seq, next-1)
		}
		next++
		last = r.Time
	}
	loss := time.Duration(killed - last)
	t.Logf("%d files (%d truncated), %d frames read, last written %v before the kill", st.Files, st.Truncated, next, loss)
	if next == 0 || loss > time.Second {
		t.Fatalf("lost %v of recording (%d frames read); want at most 1s", loss, next)
	}
}
