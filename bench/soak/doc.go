// Package soak runs the real polyfeed binary against the polysim simulator
// for a long time and judges whether it stays correct and bounded.
//
// Both programs run as separate processes on loopback. The simulator churns
// markets (expiries and new listings) and the driver injects a fault on a
// schedule through the simulator's control API (socket closes with every
// code, bad frames, asset and socket stalls, Gamma errors). Every Sample
// interval the driver records polyfeed's resident memory (/proc/PID/status
// VmRSS), open file descriptors (/proc/PID/fd), Go heap in use and
// goroutines (go_memstats_heap_inuse_bytes and go_goroutines from
// /metrics), connections and dropped events (/stats) and /healthz.
//
// At the end the simulator is paused and every book of every open market is
// compared with the simulator's truth (GET /books/{id} on polyfeed against
// GET /sim/books/{id}); market discovery gets Converge to pick up markets
// listed just before the pause. Then polyfeed gets SIGTERM and must exit 0
// within StopBound.
//
// # Verdict
//
// The run fails when:
//   - any book differs from the truth (or is missing) after Converge;
//   - RSS, heap in use or goroutines trend upward: the samples after the
//     warm-up (the first WarmupFraction of the run, at least one minute)
//     are split into halves; a series fails when the mean of the second
//     half exceeds the first half's by more than its threshold AND the
//     least-squares slope over the second half, projected over that half's
//     length, also exceeds it. Thresholds: RSS and heap 15% (and at least
//     8 MiB: small heaps breathe by several MiB between collections),
//     goroutines 10% (and at least 20: each connection has a few, and a
//     recycle briefly doubles one). Requiring both a level shift and a
//     persistent slope keeps one GC cycle or one recycle in flight from
//     failing a run, while a leak of a few KiB per event or a goroutine
//     per reconnect fails any run of more than a few minutes;
//   - /healthz answered anything but 200 outside a fault window (a fault's
//     start plus FaultGrace), or could not be reached at all;
//   - an admin probe with a malformed asset id was not rejected with 400;
//   - polyfeed did not exit 0 within StopBound of SIGTERM, or exited early.
//
// # Running
//
//	make soak                        # 3 minutes
//	make soak SOAK_DURATION=1h       # hourly check before a release
//	make soak SOAK_DURATION=24h      # day-long run (SOAK_FLAGS="-sample 30s" keeps the plot readable)
//	make soak SOAK_FLAGS="-markets 1000 -rate 2000 -churn 30 -fault-every 30s"
//
// The report (report.md, samples.csv, soak.png, polyfeed.log, polysim.log)
// goes to bench/out/soak/.
package soak
