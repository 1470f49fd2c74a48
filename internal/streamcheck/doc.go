// Package streamcheck is test support that reads a polyfeed stream the way users do,
// with the Go consumer (package stream) and with the Node example (examples/node), and
// compares their books with each other and with a truth: the contract publisher of
// package streamtest, or the simulator's books behind a real polyfeed.
//
// Books compare as canonical decimal strings ("0.48", "25"), best first. A Node is
// driven by one test goroutine; its stdout reader goroutine ends with the process.
package streamcheck
