package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Market is one entry of the shared listing: what a member needs to subscribe
// a market its own Gamma listing did not return. Field meanings follow Gamma
// (engine.Market); TickSize is a decimal string as the venue sends it.
type Market struct {
	ID          string   `json:"id,omitempty"`
	ConditionID string   `json:"condition_id"`
	Question    string   `json:"question,omitempty"`
	Slug        string   `json:"slug,omitempty"`
	AssetIDs    []string `json:"asset_ids"`
	Outcomes    []string `json:"outcomes,omitempty"`
	EndMs       int64    `json:"end_ms,omitempty"` // 0: no scheduled end
	NegRisk     bool     `json:"neg_risk,omitempty"`
	TickSize    string   `json:"tick_size,omitempty"`
}

// valid reports whether m can be keyed and subscribed: a condition id usable
// as a KV key and at least one asset.
func (m *Market) valid() bool {
	return m.ConditionID != "" && idRE.MatchString(m.ConditionID) &&
		!strings.HasPrefix(m.ConditionID, ".") && !strings.HasSuffix(m.ConditionID, ".") &&
		len(m.AssetIDs) > 0 && !slices.Contains(m.AssetIDs, "")
}

// parseMarket decodes the listing value of key conditionID.
func parseMarket(conditionID string, data []byte) (Market, error) {
	var m Market
	if err := json.Unmarshal(data, &m); err != nil {
		return Market{}, fmt.Errorf("cannot decode market: %w", err)
	}
	if m.ConditionID != conditionID || !m.valid() {
		return Market{}, fmt.Errorf("cannot use market under key %q: condition id %q, %d assets", conditionID, m.ConditionID, len(m.AssetIDs))
	}
	return m, nil
}

type listed struct {
	m       Market
	raw     []byte
	created time.Time
}

// listing is the market universe shared through polyfeed_<cluster>_markets:
// key = condition id, value = Market as JSON. Every member writes what its own
// discovery finds and reads what all of them found, so one failed Gamma
// listing does not shrink the universe. Entries age out ListingMaxAge after
// the last member that listed them stopped rewriting them.
//
// snapshot, get and the counters are safe for concurrent use; watchLoop runs
// on one goroutine owned by the Node; put and remove may be called from any
// goroutine.
type listing struct {
	kv   jetstream.KeyValue
	js   jetstream.JetStream
	cfg  *Config
	log  *slog.Logger
	wake func()

	mu      sync.RWMutex
	markets map[string]listed
	// local holds the markets this member shared whose entries have not
	// come back through the watch yet. They are part of the snapshot at
	// once: at start-up a listing of thousands of markets takes seconds to
	// write, and a member set that changes meanwhile hands over only the
	// markets in the snapshot. The others would change publisher without
	// make before break.
	local map[string]Market
	ready chan struct{}
	once  sync.Once

	writes    atomic.Uint64
	writeErrs atomic.Uint64
	badValues atomic.Uint64
	loggedBad atomic.Bool
}

func newListing(js jetstream.JetStream, kv jetstream.KeyValue, cfg *Config, wake func()) *listing {
	return &listing{kv: kv, js: js, cfg: cfg, log: cfg.Logger, wake: wake, markets: map[string]listed{}, local: map[string]Market{}, ready: make(chan struct{})}
}

// listingBatch is how many listing writes are in flight at once: enough to
// hide the round trip, below the JetStream client's async pending limit (256,
// set in Node.Start), past which publishing stalls.
const listingBatch = 200

