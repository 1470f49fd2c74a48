package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestNodeMembership runs three members against one real nats-server: they
// split the listing about evenly, a member that stops hands its markets to
// the others, a member that dies (no more heartbeats) is expired by the
// server, and a member that joins takes its share by make before break.
// Every move touches only the markets of the member that joined or left.
func TestNodeMembership(t *testing.T) {
	d := runNATS(t)
	createStreams(t, d.url(), 1)
	ms := testMarkets(300, 11)
	a := startMember(t, d.url(), "t1", "a", nil)
	b := startMember(t, d.url(), "t1", "b", nil)
	c := startMember(t, d.url(), "t1", "c", nil)
	shareAll(t, ms, a, a, b, c)
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error { return settled([]*member{a, b, c}, ms, 1) })
	for _, m := range []*member{a, b, c} {
		if s := m.node.Stats(); s.Publishing < 60 || s.Publishing > 140 || s.Assets != 2*s.Markets {
			t.Errorf("%s publishes %d of 300 markets (%d assets); want about a third", m.id, s.Publishing, s.Assets)
		}
	}

	// A graceful stop: b's key is deleted, its markets move at once.
	before := publishers([]*member{a, b, c}, ms)
	b.stop()
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error { return settled([]*member{a, c}, ms, 1) })
	onlyMoved(t, before, publishers([]*member{a, c}, ms), "b")

	// A death: c's connection drops, the server expires its key.
	before = publishers([]*member{a, c}, ms)
	c.kill()
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error { return settled([]*member{a}, ms, 1) })
	onlyMoved(t, before, publishers([]*member{a}, ms), "c")
	if s := a.node.Stats(); s.LastLeft == nil || s.LastLeft[0] != "c" || s.Members[0] != "a" || len(s.Members) != 1 {
		t.Errorf("a's stats after c died: members %v, last left %v; want [a] and [c]", s.Members, s.LastLeft)
	}

	// A join: d takes its share; a keeps publishing each until d's book is
	// on the stream, then lets go (no timeouts).
	out0 := a.node.Stats().HandoversOut
	dm := startMember(t, d.url(), "t1", "d", nil)
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error { return settled([]*member{a, dm}, ms, 1) })
	sa, sd := a.node.Stats(), dm.node.Stats()
	if moved := sa.HandoversOut - out0; moved != uint64(sd.Publishing) || moved == 0 {
		t.Errorf("a handed over %d markets; d publishes %d; want equal and non-zero", moved, sd.Publishing)
	}
	if sa.HandoverTimeouts != 0 {
		t.Errorf("a's handovers timed out %d times; want 0 (d's books were published)", sa.HandoverTimeouts)
	}
}

// onlyMoved fails the test if a market changed publisher although it was not
// published by gone before.
func onlyMoved(t *testing.T, before, after map[string]string, gone string) {
	t.Helper()
	moved := 0
	for cid, was := range before {
		if after[cid] != was {
			moved++
			if was != gone {
				t.Errorf("market %s moved from %s to %s; only %s's markets should move", cid, was, after[cid], gone)
			}
		}
	}
	if moved == 0 {
		t.Errorf("no market moved after %s left", gone)
	}
}

var _ = context.Background
var _ = fmt.Sprint
