// Package fulldisk gives a test a small real file system of its own (a
// tmpfs) and fills it, so a full disk is the kernel's ENOSPC and not an
// injected error. Mounting needs root (CAP_SYS_ADMIN); elsewhere the test
// is skipped and says why.
//
// Concurrency: call it from the test's goroutine.
package fulldisk

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Mount mounts a tmpfs of size (as mount(8) takes it, "256m") on a fresh
// directory, unmounted when the test ends, and returns the directory.
func Mount(t testing.TB, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a tmpfs (%v): needs root", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// Free is the room left on dir's file system for an unprivileged writer.
func Free(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * st.Bsize, nil
}

// Fill writes a file into dir until leave bytes are left free (or the file
// system refuses more) and returns its path: removing it makes room again.
func Fill(dir string, leave int64) (string, error) {
	free, err := Free(dir)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "fulldisk.filler")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for n := free - leave; n > 0; {
		k := min(int64(len(buf)), n)
		if _, err := f.Write(buf[:k]); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			return "", err
		}
		n -= k
	}
	return path, nil
}
