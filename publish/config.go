package publish

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/polyfeed/polyfeed/internal/fill"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults, filled in by New.
const (
	DefaultPrefix         = "polyfeed"
	DefaultQueueSize      = 8192
	DefaultMaxPendingAcks = 16384
	DefaultBookEvery      = 1000
	DefaultBookMaxAge     = 60 * time.Second
	DefaultEventsMaxAge   = 10 * time.Minute
	DefaultEventsMaxBytes = 1 << 30
	DefaultDuplicates     = 30 * time.Second
	DefaultBooksMaxAge    = time.Hour
	DefaultAckTimeout     = 5 * time.Second
	DefaultStopTimeout    = 10 * time.Second
	DefaultLinger         = 0
)

// Config configures a Publisher. New fills the documented defaults.
type Config struct {
	// Conn is the NATS connection to publish on (required). The Publisher
	// installs its own disconnect and reconnect handlers on it; the owner
	// closes it after Stop. Connect it with reconnects enabled (e.g.
	// nats.MaxReconnects(-1)) so the Publisher survives server restarts.
	Conn *nats.Conn
	// Prefix is the first subject token and, upper-cased, the prefix of
	// the stream names. One token of letters, digits, '_' or '-'. Default
	// "polyfeed".
	Prefix string
	// Workers is the engine's worker count: Handler(w) is valid for
	// 0 ≤ w < Workers. Required.
	Workers int
	// QueueSize bounds each worker's queue of encoded messages waiting for
	// the sender, in messages. A message that does not fit is dropped.
	// Default 8192.
	QueueSize int
	// MaxPendingAcks bounds the published but unacknowledged messages of
	// all workers together; the sender waits (never a worker) when it is
	// reached, and publishes nothing for any asset meanwhile. While a
	// clustered stream elects a leader nothing is acknowledged, and only
	// AckTimeout frees room (the batch counts as lost), so the bound must
	// hold AckTimeout's worth of messages: the default covers 3,200
	// messages/s at the default 5 s (4096 stopped a cluster member at
	// about 800 messages/s). Default 16384.
	MaxPendingAcks int
	// AckTimeout: a batch whose acknowledgement was asked for and has not
	// come after it counts as lost. Default 5 s.
	AckTimeout time.Duration
	// BookEvery: a book is published after this many other messages of an
	// asset. Default 1000 (the contract's bound).
	BookEvery int
	// BookMaxAge: an asset whose last book is older gets a new one, idle
	// or not. Default 60 s (the contract's bound).
	BookMaxAge time.Duration
	// Gate, when set, limits publishing to the markets it says this
	// instance publishes (a cluster member's share; see gate.go). Nil:
	// every asset is published.
	Gate Gate
	// Storage of both streams. Default file.
	Storage jetstream.StorageType
	// Replicas of both streams (clusters). Default 1.
	Replicas int
	// EventsMaxAge and EventsMaxBytes bound the EVENTS stream. Defaults
	// 10 min and 1 GiB.
	EventsMaxAge   time.Duration
	EventsMaxBytes int64
	// Duplicates is the EVENTS stream's duplicate window. JetStream keeps
	// the Nats-Msg-Id of every message stored within it that carries one
	// (books, and the messages that ask for an acknowledgement or may be
	// published again: sender.go) in memory (about 190 bytes a message, up
	// to about three windows' worth: the server compacts its list lazily),
	// so the window is sized to what needs it: the publisher's only
	// duplicate is a batch's last message published again to ask for the
	// acknowledgement, 5 ms after the first and never after AckTimeout. Default 30 s (JetStream's 2 min held about
	// 100 MiB of ids after 4 min at 2,600 messages/s; docs/STREAM.md); at
	// least AckTimeout, at most EventsMaxAge.
	Duplicates time.Duration
	// BooksMaxAge bounds the BOOKS stream, so closed markets' books age
	// out. Default 1 h.
	BooksMaxAge time.Duration
	// Linger is how long the sender, woken after it was idle, waits for
	// more messages before it publishes, so that one write carries
	// several: fewer wake-ups of the client and the server, for up to
	// Linger of latency. Default none (0 or negative). Measured at 2,000
	// events/s (PERFORMANCE.md), 1 ms took 0–35 % off the CPU that
	// publishing adds and added 1 ms to every message's latency; the
	// default keeps the latency budget (p99 at most 5 ms) for the server
	// and the consumers.
	Linger time.Duration
	// StopTimeout bounds Stop's flush of queued messages. Default 10 s.
	StopTimeout time.Duration
	// Logger receives lifecycle logs, never per-message ones. Default
	// slog.Default().
	Logger *slog.Logger
}