// put writes the markets that are new, changed, or older than half of
// ListingMaxAge, and returns how many it wrote. Writes go out asynchronously
// in batches, so a listing of 50,000 markets costs round trips in flight, not
// in series.
func (l *listing) put(ctx context.Context, ms []Market) (int, error) {
	refresh := time.Now().Add(-l.cfg.ListingMaxAge / 2)
	var futures []jetstream.PubAckFuture
	written, bad := 0, 0
	var firstErr error
	wait := func() error {
		for _, f := range futures {
			select {
			case <-f.Ok():
				l.writes.Add(1)
				written++
			case err := <-f.Err():
				l.writeErrs.Add(1)
				if firstErr == nil {
					firstErr = fmt.Errorf("cannot write market listing: %w", err)
				}
			case <-ctx.Done():
				return fmt.Errorf("cannot write market listing: %w", ctx.Err())
			}
		}
		futures = futures[:0]
		return nil
	}
	for i := range ms {
		m := &ms[i]
		if !m.valid() {
			bad++
			continue
		}
		raw, err := json.Marshal(m)
		if err != nil {
			return written, fmt.Errorf("cannot encode market %s: %w", m.ConditionID, err)
		}
		l.mu.Lock()
		cur, ok := l.markets[m.ConditionID]
		if !ok {
			mine := *m
			mine.AssetIDs, mine.Outcomes = slices.Clone(m.AssetIDs), slices.Clone(m.Outcomes)
			l.local[m.ConditionID] = mine
		}
		l.mu.Unlock()
		if ok && bytes.Equal(cur.raw, raw) && cur.created.After(refresh) {
			continue
		}
		f, err := l.js.PublishAsync("$KV."+marketsBucket(l.cfg.Cluster)+"."+m.ConditionID, raw)
		if err != nil {
			l.writeErrs.Add(1)
			return written, fmt.Errorf("cannot write market %s: %w", m.ConditionID, err)
		}
		futures = append(futures, f)
		if len(futures) >= listingBatch {
			if err := wait(); err != nil {
				return written, err
			}
		}
	}
	if err := wait(); err != nil {
		return written, err
	}
	if bad > 0 {
		l.badValues.Add(uint64(bad))
		if !l.loggedBad.Swap(true) {
			l.log.Warn("not sharing markets without a usable condition id or assets", "count", bad)
		}
	}
	return written, firstErr
}

// remove deletes a market from the shared listing (closed or resolved).
func (l *listing) remove(ctx context.Context, conditionID string) error {
	if err := l.kv.Delete(ctx, conditionID); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("cannot remove market %s: %w", conditionID, err)
	}
	return nil
}

// watchLoop follows the markets bucket until ctx ends, starting the watch
// again if it breaks.
func (l *listing) watchLoop(ctx context.Context) {
	for ctx.Err() == nil {
		w, err := l.kv.WatchAll(ctx)
		if err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(l.cfg.Heartbeat):
				continue
			}
		}
		l.follow(ctx, w)
		_ = w.Stop() // the watch is gone either way
	}
}

func (l *listing) follow(ctx context.Context, w jetstream.KeyWatcher) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil {
				l.once.Do(func() { close(l.ready) })
				l.wake()
				continue
			}
			l.apply(e)
		}
	}
}

func (l *listing) apply(e jetstream.KeyValueEntry) {
	key := e.Key()
	if op := e.Operation(); op == jetstream.KeyValueDelete || op == jetstream.KeyValuePurge {
		l.mu.Lock()
		delete(l.markets, key)
		delete(l.local, key)
		l.mu.Unlock()
		l.wake()
		return
	}
	m, err := parseMarket(key, e.Value())
	if err != nil {
		l.badValues.Add(1)
		if !l.loggedBad.Swap(true) {
			l.log.Warn("ignoring a malformed shared market", "key", key, "err", err)
		}
		return
	}
	l.mu.Lock()
	l.markets[key] = listed{m: m, raw: slices.Clone(e.Value()), created: e.Created()}
	delete(l.local, key)
	l.mu.Unlock()
	l.wake()
}

// snapshot returns the shared markets sorted by condition id. The caller owns
// the slice but must not modify the markets' slices.
func (l *listing) snapshot() []Market {
	l.mu.RLock()
	ms := make([]Market, 0, len(l.markets)+len(l.local))
	for _, e := range l.markets {
		ms = append(ms, e.m)
	}
	for _, m := range l.local { // never also in markets
		ms = append(ms, m)
	}
	l.mu.RUnlock()
	slices.SortFunc(ms, func(a, b Market) int { return strings.Compare(a.ConditionID, b.ConditionID) })
	return ms
}

func (l *listing) len() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.markets) + len(l.local)
}
