// Package cluster lets several polyfeed instances share the market universe
// over NATS: membership by heartbeats in a JetStream KV bucket, assignment of
// markets to members by rendezvous hashing, a shared market listing, and the
// make-before-break handover of markets between members.
package cluster
