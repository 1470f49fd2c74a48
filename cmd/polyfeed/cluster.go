package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/polyfeed/polyfeed/cluster"
	"github.com/polyfeed/polyfeed/engine"
	"github.com/polyfeed/polyfeed/engine/markets"
	"github.com/polyfeed/polyfeed/fixed"
	"github.com/polyfeed/polyfeed/internal/flagenv"
)

// clusterOptions are the --cluster* settings (docs/CLUSTER.md).
type clusterOptions struct {
	Name            string // "" = no cluster
	ID              string
	Replicas        int
	StorageReplicas int
	DrainTimeout    time.Duration
}

const (
	clusterStartTimeout = 30 * time.Second
	clusterStopTimeout  = 5 * time.Second
	// clusterPoolMaxWait bounds how long the pool holds back assets that
	// do not fill a new socket (engine default 30 s): a takeover is only
	// done when every taken market is subscribed.
	clusterPoolMaxWait = time.Second
	// reshareEvery: this member rewrites its own discoveries in the shared
	// listing (the listing skips entries that are fresh).
	reshareEvery = 10 * time.Minute
	// reasonUnlisted is the expiry reason of a market another member
	// removed from the shared listing (it saw it close or resolve).
	reasonUnlisted = "unlisted"
)

func defineClusterFlags(fs *flag.FlagSet, o *clusterOptions) {
	fs.StringVar(&o.Name, "cluster", "", "share the universe with the other instances of this cluster (needs --nats-url; docs/CLUSTER.md); empty: no cluster")
	fs.StringVar(&o.ID, "cluster-id", "", "this member's id, stable across restarts so a restarted instance gets its markets back; empty: host name and admin port")
	fs.IntVar(&o.Replicas, "replicas", 1, "with --cluster: instances that carry each market (the first publishes, the others keep warm books)")
	fs.IntVar(&o.StorageReplicas, "cluster-storage-replicas", 1, "with --cluster: replicas of the cluster's KV buckets and of the streams (3 on a 3-node NATS cluster)")
	fs.DurationVar(&o.DrainTimeout, "cluster-drain-timeout", 15*time.Second, "with --cluster: bound on handing every market over at shutdown")
}

// checkCluster validates the cluster settings; o is the whole option set.
func checkCluster(o *options, set map[string]bool, name func(string) string, bad func(flag, format string, a ...any) error) error {
	c := &o.Cluster
	if c.Name == "" {
		for _, f := range []string{"cluster-id", "replicas", "cluster-storage-replicas", "cluster-drain-timeout"} {
			if set[f] {
				return usagef("%s has no effect without --cluster", name(f))
			}
		}
		return nil
	}
	switch {
	case !o.Stream.external:
		return usagef("%s needs %s: a cluster shares a real NATS server or cluster", name("cluster"), name("nats-url"))
	case !o.Stream.Publish:
		return usagef("%s needs publishing (--publish=true)", name("cluster"))
	case !o.Lifecycle:
		return usagef("%s needs the lifecycle (--enable-lifecycle=true)", name("cluster"))
	case c.Replicas < 1 || c.Replicas > 5:
		return bad("replicas", "%d, want 1..5", c.Replicas)
	case c.StorageReplicas < 1 || c.StorageReplicas > 5:
		return bad("cluster-storage-replicas", "%d, want 1..5", c.StorageReplicas)
	case c.DrainTimeout <= 0:
		return bad("cluster-drain-timeout", "%v, want > 0", c.DrainTimeout)
	}
	if c.ID == "" {
		c.ID = defaultMemberID(o.HTTPAddr)
	}
	return nil
}

// defaultMemberID is the host name and the admin port: stable across
// restarts of one instance, distinct between instances of one host.
func defaultMemberID(httpAddr string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "polyfeed"
	}
	host = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '-'
	}, host)
	if _, port, err := net.SplitHostPort(httpAddr); err == nil && port != "0" {
		return host + "-" + port
	}
	return fmt.Sprintf("%s-pid%d", host, os.Getpid())
}

// nodeGate is the publisher's publish.Gate before the node exists (the node
// needs the publisher and the publisher the gate): nothing is published
// until set.
type nodeGate struct{ n atomic.Pointer[cluster.Node] }

func (g *nodeGate) Publishes(conditionID string) bool {
	n := g.n.Load()
	return n != nil && n.Publishes(conditionID)
}

func (g *nodeGate) Gen() uint64 {
	if n := g.n.Load(); n != nil {
		return n.Gen() + 1 // 0 is "no node yet"
	}
	return 0
}

