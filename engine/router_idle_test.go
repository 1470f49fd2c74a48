package engine

import (
	"testing"
	"time"

	"github.com/polyfeed/polyfeed/internal/testrig"
)

// An idle router sleeps until its next periodic job, within [idlePeriod,
// quietPeriod], and only idlePeriod while something waits for ring room.
func TestIdleWaitFollowsTheNextJob(t *testing.T) {
	ws := newWorkerSet(workerConfig{count: 2, ringSize: 1024, logger: testrig.Logger()})
	r := newRouter(routerConfig{inboundBytes: DefaultInboundBytes, logger: testrig.Logger()}, ws.rings())
	const now = int64(1000 * time.Second)
	if got := r.idleWait(now); got != quietPeriod {
		t.Errorf("nothing due: idleWait = %v; want %v", got, quietPeriod)
	}

	r.cfg.tick, r.nextTick = true, now+int64(250*time.Millisecond)
	if got := r.idleWait(now); got != 250*time.Millisecond {
		t.Errorf("tick due in 250ms: idleWait = %v", got)
	}
	r.nextTick = now - 1 // overdue: the floor, not a spin
	if got := r.idleWait(now); got != idlePeriod {
		t.Errorf("tick overdue: idleWait = %v; want %v", got, idlePeriod)
	}
	r.cfg.tick = false

	r.cfg.assetStaleAfter, r.nextSweep = time.Minute, now+int64(400*time.Millisecond)
	if got := r.idleWait(now); got != 400*time.Millisecond {
		t.Errorf("sweep due in 400ms: idleWait = %v", got)
	}
	r.cfg.assetStaleAfter = 0

	r.nextDecStats = now + int64(300*time.Millisecond)
	if got := r.idleWait(now); got != quietPeriod {
		t.Errorf("no frame since the last stats snapshot: idleWait = %v; want %v", got, quietPeriod)
	}
	r.frames.Add(1)
	if got := r.idleWait(now); got != 300*time.Millisecond {
		t.Errorf("frames since the last stats snapshot: idleWait = %v; want 300ms", got)
	}
	r.statsFrames = r.frames.Load()

	r.rings[1] = r.rings[1].Resize(4096)
	r.grown[1] = now - int64(shrinkAfter) + int64(700*time.Millisecond)
	if got := r.idleWait(now); got != 700*time.Millisecond {
		t.Errorf("grown ring shrinks in 700ms: idleWait = %v", got)
	}
	r.rings[1] = r.rings[1].Resize(r.firstCap)

	r.backlogged = 1
	if got := r.idleWait(now); got != idlePeriod {
		t.Errorf("a deferred control: idleWait = %v; want %v", got, idlePeriod)
	}
	r.backlogged, r.nUnstaged = 0, 1
	if got := r.idleWait(now); got != idlePeriod {
		t.Errorf("an unstaged invalidation: idleWait = %v; want %v", got, idlePeriod)
	}
}

// A holder that leaves retries behind wakes a quiet router goroutine once,
// and leaves an awake one (or one with nothing to retry) alone.
func TestHolderWakesAQuietRouterForRetries(t *testing.T) {
	ws := newWorkerSet(workerConfig{count: 1, ringSize: 1024, logger: testrig.Logger()})
	r := newRouter(routerConfig{inboundBytes: DefaultInboundBytes, logger: testrig.Logger()}, ws.rings())
	woken := func() bool {
		select {
		case <-r.wake:
			return true
		default:
			return false
		}
	}
	r.quiet.Store(true)
	r.wakeForRetries()
	if woken() || !r.quiet.Load() {
		t.Fatal("woken with nothing to retry")
	}
	r.backlogged = 1
	r.wakeForRetries()
	if !woken() || r.quiet.Load() {
		t.Fatal("a quiet router was not woken for a deferred control")
	}
	r.wakeForRetries()
	if woken() {
		t.Fatal("woken again before it slept quietly again")
	}
	r.backlogged, r.nUnstaged = 0, 2
	r.quiet.Store(true)
	r.wakeForRetries()
	if !woken() {
		t.Fatal("a quiet router was not woken for an unstaged invalidation")
	}
}
