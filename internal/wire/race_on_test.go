//go:build race

package wire

// raceEnabled: under the race detector sync.Pool drops items at random on
// purpose, so sonic's pooled decoder stacks get reallocated and allocation
// counts mean nothing.
const raceEnabled = true
