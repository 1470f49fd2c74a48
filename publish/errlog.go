package publish

import (
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// errLogEvery bounds how often publish failures are logged: they are
// counted per message (publish.dropped) and logged with context at most
// this often.
const errLogEvery = 30 * time.Second

// errLog logs the first failure, then at most one per errLogEvery with the
// number of failures since the last line. Safe for concurrent use.
type errLog struct {
	next   atomic.Int64 // unix ns before which nothing is logged
	missed atomic.Uint64
}

func (l *errLog) log(log *slog.Logger, msg string, err error, asset string) {
	now := time.Now().UnixNano()
	next := l.next.Load()
	if now < next || !l.next.CompareAndSwap(next, now+int64(errLogEvery)) {
		l.missed.Add(1)
		return
	}
	log.Warn(msg, "err", err, "asset", asset, "more_since_last_log", l.missed.Swap(0))
}

// noStream reports a failure that means the streams are gone (deleted, or
// a server that came back empty without the client noticing a reconnect).
func noStream(err error) bool {
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, jetstream.ErrStreamNotFound)
}
