package cluster

import "time"

// Stats is a point-in-time view of this member, shaped for /stats (JSON) and
// /metrics (one gauge or counter per numeric field).
type Stats struct {
	Cluster  string   `json:"cluster"`
	Member   string   `json:"member"`
	Members  []string `json:"members"`           // the member set the assignment uses
	Leaving  []string `json:"leaving,omitempty"` // members draining
	Replicas int      `json:"replicas"`

	// This member's share of the shared listing, by role.
	Markets          int `json:"markets"` // carried: publisher + replica + releasing
	Publishing       int `json:"publishing"`
	Replica          int `json:"replica"`
	Releasing        int `json:"releasing"`
	Assets           int `json:"assets"` // assets of the carried markets
	PublishingAssets int `json:"publishing_assets"`
	ListedMarkets    int `json:"listed_markets"` // the whole shared listing

	HandoversIn       uint64    `json:"handovers_in"`  // markets this member started publishing
	HandoversOut      uint64    `json:"handovers_out"` // markets it stopped publishing after a handover
	HandoverTimeouts  uint64    `json:"handover_timeouts"`
	HandoverMaxMs     int64     `json:"handover_max_ms"` // longest completed make-before-break
	EpochRestarts     uint64    `json:"epoch_restarts"`  // assets whose epoch we raised over a handing-over member's
	MembershipChanges uint64    `json:"membership_changes"`
	LastChange        time.Time `json:"last_change"`
	LastJoined        []string  `json:"last_joined,omitempty"`
	LastLeft          []string  `json:"last_left,omitempty"`

	Frozen          bool   `json:"frozen"` // NATS away: the assignment is held
	Freezes         uint64 `json:"freezes"`
	Heartbeats      uint64 `json:"heartbeats"`
	HeartbeatErrors uint64 `json:"heartbeat_errors"`
	IDConflicts     uint64 `json:"id_conflicts"` // another process uses this member id
	BadValues       uint64 `json:"bad_values"`   // malformed heartbeats or listing entries, ignored
	WatchResets     uint64 `json:"watch_resets"` // member watch found behind the bucket and restarted

	ListingWrites      uint64 `json:"listing_writes"`
	ListingWriteErrors uint64 `json:"listing_write_errors"`
}

// Stats returns this member's statistics. It walks the shared listing, so
// call it per scrape, not per event.
func (n *Node) Stats() Stats {
	v := n.view.Load()
	s := Stats{
		Cluster:  n.cfg.Cluster,
		Member:   n.cfg.ID,
		Members:  v.assign.Members(),
		Replicas: n.cfg.Replicas,
	}
	if n.members == nil { // not started
		return s
	}
	for _, hb := range n.members.all() {
		if hb.Leaving {
			s.Leaving = append(s.Leaving, hb.ID)
		}
	}
	for _, m := range n.listing.snapshot() {
		s.ListedMarkets++
		r := v.role(m.ConditionID)
		if r == RoleNone {
			continue
		}
		s.Markets++
		s.Assets += len(m.AssetIDs)
		switch r {
		case RolePublisher:
			s.Publishing++
			s.PublishingAssets += len(m.AssetIDs)
		case RoleReleasing:
			s.Releasing++
			s.PublishingAssets += len(m.AssetIDs)
		case RoleReplica:
			s.Replica++
		}
	}
	s.HandoversIn = n.handoversIn.Load()
	s.HandoversOut = n.handoversOut.Load()
	s.HandoverTimeouts = n.handoverTimeouts.Load()
	s.HandoverMaxMs = n.handoverMaxMs.Load()
	s.EpochRestarts = n.claims.restarts.Load()
	s.MembershipChanges = n.membershipChanges.Load()
	if c := n.lastChange.Load(); c != nil {
		s.LastChange, s.LastJoined, s.LastLeft = c.at, c.joined, c.left
	}
	s.Frozen = n.frozen.Load()
	s.Freezes = n.freezes.Load()
	s.Heartbeats = n.members.heartbeats.Load()
	s.HeartbeatErrors = n.members.heartbeatErrors.Load()
	s.IDConflicts = n.members.conflicts.Load()
	s.WatchResets = n.members.watchResets.Load()
	s.BadValues = n.members.badValues.Load() + n.listing.badValues.Load() + n.claims.bad.Load()
	s.ListingWrites = n.listing.writes.Load()
	s.ListingWriteErrors = n.listing.writeErrs.Load()
	return s
}
