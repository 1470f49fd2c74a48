// Package sidebyside measures what polyfeed costs at the venue's real rates,
// next to two reference clients on the same feed (package bench/baseline):
// one polysim, then the polyfeed binary, a naive client and a floor client,
// each its own process with its own sockets, every one subscribed to every
// asset, 200 assets per socket.
//
// Per rate it measures, over one window after the startup dump: each
// process's CPU (utime+stime from /proc/PID/stat) per venue message (the
// simulator's generated count), its RSS, and polyfeed's frame-to-handler
// latency (the difference of two /metrics scrapes of its end-to-end
// histogram). At the first rate it also measures polyfeed idle (venue paused,
// sockets open) and checks that every book polyfeed keeps equals the
// simulator's truth. The efficiency gate compares polyfeed with the naive
// client at GateRate; Report.Failures says which figure failed and by how much.
//
// Concurrency: Run is one sequential script; it owns every process it
// starts and stops them all before it returns.
package sidebyside
