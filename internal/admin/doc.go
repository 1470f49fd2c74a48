// Package admin is the operator's HTTP surface of the polyfeed engine: stats, liveness,
// readiness, Prometheus metrics, order book inspection and, when enabled, pprof.
//
// The package never imports the engine. Everything it shows comes through the functions and
// interfaces of [Config], which the engine fills in:
//
//	srv, err := admin.New(admin.Config{
//		Addr:     "127.0.0.1:9090",
//		Logger:   logger,
//		Stats:    func() any { return app.Stats() },
//		Healthy:  app.Healthy,
//		Ready:    app.Ready,
//		Book: func(id string) (book.View, bool, error) {
//			return app.Book(ctxWithTimeout, id, 0)
//		},
//		Gatherer: registry,
//	})
//	if err != nil { ... }
//	if err := srv.Start(ctx); err != nil { ... }
//	defer srv.Stop(stopCtx)
//
// # Routes
//
//	GET /                   JSON index of the routes below that are enabled
//	GET /stats              Config.Stats() as JSON (?pretty=1 indents it)
//	GET /healthz            200 {"status":"ok"} or 503 {"status":"unhealthy","reason":...}
//	GET /readyz             200 {"status":"ready"} or 503 {"status":"not_ready","reason":...}
//	GET /metrics            Prometheus exposition of Config.Gatherer
//	GET /books/{asset_id}   one asset's [book.View]; ?depth=N (1..1000) caps the levels per side
//	GET /debug/pprof/...    net/http/pprof, only when Config.EnablePprof is set
//
// Every error is a JSON object {"error": "..."} with the matching status: 400 for a bad asset
// id or query parameter, 404 for an unknown path or asset, 405 (with an Allow header) for a
// method other than GET or HEAD, 500 for a handler that panicked, 503 when not healthy/ready.
//
// # Concurrency
//
// New, Start and Stop are meant to be called by one owner, in that order; Stop may be called
// any number of times (also concurrently) and Addr from any goroutine. The server answers every
// request on its own goroutine, so the functions in Config (Stats, Healthy, Ready, Book) and
// Config.Gatherer are called concurrently with each other, with themselves and with the engine:
// the engine must make them safe for that, and must return values the server may read after
// the call (a book.View's slices must not be mutated by the engine once returned). They should
// return promptly: a call still running when Stop gives up on graceful shutdown is not waited
// for.
//
// # Timeouts
//
// ReadHeaderTimeout bounds the time a client may take to send its request headers, which cuts
// off slow-loris clients; ReadTimeout the whole request; WriteTimeout the time from the end of
// the request headers to the end of the response; IdleTimeout a kept-alive idle connection.
// CPU profiles and execution traces run for the requested ?seconds= (30 s and 1 s by default),
// which would exceed a normal WriteTimeout: net/http/pprof extends the write deadline of its
// own request by the requested duration, and this package refuses durations above
// Config.MaxProfileDuration so that one request cannot hold a connection open indefinitely.
package admin
