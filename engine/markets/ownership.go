package markets

import (
	"slices"
	"sort"
	"time"
)

// redropAfter: the books of released assets are dropped again this long
// after the unsubscribe, once frames already in flight (which recreate a
// book on first sight) have been routed.
const redropAfter = 2 * time.Second

// ownState is the lifecycle's Ownership bookkeeping; guarded by Lifecycle.mu.
type ownState struct {
	redrop []releasedIDs
}

type releasedIDs struct {
	ids []string
	at  time.Time
}

// Ownership decides which markets this instance carries: in a cluster each
// member carries only its share of the universe (package cluster's Node
// satisfies it). The lifecycle still tracks every market it learns of, so it
// knows the whole universe and can carry a market the moment it becomes
// ours. Owns is called under the lifecycle's lock: it must be safe from any
// goroutine and must not block.
type Ownership interface {
	Owns(conditionID string) bool
}

// park marks a new market as known but not carried when Config.Ownership
// refuses it: its assets are kept on the market and not registered. l.mu held.
func (l *Lifecycle) park(lm *tracked) bool {
	if l.cfg.Ownership == nil || l.cfg.Ownership.Owns(lm.m.ConditionID) {
		return false
	}
	lm.parked = true
	return true
}

// parkRetracked decides, for an expired market tracked again, whether it is
// carried: one Config.Ownership refuses is parked, its old registry entries
// removed and their books dropped, instead of revived; one it accepts is
// carried (revived by the caller) even if it was parked before it expired.
// l.mu held.
func (l *Lifecycle) parkRetracked(lm *tracked, eff *effects) bool {
	lm.parked = false
	if !l.park(lm) {
		return false
	}
	for _, id := range lm.m.AssetIDs {
		if l.reg.Remove(id) {
			eff.drop = append(eff.drop, id)
		}
	}
	eff.added = append(eff.added, lm.m)
	return true
}

// Reconcile applies a change of ownership: every live tracked market that
// Config.Ownership now accepts and that was parked has its assets registered
// (the pool subscribes them); every carried market it no longer accepts has
// its assets unsubscribed, removed from the registry and their books
// dropped (again redropAfter later, at a later call: frames in flight
// recreate a book). It returns how many markets it took and released. Call
// it after every change of ownership and about every second, from one
// goroutine at a time (it runs the
// unsubscribes on the caller's goroutine, so a later Reconcile never races an
// earlier one's socket writes). Without Config.Ownership it does nothing.
func (l *Lifecycle) Reconcile() (took, released int) {
	if l.cfg.Ownership == nil {
		return 0, 0
	}
	var gone, again []string
	now := time.Now()
	l.mu.Lock()
	for len(l.own.redrop) > 0 && now.Sub(l.own.redrop[0].at) >= redropAfter {
		for _, id := range l.own.redrop[0].ids {
			if _, ok := l.reg.Get(id); !ok { // not taken back since
				again = append(again, id)
			}
		}
		l.own.redrop = l.own.redrop[1:]
	}
	for cond, lm := range l.markets {
		if lm.expired {
			continue
		}
		own := l.cfg.Ownership.Owns(cond)
		switch {
		case own && lm.parked:
			lm.parked = false
			for _, id := range lm.m.AssetIDs {
				l.reg.Add(id, cond, lm.m.EndDate)
			}
			took++
		case !own && !lm.parked:
			lm.parked = true
			for _, id := range l.reg.ByCondition(cond) {
				if l.reg.Remove(id) {
					gone = append(gone, id)
				}
			}
			released++
		}
	}
	if len(gone) > 0 {
		l.own.redrop = append(l.own.redrop, releasedIDs{ids: gone, at: now})
	}
	l.mu.Unlock()
	if len(again) > 0 && l.books != nil {
		l.books.DropBooks(again)
	}
	if len(gone) > 0 {
		if l.pool != nil {
			if err := l.pool.Unsubscribe(gone); err != nil {
				l.mu.Lock()
				l.st.UnsubscribeErrors++
				l.mu.Unlock()
				l.log.Warn("cannot unsubscribe released markets", "assets", len(gone), "err", err)
			}
		}
		if l.books != nil {
			l.books.DropBooks(gone)
		}
	}
	if took+released > 0 {
		l.log.Info("ownership changed", "took", took, "released", released)
	}
	return took, released
}

// Markets returns every live tracked market, carried or not, sorted by
// condition id.
func (l *Lifecycle) Markets() []Market {
	l.mu.Lock()
	out := make([]Market, 0, len(l.markets))
	for _, lm := range l.markets {
		if !lm.expired {
			m := lm.m
			m.AssetIDs, m.Outcomes = slices.Clone(m.AssetIDs), slices.Clone(m.Outcomes)
			out = append(out, m)
		}
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ConditionID < out[j].ConditionID })
	return out
}

// Expire retires a tracked market for reason (for instance: another cluster
// member saw it close and removed it from the shared listing), as if its end
// date had passed. It reports whether a live market was expired.
func (l *Lifecycle) Expire(conditionID, reason string) bool {
	var eff effects
	l.mu.Lock()
	lm, ok := l.markets[conditionID]
	if ok && !lm.expired {
		l.expireLocked(lm, reason, l.cfg.Now(), &eff)
	}
	l.mu.Unlock()
	if eff.empty() {
		return false
	}
	l.mu.Lock()
	l.later.unsub = append(l.later.unsub, eff.unsub...)
	l.later.expired = append(l.later.expired, eff.expired...)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return true
}
