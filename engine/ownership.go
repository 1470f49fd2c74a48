package engine

import "github.com/polyfeed/polyfeed/engine/markets"

// Reconcile applies a change of Lifecycle.Ownership (a cluster member's
// share): markets that became ours are subscribed, markets that are no
// longer ours are unsubscribed and their books dropped. See
// markets.Lifecycle.Reconcile; one caller at a time. Without the lifecycle
// it does nothing.
func (a *App) Reconcile() (took, released int) {
	if a.life == nil {
		return 0, 0
	}
	return a.life.Reconcile()
}

// Markets returns every live market the lifecycle tracks, carried or not
// (nil without the lifecycle).
func (a *App) Markets() []markets.Market {
	if a.life == nil {
		return nil
	}
	return a.life.Markets()
}

// ExpireMarket retires a tracked market for reason, as the lifecycle does
// when it closes. It reports whether a live market was expired.
func (a *App) ExpireMarket(conditionID, reason string) bool {
	if a.life == nil {
		return false
	}
	return a.life.Expire(conditionID, reason)
}
