// Package proc runs the programs the bench drivers measure as child
// processes on loopback (Start, Child.Stop, FreeAddr, WaitHTTP) and reads
// what Linux reports about them under /proc (RSS, CPU, FDs, LoadAvg).
//
// Concurrency: Start launches one goroutine per child that waits for it to
// exit; it ends when the child exits, and Stop and Kill wait for it, so a
// caller that stops or kills every child it started leaves nothing behind.
// A Child's methods may be called from any goroutine; Stop and Kill may
// race each other and a natural exit (the loser sees an already-exited
// child). The /proc readers hold no state and may be called at once from
// any goroutine.
package proc
