// Package harness drives the real polyfeed engine (router, rings, workers,
// books and a recording no-op handler) and measures it: per-stage latency,
// throughput against offered load, CPU, allocations, GC and memory.
//
// Two sources feed the engine. Replay pushes a frame corpus recorded once
// from the exchange simulator over a real socket straight into
// App.FrameSink, so it measures the engine alone. Whole path runs the
// simulator on loopback and lets the engine subscribe to it, so it measures
// sockets, gws, the inbound queue and everything after.
//
// Report.Gate judges a run (GateRule): latency only on steps with headroom,
// never passing a run that judged nothing.
//
// Concurrency: the Run functions start and stop everything they use and may
// not run concurrently with each other in one process (they read process-wide
// CPU, allocation and GC counters). A Recorder's histograms are written by
// the engine's workers and may be read only after the App has stopped.
package harness
