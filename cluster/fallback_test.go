package cluster

import (
	"testing"
	"time"
)

// TestNodeHandoverWithoutPublisher runs members whose publisher is not wired
// (Config.Publisher nil): a handover then learns our epoch from the latest
// book on the events stream. Every market still ends published exactly once,
// and the handovers end by the new publisher's books, not by timeout: books
// stored after the joiner's first heartbeat are taken for its.
func TestNodeHandoverWithoutPublisher(t *testing.T) {
	d := runNATS(t)
	createStreams(t, d.url(), 1)
	ms := testMarkets(150, 21)
	bare := func(c *Config) { c.Publisher = nil; c.HandoverTimeout = 3 * time.Second }
	a := startMember(t, d.url(), "t10", "a", bare)
	shareAll(t, ms, a, a)
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error { return settled([]*member{a}, ms, 1) })
	b := startMember(t, d.url(), "t10", "b", bare)
	checkFor(t, 15*time.Second, 20*time.Millisecond, func() error { return settled([]*member{a, b}, ms, 1) })
	s := a.node.Stats()
	t.Logf("a handed over %d markets, %d by timeout, longest %d ms", s.HandoversOut, s.HandoverTimeouts, s.HandoverMaxMs)
	if s.HandoversOut == 0 || s.HandoverTimeouts != 0 {
		t.Errorf("a handed over %d markets, %d by timeout; want some, none by timeout", s.HandoversOut, s.HandoverTimeouts)
	}
}
