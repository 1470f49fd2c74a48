package venue

import "time"

// LoopbackPool is the pool's pacing for a venue on loopback (the simulator,
// a replayed recording): subscribes and dials a few milliseconds apart
// instead of the live venue's polite defaults, so tests and benchmarks reach
// a full subscription quickly.
func LoopbackPool() PoolConfig {
	return PoolConfig{Interval: 20 * time.Millisecond, DialInterval: 2 * time.Millisecond, MaxWait: 50 * time.Millisecond}
}

// LoopbackConn is the reconnect backoff for a venue on loopback: a restarted
// local venue is back in milliseconds, not seconds.
func LoopbackConn() ConnConfig {
	return ConnConfig{BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond}
}
