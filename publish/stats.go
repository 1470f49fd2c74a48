package publish

// Stats is a snapshot of the Publisher's counters, served under "publish"
// in /stats.
type Stats struct {
	// Connection is the NATS client's state (CONNECTED, RECONNECTING, …).
	Connection string `json:"connection"`
	// Ready: connected and the streams exist; messages flow.
	Ready bool `json:"ready"`
	// Queued counts messages handed to the sender, Published those the
	// server acknowledged, Dropped those never stored (queue full, NATS
	// unreachable, publish or acknowledgement failure).
	Queued    uint64 `json:"queued"`
	Published uint64 `json:"published"`
	Dropped   uint64 `json:"dropped"`
	// Probes counts messages published a second time to ask for their
	// batch's acknowledgement (the queues ran dry and no message followed
	// within 5 ms).
	Probes uint64 `json:"probes"`
	// AckRetries counts acknowledgement probes sent again because a
	// clustered stream was still replicating the message they repeat.
	AckRetries uint64 `json:"ack_retries"`
	// PendingAcks is messages published and not yet acknowledged;
	// QueueDepth is messages waiting for the sender.
	PendingAcks int `json:"pending_acks"`
	QueueDepth  int `json:"queue_depth"`
	// StaleNotices counts status stale messages published.
	StaleNotices uint64 `json:"stale_notices"`
	// Books counts book messages published.
	Books uint64 `json:"books"`
	// Closed counts assets closed; Yielded assets left to a publisher with
	// a higher epoch; BadAssets ids that cannot be a subject token.
	Closed    uint64 `json:"closed"`
	Yielded   uint64 `json:"yielded"`
	BadAssets uint64 `json:"bad_assets"`
	// Moved counts assets this instance stopped publishing because
	// Config.Gate moved them to another instance; Resumed epochs it started
	// when the gate gave an asset to it (or a cluster handover restarted it).
	Moved   uint64 `json:"moved,omitempty"`
	Resumed uint64 `json:"resumed,omitempty"`
	// Disconnects and Reconnects count NATS connection changes.
	Disconnects uint64 `json:"disconnects"`
	Reconnects  uint64 `json:"reconnects"`
}

// Stats returns the current counters. Safe from any goroutine.
func (p *Publisher) Stats() Stats {
	st := Stats{
		Connection:  p.cfg.Conn.Status().String(),
		Ready:       p.ready.Load(),
		Disconnects: p.disconnect.Load(),
		Reconnects:  p.reconnects.Load(),
	}
	for _, h := range p.handlers {
		st.Queued += h.queued.Load()
		st.Dropped += h.dropped.Load()
		st.StaleNotices += h.staleNotices.Load()
		st.Books += h.books.Load()
		st.Closed += h.closed.Load()
		st.Yielded += h.yielded.Load()
		st.BadAssets += h.badAssets.Load()
		st.Moved += h.moved.Load()
		st.Resumed += h.resumed.Load()
		st.QueueDepth += h.q.Len()
	}
	st.Published = p.sender.published.Load()
	st.Dropped += p.sender.dropped.Load()
	st.Probes = p.sender.probes.Load()
	st.AckRetries = p.sender.retried.Load()
	st.PendingAcks = p.sender.pending()
	return st
}