func (c *Config) fill() error {
	fill.Zero(&c.Prefix, DefaultPrefix)
	fill.Zero(&c.QueueSize, DefaultQueueSize)
	fill.Zero(&c.MaxPendingAcks, DefaultMaxPendingAcks)
	fill.Zero(&c.AckTimeout, DefaultAckTimeout)
	fill.Zero(&c.BookEvery, DefaultBookEvery)
	fill.Zero(&c.BookMaxAge, DefaultBookMaxAge)
	fill.Zero(&c.Replicas, 1)
	fill.Zero(&c.EventsMaxAge, DefaultEventsMaxAge)
	fill.Zero(&c.EventsMaxBytes, DefaultEventsMaxBytes)
	fill.Zero(&c.Duplicates, DefaultDuplicates)
	fill.Zero(&c.BooksMaxAge, DefaultBooksMaxAge)
	fill.Zero(&c.StopTimeout, DefaultStopTimeout)
	fill.Zero(&c.Logger, slog.Default())
	var errs []error
	check := func(ok bool, format string, a ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, a...))
		}
	}
	check(c.Conn != nil, "no NATS connection")
	check(c.Workers >= 1, "workers must be at least 1, got %d", c.Workers)
	if err := CheckPrefix(c.Prefix); err != nil {
		errs = append(errs, err)
	}
	check(c.QueueSize >= 16, "queue size must be at least 16, got %d", c.QueueSize)
	check(c.MaxPendingAcks >= 1, "max pending acks must be at least 1, got %d", c.MaxPendingAcks)
	check(c.BookEvery >= 1, "book every must be at least 1, got %d", c.BookEvery)
	check(c.BookMaxAge > 0 && c.AckTimeout > 0 && c.StopTimeout > 0, "durations must be positive")
	check(c.EventsMaxAge >= 2*time.Minute, "events max age must be at least 2m (a late joiner replays 70 s), got %v", c.EventsMaxAge)
	check(c.Duplicates >= c.AckTimeout && c.Duplicates <= c.EventsMaxAge,
		"duplicate window must be between the ack timeout %v and the events max age %v, got %v", c.AckTimeout, c.EventsMaxAge, c.Duplicates)
	check(c.BooksMaxAge > 0 && c.EventsMaxBytes > 0, "stream bounds must be positive")
	return errors.Join(errs...)
}

// CheckPrefix reports whether p is a valid subject prefix: one token of
// ASCII letters, digits, '_' or '-'.
func CheckPrefix(p string) error {
	if p == "" || len(p) > 64 {
		return fmt.Errorf("prefix %q must be 1..64 characters", p)
	}
	for _, r := range p {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-'
		if !ok {
			return fmt.Errorf("prefix %q may only hold letters, digits, '_' and '-'", p)
		}
	}
	return nil
}

// EventsStream and BooksStream name the two streams of prefix.
func EventsStream(prefix string) string { return strings.ToUpper(prefix) + "_EVENTS" }

// BooksStream: see EventsStream.
func BooksStream(prefix string) string { return strings.ToUpper(prefix) + "_BOOKS" }

// Subject returns <prefix>.v1.<typ>.<assetID>.
func Subject(prefix, typ, assetID string) string {
	return prefix + ".v1." + typ + "." + assetID
}