// startNode joins the cluster: its assignment is ready when it returns.
func startNode(ctx context.Context, o options, st *stream, gate *nodeGate, log *slog.Logger) (*cluster.Node, error) {
	node, err := cluster.New(st.nc, cluster.Config{
		Cluster:         o.Cluster.Name,
		ID:              o.Cluster.ID,
		Replicas:        o.Cluster.Replicas,
		Prefix:          o.Stream.Prefix,
		StorageReplicas: o.Cluster.StorageReplicas,
		Publisher:       st.pub,
		Logger:          log.With("component", "cluster"),
	})
	if err != nil {
		return nil, fmt.Errorf("cannot configure cluster: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, clusterStartTimeout)
	defer cancel()
	if err := timed(log, "start", "cluster", func() error { return node.Start(sctx) }); err != nil {
		return nil, err
	}
	gate.n.Store(node)
	log.Info("joined cluster", "cluster", o.Cluster.Name, "member", node.ID(), "replicas", o.Cluster.Replicas)
	return node, nil
}

// stopNode leaves the cluster (after the engine stopped).
func stopNode(node *cluster.Node, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), clusterStopTimeout)
	defer cancel()
	return timed(log, "stop", "cluster", func() error { return node.Stop(ctx) })
}

// drainNode hands every market over before a planned stop; a timeout is
// logged, not fatal: the others take over when this member leaves.
func drainNode(node *cluster.Node, timeout time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	t0 := time.Now()
	if err := node.Drain(ctx); err != nil {
		log.Warn("cluster drain incomplete; the others take over when this member leaves", "err", err)
		return
	}
	log.Info("cluster drained", "duration", time.Since(t0).Round(time.Millisecond))
}

// link connects the engine's lifecycle to the cluster node: it shares what
// discovery finds, adds what the other members listed, retires what they
// removed, and re-applies ownership on every change. It owns one goroutine.
type link struct {
	node *cluster.Node
	app  *engine.App
	log  *slog.Logger

	mu      sync.Mutex
	added   []cluster.Market // discovered, to share
	expired []string         // condition ids closed here, to remove from the listing
	wake    chan struct{}

	fromListing map[string]bool // markets this member tracks because another listed them; goroutine only

	cancel context.CancelFunc
	done   chan struct{}
}

func newLink(node *cluster.Node, log *slog.Logger) *link {
	return &link{node: node, log: log, wake: make(chan struct{}, 1), fromListing: map[string]bool{}}
}

// onNewMarket and onExpired are the lifecycle's callbacks: they only queue.
func (l *link) onNewMarket(m markets.Market) {
	l.mu.Lock()
	l.added = append(l.added, toCluster(m))
	l.mu.Unlock()
	l.poke()
}

func (l *link) onExpired(m markets.Market) {
	l.mu.Lock()
	l.expired = append(l.expired, m.ConditionID)
	l.mu.Unlock()
	l.poke()
}

func (l *link) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// start runs the link on app (started).
func (l *link) start(app *engine.App) {
	l.app = app
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, make(chan struct{})
	go func() {
		defer close(l.done)
		l.run(ctx)
	}()
}

// stop ends the link's goroutine and waits for it. Idempotent.
func (l *link) stop() {
	if l.cancel == nil {
		return
	}
	l.cancel()
	<-l.done
	l.cancel = nil
}

func (l *link) run(ctx context.Context) {
	reshare := time.NewTicker(reshareEvery)
	defer reshare.Stop()
	// Reconcile also drops, a little later, the books that frames in flight
	// recreated after a release.
	again := time.NewTicker(time.Second)
	defer again.Stop()
	l.follow(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-again.C:
			l.app.Reconcile()
		case <-l.wake:
			l.flush(ctx)
		case <-l.node.Changes():
			l.follow(ctx)
		case <-reshare.C:
			l.reshare(ctx)
		}
	}
}

// flush shares newly discovered markets and removes closed ones from the
// listing.
func (l *link) flush(ctx context.Context) {
	l.mu.Lock()
	added, expired := l.added, l.expired
	l.added, l.expired = nil, nil
	l.mu.Unlock()
	if len(added) > 0 {
		if _, err := l.node.ShareMarkets(ctx, added); err != nil && ctx.Err() == nil {
			l.log.Warn("cannot share discovered markets; the next discovery retries", "markets", len(added), "err", err)
		}
	}
	for _, c := range expired {
		delete(l.fromListing, c)
		if err := l.node.RemoveMarket(ctx, c); err != nil && ctx.Err() == nil {
			l.log.Warn("cannot remove a closed market from the shared listing", "market", c, "err", err)
		}
	}
}

