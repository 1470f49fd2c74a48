package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// statusMsg is the part of a stream `status` message the moved watch reads
// (docs/STREAM.md, wire version 1).
type statusMsg struct {
	V       int    `json:"v"`
	Type    string `json:"type"`
	AssetID string `json:"asset_id"`
	Market  string `json:"market"`
	Epoch   uint64 `json:"epoch"`
	State   string `json:"state"`
	Reason  string `json:"reason"`
}

// reasonMoved is the stale reason a publisher gives when another member
// publishes the asset now (publish.Gate).
const reasonMoved = "moved"

// parseMoved reads a version-1 `status` "stale", reason "moved".
func parseMoved(data []byte) (statusMsg, bool) {
	if !bytes.Contains(data, []byte(`"`+reasonMoved+`"`)) {
		return statusMsg{}, false // most statuses: not worth decoding
	}
	var s statusMsg
	if err := json.Unmarshal(data, &s); err != nil {
		return statusMsg{}, false
	}
	if s.V != 1 || s.Type != "status" || s.State != "stale" || s.Reason != reasonMoved ||
		s.AssetID == "" || s.Market == "" || s.Epoch == 0 || s.Epoch > maxEpoch {
		return statusMsg{}, false
	}
	return s, true
}

// moves is the safety net under handovers: a member that stops publishing
// an asset says `stale` "moved" under its epoch. If that epoch is above
// ours while this member is the asset's publisher, our publisher had
// yielded to it (the stopping member published for a moment under a newer
// epoch: its view differed while settling, or the market was not yet in the
// shared listing, so it stopped without a handover) and consumers follow an
// epoch nobody publishes any more. This member then restarts the asset above
// it. Messages arrive on the NATS delivery goroutine; resolve runs on the
// controller's. State is under mu.
type moves struct {
	nc     *nats.Conn
	cfg    *Config
	claims *claims
	wake   func()
	sub    *nats.Subscription

	mu      sync.Mutex
	pending map[string]movedAsset // by asset
}

type movedAsset struct {
	market   string
	epoch    uint64
	deadline time.Time
}

func newMoves(nc *nats.Conn, cfg *Config, cs *claims, wake func()) *moves {
	return &moves{nc: nc, cfg: cfg, claims: cs, wake: wake, pending: map[string]movedAsset{}}
}

func (ms *moves) subscribe() error {
	sub, err := ms.nc.Subscribe(ms.cfg.Prefix+".v1.status.*", ms.onStatus)
	if err != nil {
		return fmt.Errorf("cannot subscribe to status messages: %w", err)
	}
	ms.sub = sub
	return nil
}

func (ms *moves) unsubscribe() {
	if ms.sub != nil {
		_ = ms.sub.Unsubscribe() // fails only when the connection is closed, which ends it too
		ms.sub = nil
	}
}

func (ms *moves) onStatus(msg *nats.Msg) {
	s, ok := parseMoved(msg.Data)
	if !ok {
		return
	}
	ms.mu.Lock()
	if old, had := ms.pending[s.AssetID]; !had || s.Epoch > old.epoch {
		ms.pending[s.AssetID] = movedAsset{market: s.Market, epoch: s.Epoch, deadline: time.Now().Add(ms.cfg.HandoverTimeout)}
	}
	ms.mu.Unlock()
	ms.wake()
}

// resolve restarts, above the epoch that said moved, the assets this member
// publishes under a lower one; it keeps the others until their market is
// ours or their deadline passes (our view may not have caught up yet).
func (ms *moves) resolve(v *view, now time.Time) {
	type action struct {
		asset string
		epoch uint64
	}
	var act []action
	ms.mu.Lock()
	for a, m := range ms.pending {
		switch {
		case v.role(m.market) == RolePublisher:
			act = append(act, action{a, m.epoch})
		case now.Before(m.deadline):
			continue
		}
		delete(ms.pending, a)
	}
	ms.mu.Unlock()
	for _, x := range act {
		if e, ok := ms.cfg.Publisher.Epoch(x.asset); ok && e < x.epoch {
			ms.claims.ask(x.asset, x.epoch, now)
		}
	}
}
