package cluster

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// claim is a handover announcement: member From hands market Market over and
// publishes its assets under Epochs. The new publisher's books must carry a
// higher epoch for the handover to complete.
//
// It travels on <prefix>.cluster.<cluster>.handover, core NATS (not under
// <prefix>.v1, so no stream stores it): a lost one is sent again every
// second while its handover lasts. The market's publisher answers on
// <prefix>.cluster.<cluster>.ack.<From> with the same shape: either the
// epochs it already publishes under, when they are higher (its book may have
// gone out before the handing-over member started watching), or nothing,
// after it restarted the lower ones (the fresh books are then watched).
type claim struct {
	V      int               `json:"v"`
	From   string            `json:"from"`
	Market string            `json:"market"`
	Epochs map[string]uint64 `json:"epochs"`
}

func claimSubject(prefix, cluster string) string {
	return prefix + ".cluster." + cluster + ".handover"
}

func ackSubject(prefix, cluster, member string) string {
	return prefix + ".cluster." + cluster + ".ack." + member
}

func parseClaim(data []byte) (claim, bool) {
	var c claim
	if err := json.Unmarshal(data, &c); err != nil || c.V != 1 || c.From == "" || c.Market == "" || len(c.Epochs) == 0 {
		return claim{}, false
	}
	for a, e := range c.Epochs {
		if a == "" || e > maxEpoch {
			return claim{}, false
		}
	}
	return c, true
}

type pendingClaim struct {
	from     string
	epochs   map[string]uint64
	deadline time.Time
}

// claims keeps the announcements of handovers towards this member until it
// is the market's publisher in its own view, then makes the publisher
// overtake any epoch it is behind. Messages arrive on the NATS delivery
// goroutine; resolve runs on the controller's. State is under mu.
type claims struct {
	nc    *nats.Conn
	cfg   *Config
	wake  func()
	onAck func(conditionID string, epochs map[string]uint64)
	subs  []*nats.Subscription

	mu      sync.Mutex
	pending map[string]pendingClaim // by condition id

	// asked holds the restarts requested from the Publisher that may not
	// show in its Epoch yet (it applies them on its next engine tick), by
	// asset. Under rmu, which is never held with mu or handovers.mu taken
	// after it.
	rmu   sync.Mutex
	asked map[string]askedRestart

	restarts atomic.Uint64
	bad      atomic.Uint64
}

// askedRestart is one requested restart: the new epoch will be above
// `above`, unless the publisher drops it (the asset closed or moved away
// meanwhile), which `until` bounds.
type askedRestart struct {
	above uint64
	until time.Time
}

// restartWait bounds how long a requested restart may take to show in
// Publisher.Epoch: the publisher applies it at its next engine tick
// (250 ms), later on a loaded machine; one it drops never shows.
const restartWait = 2 * time.Second

func newClaims(nc *nats.Conn, cfg *Config, wake func(), onAck func(string, map[string]uint64)) *claims {
	return &claims{nc: nc, cfg: cfg, wake: wake, onAck: onAck, pending: map[string]pendingClaim{}, asked: map[string]askedRestart{}}
}

// restarting reports whether a restart of the asset was requested and has
// not shown in the publisher's epoch yet: until it does, this member's next
// epoch for it is unknown, so a handover of it cannot end (a book of the
// restarted epoch would be above the new publisher's) and no claim can name
// it. Any goroutine.
func (cs *claims) restarting(asset string) bool {
	cs.rmu.Lock()
	defer cs.rmu.Unlock()
	r, ok := cs.asked[asset]
	if !ok {
		return false
	}
	if e, has := cs.cfg.Publisher.Epoch(asset); (has && e > r.above) || time.Now().After(r.until) {
		delete(cs.asked, asset)
		return false
	}
	return true
}

// ask requests a restart of the asset above `above` unless one at least as
// high is still on its way: several members can claim one market while
// their views settle, and each claim used to start another epoch.
func (cs *claims) ask(asset string, above uint64, now time.Time) {
	cs.rmu.Lock()
	if r, ok := cs.asked[asset]; ok && r.above >= above && now.Before(r.until) {
		cs.rmu.Unlock()
		return
	}
	cs.asked[asset] = askedRestart{above: above, until: now.Add(restartWait)}
	cs.rmu.Unlock()
	cs.restarts.Add(1)
	cs.cfg.Publisher.Restart(asset, above)
}

func (cs *claims) subscribe() error {
	sub, err := cs.nc.Subscribe(claimSubject(cs.cfg.Prefix, cs.cfg.Cluster), cs.onClaim)
	if err != nil {
		return fmt.Errorf("cannot subscribe to handover claims: %w", err)
	}
	cs.subs = append(cs.subs, sub)
	sub, err = cs.nc.Subscribe(ackSubject(cs.cfg.Prefix, cs.cfg.Cluster, cs.cfg.ID), func(msg *nats.Msg) {
		if c, ok := parseClaim(msg.Data); ok {
			cs.onAck(c.Market, c.Epochs)
		} else {
			cs.bad.Add(1)
		}
	})
	if err != nil {
		cs.unsubscribe()
		return fmt.Errorf("cannot subscribe to handover acks: %w", err)
	}
	cs.subs = append(cs.subs, sub)
	return nil
}

func (cs *claims) unsubscribe() {
	unsubscribe(cs.subs)
	cs.subs = nil
}

func (cs *claims) onClaim(msg *nats.Msg) {
	c, ok := parseClaim(msg.Data)
	if !ok {
		cs.bad.Add(1)
		return
	}
	if c.From == cs.cfg.ID || cs.cfg.Publisher == nil {
		return
	}
	cs.mu.Lock()
	cs.pending[c.Market] = pendingClaim{from: c.From, epochs: c.Epochs, deadline: time.Now().Add(cs.cfg.HandoverTimeout)}
	cs.mu.Unlock()
	cs.wake()
}

// resolve acts on the claims for markets this member now publishes and drops
// the expired ones.
func (cs *claims) resolve(v *view, now time.Time) {
	cs.rmu.Lock()
	for a, r := range cs.asked {
		if now.After(r.until) {
			delete(cs.asked, a) // restarting drops the ones that showed
		}
	}
	cs.rmu.Unlock()
	cs.mu.Lock()
	type action struct {
		cid string
		c   pendingClaim
	}
	var act []action
	for cid, c := range cs.pending {
		switch {
		case v.role(cid) == RolePublisher:
			act = append(act, action{cid, c})
		case now.Before(c.deadline):
			continue
		}
		delete(cs.pending, cid)
	}
	cs.mu.Unlock()
	for _, a := range act {
		ahead := map[string]uint64{}
		for asset, above := range a.c.epochs {
			e, ok := cs.cfg.Publisher.Epoch(asset)
			switch {
			case ok && e <= above:
				cs.ask(asset, above, now)
			case ok:
				ahead[asset] = e
			}
		}
		if len(ahead) > 0 {
			cs.send(ackSubject(cs.cfg.Prefix, cs.cfg.Cluster, a.c.from), a.cid, ahead)
		}
	}
}

// announce sends one claim.
func (cs *claims) announce(conditionID string, epochs map[string]uint64) {
	cs.send(claimSubject(cs.cfg.Prefix, cs.cfg.Cluster), conditionID, epochs)
}

func (cs *claims) send(subject, conditionID string, epochs map[string]uint64) {
	b, err := json.Marshal(claim{V: 1, From: cs.cfg.ID, Market: conditionID, Epochs: epochs})
	if err != nil {
		return // a map of strings to integers always encodes
	}
	_ = cs.nc.Publish(subject, b) // a lost claim is sent again next second
}
