package sim

import "time"

// Stats is a snapshot of the simulator's counters (GET /sim/stats).
type Stats struct {
	Ticks       int64     `json:"ticks"`
	VirtualTime time.Time `json:"virtual_time"`
	Paused      bool      `json:"paused"`
	Markets     int       `json:"markets"`      // all, closed included
	OpenMarkets int       `json:"open_markets"` // not closed
	LiveMarkets int       `json:"live_markets"` // open with a book: generating events
	// Generated counts messages per event type as generated, once each; Sent counts them
	// per socket delivered to (subscribe snapshots included).
	Generated map[string]uint64 `json:"generated"`
	Sent      map[string]uint64 `json:"sent"`
	// Dropped counts messages not sent because the socket was stalled (fault).
	Dropped          uint64            `json:"dropped"`
	SnapshotsSkipped uint64            `json:"snapshots_skipped"` // snapshot cap fault
	Injected         map[string]uint64 `json:"injected"`          // extra fault frames
	Connections      int               `json:"connections"`
	ConnectionsTotal uint64            `json:"connections_total"`
	Subscriptions    int               `json:"subscriptions"` // asset subscriptions, all sockets
	SlowCloses       uint64            `json:"slow_closes"`   // dropped for an overfull queue
	FaultCloses      uint64            `json:"fault_closes"`
	BytesWritten     uint64            `json:"bytes_written"`
	GammaRequests    uint64            `json:"gamma_requests"`
	Gamma429         uint64            `json:"gamma_429"`
	Gamma5xx         uint64            `json:"gamma_5xx"`
	GammaHangs       uint64            `json:"gamma_hangs"`
	GammaGarbage     uint64            `json:"gamma_garbage"`
	GammaEmpty       uint64            `json:"gamma_empty"`     // listings answered with no market
	GammaCuts        uint64            `json:"gamma_cuts"`      // keyset pages that lost next_cursor
	GammaShifts      uint64            `json:"gamma_shifts"`    // markets closed between offset pages
	GammaNoKeyset    uint64            `json:"gamma_no_keyset"` // keyset requests answered 404
	// OneSided counts markets that lost a whole side (onesided fault);
	// OneSidedNow is how many are one-sided at this moment.
	OneSided    uint64 `json:"one_sided"`
	OneSidedNow int    `json:"one_sided_now"`
}

// Stats returns the current counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	st := Stats{
		Ticks: s.tickNo, VirtualTime: time.UnixMilli(s.nowMs).UTC(), Paused: s.paused,
		Markets: len(s.markets), LiveMarkets: len(s.live),
		Generated: map[string]uint64{}, Sent: map[string]uint64{}, Injected: map[string]uint64{},
		Dropped: s.dropped, SnapshotsSkipped: s.snapSkipped, OneSided: s.oneSided,
		Connections: len(s.sockets), Subscriptions: s.subscriptions,
	}
	for _, m := range s.markets {
		if !m.closed {
			st.OpenMarkets++
		}
		if m.oneSided {
			st.OneSidedNow++
		}
	}
	for k := range numKinds {
		st.Generated[kindNames[k]] = s.generated[k]
		st.Sent[kindNames[k]] = s.sent[k]
	}
	for i, n := range injectionNames {
		st.Injected[n] = s.injected[i]
	}
	s.mu.Unlock()
	st.ConnectionsTotal = s.connsTotal.Load()
	st.SlowCloses = s.slowCloses.Load()
	st.FaultCloses = s.faultCloses.Load()
	st.BytesWritten = s.bytesWritten.Load()
	st.GammaRequests = s.gammaRequests.Load()
	st.Gamma429 = s.gamma429.Load()
	st.Gamma5xx = s.gamma5xx.Load()
	st.GammaHangs = s.gammaHangs.Load()
	st.GammaGarbage = s.gammaGarbage.Load()
	st.GammaEmpty = s.gammaEmpty.Load()
	st.GammaCuts = s.gammaCuts.Load()
	st.GammaShifts = s.gammaShifts.Load()
	st.GammaNoKeyset = s.gammaNoKeyset.Load()
	return st
}
