package recycle

import (
	"fmt"
	"time"
)

// endedGone is how long after its end (simulator time) a market must have left the registry,
// the books and the sockets in the simRig: discovery (100 ms) + expiry (20 ms) + the cleanup
// grace (300 ms) + cleanup (20 ms) of simLifecycleConfig, with room for a loaded machine.
const endedGone = 1500 * time.Millisecond

// allEndedGone checks every market that ended since virtual time start, not one: each that
// ended more than endedGone ago has left the registry, had its books dropped and is carried by
// no socket. It returns how many it checked.
func (g *simRig) allEndedGone(start time.Time) (int, error) {
	now := g.s.Now()
	_, dropped, _, _ := g.rec.snapshot()
	checked := 0
	for _, m := range g.s.Markets() {
		if !m.Closed || !m.EndDate.After(start) || now.Sub(m.EndDate) < endedGone {
			continue
		}
		checked++
		for _, id := range m.TokenIDs {
			if e, ok := g.reg.Get(id); ok {
				return checked, fmt.Errorf("asset %s… ended %s ago is still in the registry (%v)", id[:10], now.Sub(m.EndDate), e.State)
			}
			if !contains(dropped, id) {
				return checked, fmt.Errorf("asset %s… ended %s ago: its book was never dropped", id[:10], now.Sub(m.EndDate))
			}
			for _, c := range g.pool.Conns() {
				if c.Has(id) {
					return checked, fmt.Errorf("asset %s… ended %s ago is still on connection %d", id[:10], now.Sub(m.EndDate), c.ID())
				}
			}
		}
	}
	return checked, nil
}
