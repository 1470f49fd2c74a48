// Package sim is a local, deterministic stand-in for the two Polymarket APIs the engine uses:
// the Gamma REST market listing (/markets, /markets/keyset) and the CLOB WebSocket market
// channel (/ws/market), plus truth and control endpoints under /sim/ that tests use to compare
// what a client built against what the simulator holds.
//
// Usage from a test:
//
//	s, err := sim.New(sim.Config{Seed: 7, Markets: 50, Manual: true})
//	...
//	if err := s.Start(ctx); err != nil { ... }
//	defer s.Stop(ctx)
//	ws, gamma := s.WSURL(), s.GammaURL()
//	s.Step(100)              // generate 100 ticks of events (Manual mode)
//	s.Pause()                // quiescent: everything generated has reached every socket
//	b, _ := s.Book(assetID)  // the simulator's own book
//
// Events come from one generator that owns every market's book; each event is fanned out to
// the sockets subscribed to its assets, so every subscriber sees the same events in the same
// order. The generator, subscription changes and truth reads are serialised by one mutex, which
// is what makes a subscribe snapshot and the live stream after it seamless (no gap, no overlap).
// The simulator keeps its own small book (sorted level slices per side) on purpose: it must
// not share code with the engine's book, or a bug there would hide behind identical truth.
//
// Concurrency: every exported method of *Server is safe for concurrent use. Start and Stop are
// called once each by the owner; Stop waits for every goroutine the server started.
package sim
