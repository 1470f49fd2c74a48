package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"time"

	"github.com/polyfeed/polyfeed/internal/fill"
)

// Defaults, filled in by New. Their reasons are in Config.
const (
	defaultReplicas        = 1
	defaultHeartbeat       = time.Second
	defaultExpiry          = 3 * time.Second
	defaultSettle          = 500 * time.Millisecond
	defaultHandoverTimeout = 10 * time.Second
	defaultPrefix          = "polyfeed"
	defaultListingMaxAge   = 24 * time.Hour
	defaultStorageReplicas = 1
	// markerTTL is how long an expiry marker stays in the members bucket:
	// long enough for every watcher to see it, and 1 s is the server's floor.
	markerTTL = 5 * time.Second
	// tick is how often the controller checks the NATS connection, the settle
	// deadline and handover timeouts.
	tick = 100 * time.Millisecond
)

// Config configures a Node. Zero values take the defaults named beside them.
type Config struct {
	// Cluster names the cluster: letters, digits, '_' or '-'. It names the
	// buckets polyfeed_<Cluster>_members and polyfeed_<Cluster>_markets.
	Cluster string
	// ID names this member, unique in the cluster and stable across restarts
	// (so a restarted instance gets its markets back): letters, digits and
	// "-_=.". Default: the host name and process id.
	ID string
	// Replicas is how many members carry each market (default 1). The
	// highest-ranked one publishes, the others keep warm books. Every member
	// of a cluster must use the same value; members advertise theirs and a
	// mismatch is logged.
	Replicas int
	// Heartbeat is how often this member writes its key (default 1 s).
	Heartbeat time.Duration
	// Expiry is the members bucket's max age: a member whose last heartbeat
	// is older is gone (default 3 s, three heartbeats). It is what a replica
	// waits before taking over from a killed publisher.
	Expiry time.Duration
	// Settle is how long the member set must stay unchanged before the
	// assignment follows it (default 500 ms), so a burst of changes (a
	// rolling restart, NATS coming back) moves markets once.
	Settle time.Duration
	// ReconnectHold is how long after the NATS connection returns the
	// assignment stays frozen while the members' heartbeats come back
	// (default Expiry + Heartbeat). It must exceed the members' reconnect
	// wait, or a member still reconnecting looks gone and its markets move.
	ReconnectHold time.Duration
	// HandoverTimeout bounds make before break: a member that lost a market
	// keeps publishing it until the new publisher's book is on the stream or
	// this much time has passed (default 10 s).
	HandoverTimeout time.Duration
	// Prefix is the stream's subject prefix (default "polyfeed"); handovers
	// watch <Prefix>.v1.book.<asset>.
	Prefix string
	// StorageReplicas is the replication of the KV buckets on the NATS
	// cluster (default 1; use 3 on a 3-node cluster).
	StorageReplicas int
	// ListingMaxAge is how long a market stays in the shared listing after the
	// last member that listed it stopped (default 24 h). Members rewrite
	// entries older than half of it.
	ListingMaxAge time.Duration
	// Publisher, when set, is this instance's stream publisher: a handover
	// learns from it the epoch this member publishes an asset under, so the
	// new publisher's book is recognised exactly, and asks it to start a new
	// epoch when another member hands an asset over under a higher epoch than
	// ours. When nil, the latest book on the <PREFIX>_EVENTS stream at the
	// start of a handover stands in for our epoch, and such a handover ends
	// at its timeout.
	Publisher Publisher
	// Logger receives state changes (never one line per event). Default:
	// slog.Default().
	Logger *slog.Logger
}

// Publisher is what the cluster needs from this instance's stream publisher.
// Its methods are called from the cluster's goroutines, concurrently with
// publishing, and must not block.
type Publisher interface {
	// Epoch returns the epoch under which the publisher currently publishes
	// an asset; ok is false when it does not (yet).
	Epoch(assetID string) (epoch uint64, ok bool)
	// Restart makes the publisher start a new epoch for an asset, above
	// `above`, and publish a fresh book under it as soon as it has one. The
	// cluster calls it when a member handing the asset over to this one
	// publishes under a higher epoch than ours: both published it for a
	// moment (their member sets differed while settling), and by the wire
	// rules ours would be ignored while theirs waits for ours to overtake it.
	Restart(assetID string, above uint64)
}

var (
	nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	idRE   = regexp.MustCompile(`^[-/_=.A-Za-z0-9]+$`)
)

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("invalid cluster config")

func (c *Config) fill() error {
	if !nameRE.MatchString(c.Cluster) {
		return fmt.Errorf("%w: cluster name %q: want letters, digits, '_' or '-'", ErrConfig, c.Cluster)
	}
	if c.ID == "" {
		host, _ := os.Hostname()
		c.ID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if !idRE.MatchString(c.ID) || c.ID[0] == '.' || c.ID[len(c.ID)-1] == '.' {
		return fmt.Errorf("%w: member id %q: want letters, digits, '-', '_', '=' or '.'", ErrConfig, c.ID)
	}
	fill.Zero(&c.Replicas, defaultReplicas)
	fill.Zero(&c.Heartbeat, defaultHeartbeat)
	fill.Zero(&c.Expiry, defaultExpiry)
	fill.Zero(&c.Settle, defaultSettle)
	fill.Zero(&c.ReconnectHold, c.Expiry+c.Heartbeat)
	fill.Zero(&c.HandoverTimeout, defaultHandoverTimeout)
	fill.Zero(&c.Prefix, defaultPrefix)
	fill.Zero(&c.StorageReplicas, defaultStorageReplicas)
	fill.Zero(&c.ListingMaxAge, defaultListingMaxAge)
	fill.Zero(&c.Logger, slog.Default())
	switch {
	case c.Replicas < 1:
		return fmt.Errorf("%w: replicas %d: want at least 1", ErrConfig, c.Replicas)
	case c.Heartbeat < 10*time.Millisecond:
		return fmt.Errorf("%w: heartbeat %v: want at least 10ms", ErrConfig, c.Heartbeat)
	case c.Expiry < 2*c.Heartbeat:
		return fmt.Errorf("%w: expiry %v: want at least two heartbeats (%v)", ErrConfig, c.Expiry, 2*c.Heartbeat)
	case c.Settle < 0 || c.ReconnectHold < 0 || c.HandoverTimeout < 0:
		return fmt.Errorf("%w: negative duration", ErrConfig)
	case !nameRE.MatchString(c.Prefix):
		return fmt.Errorf("%w: prefix %q: want letters, digits, '_' or '-'", ErrConfig, c.Prefix)
	case c.StorageReplicas < 1 || c.StorageReplicas > 5:
		return fmt.Errorf("%w: storage replicas %d: want 1 to 5", ErrConfig, c.StorageReplicas)
	}
	return nil
}

func membersBucket(cluster string) string { return "polyfeed_" + cluster + "_members" }
func marketsBucket(cluster string) string { return "polyfeed_" + cluster + "_markets" }
