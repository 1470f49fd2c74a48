//go:build unix

package natsd

import "syscall"

// freeBytes is the room left for an unprivileged writer on dir's file
// system; ok is false when it cannot be read.
func freeBytes(dir string) (free uint64, ok bool) {
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) != nil {
		return 0, false
	}
	return st.Bavail * uint64(st.Bsize), true
}
