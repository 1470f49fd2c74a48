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

// Leaving a retry behind (a control deferred on a full ring, an
// invalidation that found no room) wakes a quiet router goroutine once; a
// control staged at once, or an awake router, is left alone.
func TestRetryLeftBehindWakesAQuietRouter(t *testing.T) {
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
	r.stageControl(0, item{kind: itemControl})
	if woken() || !r.quiet.Load() || r.backlogged != 0 {
		t.Fatalf("a control staged at once woke the router (backlogged %d)", r.backlogged)
	}
	for r.rings[0].TryStage(item{kind: itemTick}) {
	}
	r.stageControl(0, item{kind: itemControl})
	if r.backlogged != 1 || !woken() || r.quiet.Load() {
		t.Fatalf("a control deferred on a full ring did not wake the quiet router (backlogged %d)", r.backlogged)
	}
	r.stageControl(0, item{kind: itemControl})
	if woken() {
		t.Fatal("woken again before it slept quietly again")
	}
	r.quiet.Store(true)
	r.dropFor(r.route(pathAsset(1), dpMarket))
	if r.nUnstaged != 1 || !woken() {
		t.Fatalf("an invalidation left unstaged did not wake the quiet router (unstaged %d)", r.nUnstaged)
	}
}
