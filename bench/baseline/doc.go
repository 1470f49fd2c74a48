// Package baseline holds the two reference clients the side-by-side benchmark
// runs next to polyfeed on the same feed:
//
//   - Naive: what a competent first client looks like. gws sockets, every frame
//     decoded with encoding/json into maps, every book in one map guarded by
//     one mutex, levels kept as price→size strings.
//   - Floor: the same sockets reading frames and dropping them. Nothing cheaper
//     can keep the subscription: its CPU is the cost of the socket alone.
//
// Both use polyfeed's layout: the same assets per socket, the initial subscribe
// with custom_feature_enabled and initial_dump, and a text PING every 10 s.
//
// Concurrency: Run owns every goroutine it starts (one read loop and one
// keepalive per socket) and returns after they have all stopped. Counters and
// Book may be read from any goroutine while Run runs.
package baseline
