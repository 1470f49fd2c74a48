package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// MemberStatus is one member as the cluster's buckets show it.
type MemberStatus struct {
	ID         string    `json:"id"`
	Started    time.Time `json:"started"`
	Replicas   int       `json:"replicas"`
	Leaving    bool      `json:"leaving"`
	Publishing int       `json:"publishing"` // markets it publishes
	Carrying   int       `json:"carrying"`   // markets it carries (publishes or keeps warm)
	Assets     int       `json:"assets"`     // assets of the markets it carries
}

// MarketStatus is one market and its carriers, publisher first.
type MarketStatus struct {
	ConditionID string   `json:"condition_id"`
	Assets      int      `json:"assets"`
	Carriers    []string `json:"carriers"`
}

// Status is who owns what in a cluster, computed from its buckets exactly as
// every member computes it. It shows the assignment the members converge
// to: a member still handing a market over (RoleReleasing) or holding its
// assignment through a NATS outage is not visible here; its /stats is.
type Status struct {
	Cluster  string         `json:"cluster"`
	Replicas int            `json:"replicas"`
	Members  []MemberStatus `json:"members"`
	Markets  []MarketStatus `json:"markets"`
	// Disagree is set when members advertise different replica counts.
	Disagree bool `json:"replicas_disagree,omitempty"`
}

// ReadStatus reads the cluster's members and shared listing over nc and
// computes the assignment. It starts no goroutine that outlives the call.
func ReadStatus(ctx context.Context, nc *nats.Conn, cluster string) (*Status, error) {
	if !nameRE.MatchString(cluster) {
		return nil, fmt.Errorf("%w: cluster name %q", ErrConfig, cluster)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("cannot open JetStream: %w", err)
	}
	st := &Status{Cluster: cluster}
	membersKV, err := js.KeyValue(ctx, membersBucket(cluster))
	if err != nil {
		return nil, fmt.Errorf("cannot open cluster %s: %w", cluster, err)
	}
	err = eachValue(ctx, membersKV, func(key string, value []byte) {
		hb, err := parseHeartbeat(key, value)
		if err != nil {
			return
		}
		if st.Replicas != 0 && hb.Replicas != st.Replicas {
			st.Disagree = true
		}
		st.Replicas = max(st.Replicas, hb.Replicas)
		st.Members = append(st.Members, MemberStatus{ID: hb.ID, Started: time.UnixMilli(hb.StartedMs), Replicas: hb.Replicas, Leaving: hb.Leaving})
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read members of %s: %w", cluster, err)
	}
	slices.SortFunc(st.Members, func(x, y MemberStatus) int { return strings.Compare(x.ID, y.ID) })
	var ids []string
	for _, m := range st.Members {
		if !m.Leaving {
			ids = append(ids, m.ID)
		}
	}
	a := NewAssignment(ids, st.Replicas)
	marketsKV, err := js.KeyValue(ctx, marketsBucket(cluster))
	if err != nil {
		return nil, fmt.Errorf("cannot open the listing of %s: %w", cluster, err)
	}
	err = eachValue(ctx, marketsKV, func(key string, value []byte) {
		m, err := parseMarket(key, value)
		if err != nil {
			return
		}
		st.Markets = append(st.Markets, MarketStatus{ConditionID: key, Assets: len(m.AssetIDs), Carriers: a.Carriers(nil, key)})
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read the listing of %s: %w", cluster, err)
	}
	slices.SortFunc(st.Markets, func(x, y MarketStatus) int { return strings.Compare(x.ConditionID, y.ConditionID) })
	for i := range st.Members {
		ms := &st.Members[i]
		for _, mk := range st.Markets {
			switch slices.Index(mk.Carriers, ms.ID) {
			case -1:
				continue
			case 0:
				ms.Publishing++
			}
			ms.Carrying++
			ms.Assets += mk.Assets
		}
	}
	return st, nil
}

// eachValue calls f with every live key of a bucket, from one watch of its
// latest values (one round trip per batch, not per key).
func eachValue(ctx context.Context, kv jetstream.KeyValue, f func(key string, value []byte)) error {
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return err
	}
	defer w.Stop() //nolint:errcheck // the watch ends either way
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("watch closed")
			}
			if e == nil {
				return nil
			}
			f(e.Key(), e.Value())
		}
	}
}

// Write prints the status for people: the members with their share, then,
// with markets, one line per market with its carriers (publisher first).
func (st *Status) Write(w io.Writer, markets bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "cluster %s: %d members, %d markets, replicas %d\n", st.Cluster, len(st.Members), len(st.Markets), st.Replicas)
	if st.Disagree {
		fmt.Fprintln(tw, "warning: members advertise different replica counts; the highest is shown")
	}
	fmt.Fprintln(tw, "MEMBER\tSTARTED\tSTATE\tPUBLISHES\tCARRIES\tASSETS")
	for _, m := range st.Members {
		state := "live"
		if m.Leaving {
			state = "leaving"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\n", m.ID, m.Started.UTC().Format(time.RFC3339), state, m.Publishing, m.Carrying, m.Assets)
	}
	if markets {
		fmt.Fprintln(tw, "\nMARKET\tASSETS\tPUBLISHER\tREPLICAS")
		for _, mk := range st.Markets {
			pub, reps := "-", "-"
			if len(mk.Carriers) > 0 {
				pub = mk.Carriers[0]
			}
			if len(mk.Carriers) > 1 {
				reps = fmt.Sprint(mk.Carriers[1:])
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", mk.ConditionID, mk.Assets, pub, reps)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("cannot write cluster status: %w", err)
	}
	return nil
}
