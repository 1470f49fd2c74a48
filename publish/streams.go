package publish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// streamConfigs returns the EVENTS and BOOKS stream configurations of the
// contract: EVENTS owns every subject of the prefix; BOOKS owns none and
// keeps the last book of every asset, sourced from EVENTS.
func (c *Config) streamConfigs() (events, books jetstream.StreamConfig) {
	events = jetstream.StreamConfig{
		Name:        EventsStream(c.Prefix),
		Description: "polyfeed wire contract v1: every message, in publish order (docs/STREAM.md)",
		Subjects:    []string{c.Prefix + ".v1.>"},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      c.EventsMaxAge,
		MaxBytes:    c.EventsMaxBytes,
		Storage:     c.Storage,
		Replicas:    c.Replicas,
		Duplicates:  c.Duplicates,
		AllowDirect: true,
	}
	books = jetstream.StreamConfig{
		Name:        BooksStream(c.Prefix),
		Description: "polyfeed wire contract v1: the latest book of every asset (docs/STREAM.md)",
		Sources: []*jetstream.StreamSource{{
			Name:          events.Name,
			FilterSubject: c.Prefix + ".v1.book.>",
		}},
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		MaxMsgsPerSubject: 1,
		MaxAge:            c.BooksMaxAge,
		Storage:           c.Storage,
		Replicas:          c.Replicas,
		AllowDirect:       true,
	}
	return events, books
}

// ensureStreams creates both streams, or updates them to this
// configuration; running it again changes nothing.
func ensureStreams(ctx context.Context, js jetstream.JetStream, c *Config) error {
	events, books := c.streamConfigs()
	for _, sc := range []jetstream.StreamConfig{events, books} {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("cannot create stream %s: %w", sc.Name, err)
		}
	}
	return nil
}

// loadEpochs reads the last book of every asset from the BOOKS stream and
// returns each asset's epoch: a publisher starts every asset above it.
func loadEpochs(ctx context.Context, js jetstream.JetStream, c *Config) (map[string]int64, error) {
	out := make(map[string]int64)
	s, err := js.Stream(ctx, BooksStream(c.Prefix))
	if err != nil {
		return nil, fmt.Errorf("cannot open stream %s: %w", BooksStream(c.Prefix), err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot read stream %s: %w", BooksStream(c.Prefix), err)
	}
	if info.State.Msgs == 0 {
		return out, nil
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, fmt.Errorf("cannot read stream %s: %w", BooksStream(c.Prefix), err)
	}
	for {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return nil, fmt.Errorf("cannot read stream %s: %w", BooksStream(c.Prefix), err)
		}
		n, last := 0, false
		for m := range batch.Messages() {
			n++
			if asset, epoch, ok := epochOf(m.Headers().Get(jetstream.MsgIDHeader), m.Data()); ok && epoch > out[asset] {
				out[asset] = epoch
			}
			if md, err := m.Metadata(); err == nil && md.NumPending == 0 {
				last = true
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, fmt.Errorf("cannot read stream %s: %w", BooksStream(c.Prefix), err)
		}
		if last || n == 0 || ctx.Err() != nil {
			return out, ctx.Err()
		}
	}
}

// epochOf reads asset and epoch from a Nats-Msg-Id (<asset>:<epoch>:<seq>),
// or else from the JSON payload.
func epochOf(msgID string, data []byte) (string, int64, bool) {
	if asset, epoch, _, ok := parseMsgID(msgID); ok {
		return asset, epoch, true
	}
	var m struct {
		Asset string `json:"asset_id"`
		Epoch int64  `json:"epoch"`
	}
	if json.Unmarshal(data, &m) != nil || m.Asset == "" {
		return "", 0, false
	}
	return m.Asset, m.Epoch, true
}

// msgID returns the dedup id <asset>:<epoch>:<seq>.
func msgID(asset string, epoch int64, seq uint64) string {
	return string(appendMsgID(make([]byte, 0, len(asset)+32), asset, epoch, seq))
}

// appendMsgID appends msgID(asset, epoch, seq) to b.
func appendMsgID(b []byte, asset string, epoch int64, seq uint64) []byte {
	b = append(b, asset...)
	b = append(b, ':')
	b = strconv.AppendInt(b, epoch, 10)
	b = append(b, ':')
	return strconv.AppendUint(b, seq, 10)
}

// parseMsgID splits <asset>:<epoch>:<seq>.
func parseMsgID(id string) (asset string, epoch int64, seq uint64, ok bool) {
	j := strings.LastIndexByte(id, ':')
	if j <= 0 {
		return "", 0, 0, false
	}
	i := strings.LastIndexByte(id[:j], ':')
	if i <= 0 {
		return "", 0, 0, false
	}
	e, err1 := strconv.ParseInt(id[i+1:j], 10, 64)
	s, err2 := strconv.ParseUint(id[j+1:], 10, 64)
	if err1 != nil || err2 != nil || e <= 0 {
		return "", 0, 0, false
	}
	return id[:i], e, s, true
}
