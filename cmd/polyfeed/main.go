// Command polyfeed keeps a live L2 order book for every active Polymarket
// market, streams the books to NATS JetStream (docs/STREAM.md; an embedded
// server unless --nats-url) and serves its state over a loopback admin HTTP
// server.
//
//	polyfeed                  # the live venue
//	polyfeed --sim            # the built-in simulator: live books with no setup
//	polyfeed --dry-run        # what would be subscribed, then exit
//
// main only wires: flags and environment → simulator (with --sim) → NATS
// server and publisher → admin server → engine, then waits for SIGINT/SIGTERM and stops them in reverse.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

func main() {
	err := run(os.Args[1:], os.LookupEnv, os.Environ(), os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		printUsage(os.Stdout)
	case errors.Is(err, errUsage):
		fmt.Fprintf(os.Stderr, "polyfeed: %v (see polyfeed --help)\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "polyfeed: %v\n", err)
		os.Exit(1)
	}
}
