package venue

import "time"

// PoolSummary is the pool in the seed's /stats schema (the engine's Stats.Pool),
// plus what recycling does to placement.
type PoolSummary struct {
	ConnectionCount   int `json:"connection_count"`
	ActiveConnections int `json:"active_connections"`
	// Recycling connections take no new assets; RecyclingRefused counts the
	// assets placed elsewhere that one of them had room for. ClosedInvalidated
	// counts connections the pool closed whose books were invalidated at once.
	Recycling         int              `json:"recycling_connections"`
	RecyclingRefused  uint64           `json:"assets_refused_by_recycling"`
	ClosedInvalidated uint64           `json:"closed_connections_invalidated"`
	Connections       []ConnectionStat `json:"connections"`
}

// ConnectionStat is one connection in the seed's schema plus liveness.
type ConnectionStat struct {
	ConnectionID     int64   `json:"connection_id"`
	Status           string  `json:"status"`
	AgeSeconds       float64 `json:"age_seconds"`
	MessagesReceived uint64  `json:"messages_received"`
	BytesReceived    uint64  `json:"bytes_received"`
	Reconnects       uint64  `json:"reconnects"`
	LastDataAgoSec   float64 `json:"last_data_seconds_ago"`
	Total            int     `json:"total"`
	Active           int     `json:"active"`
	Expired          int     `json:"expired"`
	// PollutionRatio is the registry's view: expired / total assets assigned
	// to the connection (the seed's schema). RecyclePollutionRatio is what the
	// recycler triggers on: the share of the assets the socket carries that
	// are not live on it, (carried − active) / carried; it also counts assets
	// removed from the registry while still subscribed.
	PollutionRatio        float64 `json:"pollution_ratio"`
	Carried               int     `json:"carried"`
	RecyclePollutionRatio float64 `json:"recycle_pollution_ratio"`
}

// Summary returns s in the seed's schema; now dates each connection's last
// data. A pure function of s: safe anywhere.
func (s PoolStats) Summary(now time.Time) PoolSummary {
	out := PoolSummary{ConnectionCount: s.ConnectionCount, ActiveConnections: s.ActiveConnections,
		Recycling: s.Recycling, RecyclingRefused: s.RecyclingRefused, ClosedInvalidated: s.ClosedInvalidated,
		Connections: []ConnectionStat{}}
	for _, pc := range s.Conns {
		cs := ConnectionStat{
			ConnectionID:     pc.ID,
			Status:           pc.Status.String(),
			MessagesReceived: pc.Messages,
			BytesReceived:    pc.Bytes,
			Reconnects:       pc.Reconnects,
			Total:            pc.RegTotal,
			Active:           pc.RegActive,
			Expired:          pc.RegExpired,
			PollutionRatio:   pc.Pollution,
			Carried:          pc.Assets,
			AgeSeconds:       pc.Age.Seconds(),
		}
		if pc.Assets > 0 {
			cs.RecyclePollutionRatio = float64(max(pc.Assets-pc.RegActive, 0)) / float64(pc.Assets)
		}
		if !pc.LastData.IsZero() {
			cs.LastDataAgoSec = now.Sub(pc.LastData).Seconds()
		}
		out.Connections = append(out.Connections, cs)
	}
	return out
}
