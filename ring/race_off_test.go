//go:build !race

package ring

// raceEnabled scales long tests down under the race detector, which slows
// atomics and channel operations by an order of magnitude.
const raceEnabled = false
