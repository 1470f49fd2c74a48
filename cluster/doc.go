// Package cluster lets several polyfeed instances share the market universe
// over NATS and survive losing one: membership by heartbeats in a JetStream
// KV bucket, assignment of markets to members by rendezvous hashing, a shared
// market listing, and make-before-break handover of markets between members.
// There is no leader and no consensus of our own: the NATS server expires a
// silent member, and every member computes the same assignment from the same
// member set. docs/CLUSTER.md explains the design and its limits.
//
// # Using it
//
//	node, err := cluster.New(nc, cluster.Config{Cluster: "prod", ID: "feed-1", Replicas: 1, Publisher: pub})
//	if err != nil { ... }
//	if err := node.Start(ctx); err != nil { ... } // joins; the first assignment is ready
//	defer node.Stop(ctx)                          // leaves: the others take over at once
//
//	node.ShareMarkets(ctx, discovered)  // after every discovery
//	universe := node.Markets()          // every market any member listed
//	node.Owns(conditionID)              // subscribe it and keep its book
//	node.Publishes(conditionID)         // publish its assets on the stream
//	<-node.Changes()                    // roles or the listing changed: look again
//
//	node.Drain(ctx) // before a planned stop: hand every market over first
//
// # Roles
//
// For every market (by condition id, so both tokens stay together) the R
// members with the highest rendezvous weight carry it; rank 0 publishes
// (RolePublisher), ranks 1..R-1 keep a warm book (RoleReplica). A member
// whose market moves to another keeps publishing it (RoleReleasing) until the
// new publisher's `book` with a higher epoch is on the stream, or
// HandoverTimeout. Owns is true for all three roles; Publishes for
// RolePublisher and RoleReleasing.
//
// # Integration with the engine
//
// The engine defines the interface it consumes; *Node satisfies this one:
//
//	type Ownership interface {
//		Owns(conditionID string) bool      // carry: subscribe, keep the book
//		Publishes(conditionID string) bool // publish on the stream
//		Gen() uint64                       // changes whenever a role may have changed
//		Changes() <-chan struct{}          // coalesced: roles or the listing changed
//	}
//
// and the engine's stream publisher implements Publisher (Epoch, Restart)
// for Config.Publisher. The parts that use them:
//
//   - Discovery (the lifecycle): after each Gamma listing (and for markets
//     learnt from the venue's socket), ShareMarkets(them); the universe is
//     that listing plus Markets() (so one failed listing does not drop
//     markets). Know every market of the universe, but carry (register,
//     subscribe) only those Owns accepts; on every receive from Changes, walk
//     the universe, subscribe what Owns now accepts and unsubscribe (dropping
//     the book) what it no longer does; RemoveMarket when a market closes or
//     resolves.
//   - The publisher: publish an asset only while Publishes(its market). Cache
//     the answer per asset with Gen (one atomic load per event; Publishes
//     itself hashes and does not allocate, but need not run per event). When
//     Publishes turns true, start a new epoch above any on the stream and
//     publish a book as soon as the book is valid (at once for a warm
//     replica, after the snapshot otherwise). When it turns false, publish
//     `stale` (reason "moved") under the old epoch and stop: consumers that
//     already have the new publisher's book ignore it (lower epoch); the
//     others are told. Act on a change when Changes fires, on every worker
//     (a control item through the data path), not at the asset's next
//     event: a quiet market promoted on a replica would otherwise stay
//     unpublished until it trades. Epoch and Restart are called from this
//     package's goroutines and must be safe for that and must not block.
//   - Shutdown: Drain (bounded by a timeout) before stopping the engine, and
//     Stop after it.
//   - Observability: Stats for /stats (JSON tags), Collector for /metrics,
//     ReadStatus and Status.Write for a status subcommand.
//
// Markets that are not in the shared listing get the plain assignment, with
// no handover: share the listing before acting on a market. With a
// Publisher, a member also watches the stream's `status` messages: a
// `stale` "moved" under a higher epoch than its own, on a market it
// publishes, means its publisher had yielded to a member that has since
// stopped, and it restarts the asset above that epoch.
//
// # Concurrency
//
// Role, Owns, Publishes, Gen and Changes are safe from any goroutine at any
// time and do not allocate. Markets, ShareMarkets, RemoveMarket and Stats are
// safe from any goroutine once Start has returned. Start, Drain and Stop are
// called by one owner, in that order; Stop is idempotent and waits for every
// goroutine the Node started. ReadStatus and WaitBook are standalone and safe
// for concurrent use. The Node never closes the NATS connection it was given.
//
// # NATS outages
//
// While the connection is down or the heartbeat cannot be written, the
// assignment is frozen: no market is dropped or taken. When NATS returns, the
// assignment stays frozen for ReconnectHold (default Expiry + Heartbeat) while
// every member's heartbeat comes back, and only then follows the member set;
// any change of the member set is acted on once it has been stable for Settle
// (500 ms), so members come back without moving a market.
package cluster
