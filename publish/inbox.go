package publish

import (
	"sync"
	"sync/atomic"
)

// noteKind is what another goroutine tells a worker's handler.
type noteKind uint8

const (
	noteLost    noteKind = iota + 1 // a message of this asset and epoch was not stored
	noteYield                       // a higher epoch of this asset is on the stream
	noteClosed                      // the asset's market expired or resolved
	noteRebook                      // the streams were (re)made: a book of every asset is owed
	noteRestart                     // start a new epoch above note.epoch (Publisher.Restart, gate.go)
)

type note struct {
	kind  noteKind
	asset string
	epoch int64
}

// inbox carries notes from senders, the NATS callbacks and MarketExpired to
// one worker's handler, which reads them under the worker's consumer role.
// The handler checks one atomic flag per tick and takes the lock only when
// notes wait.
type inbox struct {
	mu      sync.Mutex
	notes   []note
	pending atomic.Bool
}

func (b *inbox) put(n note) {
	b.mu.Lock()
	b.notes = append(b.notes, n)
	b.pending.Store(true)
	b.mu.Unlock()
}

// take appends every waiting note to dst and empties the inbox.
func (b *inbox) take(dst []note) []note {
	if !b.pending.Load() {
		return dst
	}
	b.mu.Lock()
	dst = append(dst, b.notes...)
	clear(b.notes)
	b.notes = b.notes[:0]
	b.pending.Store(false)
	b.mu.Unlock()
	return dst
}
