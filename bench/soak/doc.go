// Package soak runs the real polyfeed binary against the polysim simulator
// for a long time and judges whether it stays correct and bounded.
//
// Both programs run as separate processes on loopback. The simulator churns
// markets (expiries and new listings) and the driver injects a fault on a
// schedule through the simulator's control API (socket closes with every
// code, bad frames, asset and socket stalls, Gamma errors and hangs, empty
// and cut-short Gamma listings, markets that lose a whole side). With
// StuckHandler (make soak sets it) the schedule also blocks one of
// polyfeed's handlers for 25 s, past the engine's StuckAfter (10 s), so
// /healthz must report the stuck worker and recover; that needs a polyfeed
// built with -tags soakstuck (cmd/polyfeed/soakstuck.go), which takes the
// request through a file named by POLYFEED_SOAK_STUCK. polyfeed lists
// Gamma every DiscoveryInterval (5 s), so each Gamma fault meets several
// listings. Every Sample
// interval the driver asks /healthz first, then records polyfeed's
// resident memory (/proc/PID/status VmRSS), open file descriptors
// (/proc/PID/fd), heap in use and goroutines (/metrics), the live heap
// (HeapAlloc right after a forced collection, /debug/pprof/heap?gc=1, so
// polyfeed must keep --pprof on), connections and dropped events (/stats).
//
// At the end the simulator is paused and every book of every open market is
// compared with the simulator's truth (GET /books/{id} on polyfeed against
// GET /sim/books/{id}); market discovery gets Converge to pick up markets
// listed just before the pause. Then polyfeed gets SIGTERM and must exit 0
// within StopBound.
//
// Concurrency: Run starts and stops both processes and every goroutine it
// uses; several runs may proceed at once (each takes its own free ports
// and needs its own OutDir).
//
// # Verdict
//
// The run fails when:
//   - any book differs from the truth, is marked invalid or is missing
//     after Converge, or no book was compared;
//   - a resource grew: RSS, live heap, goroutines or open fds, judged on
//     the samples after the warm-up (the first WarmupFraction of the run,
//     at least one minute). Each series is reduced to its floor, the
//     smallest value within a trailing window (RSS one minute, goroutines
//     and fds 30 s, live heap none: it is measured after a collection), so
//     what is always transient (a GC cycle's garbage, a recycle's second
//     socket) drops out and what survives stays. The series fails when
//     the median floor of the last third of the judged window exceeds the
//     median floor of the first third by more than its limit: RSS and live
//     heap 15% (at least 8 MiB), goroutines and fds 10% (at least 8). A
//     closing fault reopens about ten sockets, so one goroutine, one fd or
//     1 MiB leaked per reconnect grows a series by about twenty within the
//     default 3-minute run;
//   - a series cannot be judged: fewer than 4 samples, or less than 90 s
//     after the warm-up (runs shorter than MinDuration are refused up
//     front);
//   - /healthz was red (or the admin server could not be reached) and no
//     fault accounts for it. A red sample is put down to the latest fault
//     that started before it only while the engine has not yet recovered
//     (no green sample since the fault started) and at most RecoverBound
//     (15 s) after that fault ended; a red sample with no fault before it
//     always fails;
//   - a fault that must show on /healthz (the stuck handler: its reason
//     names a worker "stuck") did not: no red sample with that reason
//     from the fault's start to RecoverBound after its end, or no green
//     sample after it within the same bound. Its red samples are explained
//     until the first green one after its first red one (the report comes
//     only after StuckAfter, so the green samples before it are no
//     recovery);
//   - the engine dropped any event (at the venue's rates the engine is idle
//     most of the time, so a drop is a fault, even though DropAndResync
//     would repair the book);
//   - a fault failed to inject (the run did not test what it claims);
//   - more than a tenth of the samples had a failed observation;
//   - an admin probe with a malformed asset id was not rejected with 400;
//   - polyfeed did not exit 0 within StopBound of SIGTERM, or exited early.
//
// Every rule has a test that breaks the data on purpose and sees it fail
// (trend_test.go, health_test.go, verify_test.go; the book comparison's in
// bench/internal/truth).
//
// # Running
//
//	make soak                        # 10 minutes: the embedded NATS server's memory
//	                                 # settles after about 6 (docs/STREAM.md), so a
//	                                 # shorter run judges memory on a rising curve
//	make soak SOAK_DURATION=1h       # hourly check before a release
//	make soak SOAK_DURATION=24h      # day-long run (SOAK_FLAGS="-sample 30s" keeps the plot readable)
//	make soak SOAK_FLAGS="-markets 1000 -rate 2000 -churn 30 -fault-every 30s"
//
// make soak runs polyfeed built with -tags soakstuck (bin/polyfeed-soakstuck)
// and passes -stuck-handler; a run of polysoak without it skips the stuck
// handler.
//
// The report (report.md, samples.csv, soak.svg, soak.png, polyfeed.log, polysim.log)
// goes to bench/out/soak/.
package soak
