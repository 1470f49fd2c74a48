package engine

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/polyfeed/polyfeed/book"
)

// control is a request that travels the data path (inbound queue → router →
// worker ring) instead of touching a worker's books from outside: the worker
// answers it between events, so reads never lock the hot path and always see
// a state consistent with event order. Control requests allocate; they are
// operator and lifecycle traffic, not per event.
type control struct {
	op    controlOp
	asset string // ctlReadBook
	depth int    // ctlReadBook: max levels a side, 0 = all
	view  BookView
	found bool

	assets []string      // ctlDropAssets, ctlMigrate, ctlFinishMigration: as asked
	routes []*assetRoute // per-worker sub-requests: the routes of that worker
	mig    *Migration
	conn   int64 // ctlInvalidateConn

	// A request split over several workers finishes when its last part does.
	parent *control
	remain atomic.Int32

	done chan struct{} // closed once answered (nil for fire-and-forget)
	err  error
}

type controlOp uint8

const (
	ctlReadBook        controlOp = iota + 1 // router → one worker → caller
	ctlDropAssets                           // router forgets routes, workers forget books
	ctlMigrate                              // workers mark routes as migrating
	ctlFinishMigration                      // workers force the outcome
	ctlAbortMigration                       // workers forget an unswitched migration
	ctlInvalidateConn                       // workers invalidate the books a dead socket owned
)

func (c *control) finish(err error) {
	if c.parent != nil {
		c.parent.partDone()
		return
	}
	c.err = err
	if c.done != nil {
		close(c.done)
	}
}

// split prepares c to be answered by n parts plus the router's own guard.
func (c *control) split() { c.remain.Store(1) }

func (c *control) part(routes []*assetRoute) *control {
	c.remain.Add(1)
	return &control{op: c.op, routes: routes, mig: c.mig, conn: c.conn, parent: c}
}

func (c *control) partDone() {
	if c.remain.Add(-1) == 0 {
		c.finish(nil)
	}
}

// BookView is a copy of one book, safe to keep and marshal: the shape the
// admin endpoint /books/{asset_id} serves.
type BookView = book.View

var (
	errEngineBusy = errors.New("worker ring full, try again")
	errStopped    = errors.New("engine stopped")
)

// waitControl waits for c to be answered or ctx to end.
func waitControl(ctx context.Context, c *control) error {
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}
