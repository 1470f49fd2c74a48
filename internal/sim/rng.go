package sim

// rng is a small deterministic generator (splitmix64). Each market, socket and the scheduler
// own one, so one stream's consumption never shifts another's: the event sequence of a market
// depends only on the seed, the configuration and the tick count, never on wall-clock jitter.
// Not safe for concurrent use.
type rng struct{ s uint64 }

// newRNG derives an independent stream: the stream number goes through the splitmix
// finalizer, so neighbouring streams (consecutive market ids) start far apart instead of one
// step apart on the same sequence.
func newRNG(seed uint64, stream uint64) rng {
	return rng{s: mix64(seed ^ mix64(stream+0x632be59bd9b4e019))}
}

func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix64(r.s)
}

// intn returns a value in [0, n); n must be > 0.
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// chance reports true with probability p.
func (r *rng) chance(p float64) bool {
	if p <= 0 {
		return false
	}
	return float64(r.next()>>11)/(1<<53) < p
}
