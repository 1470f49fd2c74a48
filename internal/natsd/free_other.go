//go:build !unix

package natsd

// freeBytes cannot tell here: the keeper then just tries.
func freeBytes(string) (uint64, bool) { return 0, false }
