package natsd

import (
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// A full disk takes the stream down in one of two ways, and neither mends
// itself once the disk has room again; only a restart of the process did:
//   - the server turns JetStream off ("JetStream out of space, will be
//     DISABLED");
//   - a stream whose write failed keeps that error and refuses every later
//     message ("critical write error"), with JetStream still on. The server
//     says so only in its log, so slogLogger watches for those words.
//
// keepJetStream mends both by restarting JetStream, which opens every
// stream again from its files. It checks every jsCheckEvery; while the
// stream is down it tries every jsRetryEvery (longer, see backoff, when it
// goes down again right after a restart), but only when the store's
// file system has at least jsMinFree bytes free, so that a disk still full
// does not bring JetStream up only to lose it on the next write (and log
// the server's errors each time).
const (
	jsCheckEvery  = time.Second
	jsRetryEvery  = 5 * time.Second
	jsRetryMax    = 5 * time.Minute
	jsStableAfter = time.Minute
	jsMinFree     = 64 << 20
)

// backoff is the retry period across outages. An outage that starts within
// jsStableAfter of the last restart doubles it (up to jsRetryMax) and is a
// repeat: a store that fails again at once (a broken disk, not a full one)
// is retried ever more slowly and logged once, not every few seconds.
type backoff struct {
	wait     time.Duration
	lastBack time.Time
}

// outage starts one at now and reports whether it repeats the last.
func (b *backoff) outage(now time.Time) (repeat bool) {
	if !b.lastBack.IsZero() && now.Sub(b.lastBack) < jsStableAfter {
		b.wait = min(2*max(b.wait, jsRetryEvery), jsRetryMax)
		return true
	}
	b.wait = jsRetryEvery
	return false
}

// back records a restart at now.
func (b *backoff) back(now time.Time) { b.lastBack = now }

// Stats counts what the server went through.
type Stats struct {
	// JetStreamDown is true while the server has JetStream off.
	JetStreamDown bool `json:"jetstream_down"`
	// JetStreamOutages counts the times the server turned JetStream off.
	JetStreamOutages uint64 `json:"jetstream_outages"`
	// JetStreamRestarts counts the times it was turned back on.
	JetStreamRestarts uint64 `json:"jetstream_restarts"`
}

type keeper struct {
	wedged   atomic.Bool // the server logged a stream's critical write error
	down     atomic.Bool
	outages  atomic.Uint64
	restarts atomic.Uint64
}

// Stats may be called from any goroutine.
func (s *Server) Stats() Stats {
	return Stats{
		JetStreamDown:     s.keep.down.Load(),
		JetStreamOutages:  s.keep.outages.Load(),
		JetStreamRestarts: s.keep.restarts.Load(),
	}
}

// keepJetStream runs until stop is closed; Start starts it and Stop waits
// for it.
func (s *Server) keepJetStream(srv *server.Server, opts *server.Options, stop <-chan struct{}) {
	t := time.NewTicker(jsCheckEvery)
	defer t.Stop()
	var since, next time.Time
	var bo backoff
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		now := time.Now()
		enabled := srv.JetStreamEnabled()
		if enabled && !s.keep.wedged.Load() {
			if !since.IsZero() {
				s.keep.down.Store(false)
				s.keep.restarts.Add(1)
				bo.back(now)
				s.cfg.Logger.Info("JetStream is back", "component", "nats-server", "down_for", now.Sub(since).Round(time.Millisecond))
				since = time.Time{}
			}
			continue
		}
		if since.IsZero() {
			since, next = now, now
			s.keep.down.Store(true)
			s.keep.outages.Add(1)
			what := "JetStream was turned off by the server"
			if enabled {
				what = "a stream could not write"
			}
			log := s.cfg.Logger.Error
			if bo.outage(now) {
				// Down again right after a restart: wait longer, say it once.
				next, log = now.Add(bo.wait), s.cfg.Logger.Debug
			}
			log(what+" (out of disk space?): the stream is down and the books are not published; restarting JetStream when the disk has room",
				"component", "nats-server", "store", opts.StoreDir, "min_free", jsMinFree, "retry_every", bo.wait)
		}
		if now.Before(next) {
			continue
		}
		next = now.Add(bo.wait)
		if free, ok := freeBytes(opts.StoreDir); ok && free < jsMinFree {
			continue
		}
		s.keep.wedged.Store(false) // a write failing again sets it again
		if enabled {
			// Keeps the files: the streams open again from them below.
			if err := srv.ShutdownJetStream(); err != nil {
				s.cfg.Logger.Debug("cannot stop JetStream to restart it", "component", "nats-server", "err", err)
				continue
			}
		}
		// The same configuration the server started JetStream with.
		if err := srv.EnableJetStream(&server.JetStreamConfig{
			StoreDir:     opts.StoreDir,
			SyncInterval: opts.SyncInterval,
			SyncAlways:   opts.SyncAlways,
			Strict:       !opts.NoJetStreamStrict,
			MaxMemory:    opts.JetStreamMaxMemory,
			MaxStore:     opts.JetStreamMaxStore,
			Domain:       opts.JetStreamDomain,
			CompressOK:   true,
			UniqueTag:    opts.JetStreamUniqueTag,
		}); err != nil {
			s.cfg.Logger.Debug("cannot turn JetStream back on yet", "component", "nats-server", "err", err)
		}
	}
}