// follow makes the engine's universe the own listing plus the shared one,
// then carries exactly what the node says this member owns.
func (l *link) follow(ctx context.Context) {
	l.flush(ctx)
	shared := l.node.Markets()
	inListing := make(map[string]bool, len(shared))
	known := make(map[string]bool)
	for _, m := range l.app.Markets() {
		known[m.ConditionID] = true
	}
	for _, m := range shared {
		inListing[m.ConditionID] = true
		if known[m.ConditionID] {
			continue
		}
		// An error means the lifecycle knows it already (perhaps expired):
		// it is not resurrected.
		if err := l.app.AddMarket(fromCluster(m)); err == nil {
			l.fromListing[m.ConditionID] = true
		}
	}
	for c := range l.fromListing {
		if !inListing[c] {
			delete(l.fromListing, c)
			l.app.ExpireMarket(c, reasonUnlisted)
		}
	}
	l.app.Reconcile()
}

// reshare rewrites this member's own discoveries (the listing keeps fresh
// entries as they are), so that they outlive ListingMaxAge while listed.
func (l *link) reshare(ctx context.Context) {
	var own []cluster.Market
	for _, m := range l.app.Markets() {
		if !l.fromListing[m.ConditionID] {
			own = append(own, toCluster(m))
		}
	}
	if _, err := l.node.ShareMarkets(ctx, own); err != nil && ctx.Err() == nil {
		l.log.Warn("cannot refresh the shared listing", "markets", len(own), "err", err)
	}
}

func toCluster(m markets.Market) cluster.Market {
	c := cluster.Market{ID: m.ID, ConditionID: m.ConditionID, Question: m.Question, Slug: m.Slug,
		AssetIDs: m.AssetIDs, Outcomes: m.Outcomes, NegRisk: m.NegRisk}
	if !m.EndDate.IsZero() {
		c.EndMs = m.EndDate.UnixMilli()
	}
	if m.TickSize != 0 {
		c.TickSize = m.TickSize.String()
	}
	return c
}

func fromCluster(c cluster.Market) markets.Market {
	m := markets.Market{ID: c.ID, ConditionID: c.ConditionID, Question: c.Question, Slug: c.Slug,
		AssetIDs: c.AssetIDs, Outcomes: c.Outcomes, NegRisk: c.NegRisk}
	if c.EndMs > 0 {
		m.EndDate = time.UnixMilli(c.EndMs).UTC()
	}
	if c.TickSize != "" {
		if t, err := fixed.ParseString(c.TickSize); err == nil {
			m.TickSize = t
		}
	}
	return m
}

// withCluster adds "cluster" to /stats.
func withCluster(inner func() any, node *cluster.Node) func() any {
	return func() any {
		m := map[string]json.RawMessage{}
		if b, err := json.Marshal(inner()); err == nil {
			_ = json.Unmarshal(b, &m)
		}
		if b, err := json.Marshal(node.Stats()); err == nil {
			m["cluster"] = b
		}
		return m
	}
}

// runClusterCommand is `polyfeed cluster status [--markets]`: who owns what,
// read from the cluster's buckets.
func runClusterCommand(args []string, lookup flagenv.LookupFunc, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "status" {
		return usagef("want: polyfeed cluster status [--markets] --cluster NAME --nats-url URL")
	}
	fs := flag.NewFlagSet("polyfeed cluster status", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var name, url, creds string
	var list bool
	fs.StringVar(&name, "cluster", "", "cluster name")
	fs.StringVar(&url, "nats-url", "", "NATS server(s), comma-separated")
	fs.StringVar(&creds, "nats-creds", "", "NATS credentials file")
	fs.BoolVar(&list, "markets", false, "list every market with its members")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%v", err)
	}
	if _, err := flagenv.Apply(fs, envPrefix, lookup); err != nil {
		return usagef("%v", err)
	}
	if name == "" || url == "" {
		return usagef("cluster status needs --cluster and --nats-url")
	}
	opts := []nats.Option{nats.Name("polyfeed cluster status")}
	if creds != "" {
		opts = append(opts, nats.UserCredentials(creds))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return fmt.Errorf("cannot connect to NATS %s: %w", url, err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := cluster.ReadStatus(ctx, nc, name)
	if err != nil {
		return err
	}
	return st.Write(stdout, list)
}
