package venue

// Tap sees what a connection does on its socket, for a recorder: every socket
// opened, every subscribe and unsubscribe written, every socket lost. Frames
// reach a recorder through the FrameSink, not through Tap.
//
// Contract: methods are called on the connection's own goroutines and must
// return at once (queue, never wait). Arguments are valid only during the
// call; copy what you keep. Calls for one connection are sequential and in
// the order the connection saw them.
type Tap interface {
	OnOpen(conn int64, url string)
	OnSubscribe(conn int64, assets []string, initial bool)
	OnUnsubscribe(conn int64, assets []string)
	OnClose(conn int64, code uint16, reason string)
}

// lastErrString is the last disconnect reason, for the tap's close record.
func (c *Conn) lastErrString() string {
	if p := c.lastErr.Load(); p != nil {
		return *p
	}
	return ""
}
