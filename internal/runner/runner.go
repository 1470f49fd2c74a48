// Package runner is the start-once / stop-idempotent / bounded-wait skeleton that every
// long-running component (connections, the pool, the market lifecycle, the recycler) shares,
// and the Sequence that starts components in order and stops them in reverse, each stop
// bounded (the engine's App runs its components through one).
//
// A Group owns the goroutines of one component: Start runs its loop once, Go and Add register
// more work while the component is not stopped, Stop cancels all of it (idempotent, and a
// stopped Group never starts), and Wait waits for every goroutine, at most until a context
// ends.
//
// Concurrency: every Group method may be called from any goroutine. The zero Group is ready to
// use and must not be copied. A Sequence is not safe for concurrent use: its owner serialises
// StartAll and StopAll.
package runner

import (
	"context"
	"errors"
	"sync"
)

var (
	// ErrHung is returned by Bounded when the function is still running after its context
	// ended.
	ErrHung = errors.New("did not stop in time")
	// ErrStarted is returned by Start on a Group already started.
	ErrStarted = errors.New("already started")
	// ErrStopped is returned by Start on a stopped Group.
	ErrStopped = errors.New("stopped")
)

// Group owns a component's goroutines.
type Group struct {
	mu      sync.Mutex
	started bool
	stopped bool
	ctx     context.Context // created on first use; cancelled by Stop
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// contextLocked returns the Group's context, creating it; g.mu must be held.
func (g *Group) contextLocked() context.Context {
	if g.ctx == nil {
		g.ctx, g.cancel = context.WithCancel(context.Background())
		if g.stopped {
			g.cancel()
		}
	}
	return g.ctx
}

// Context returns the context every goroutine of the Group runs under: cancelled by Stop.
func (g *Group) Context() context.Context {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.contextLocked()
}

// Start runs loop on its own goroutine under the Group's context. It fails with ctx's error
// if ctx has ended (ctx only guards the call), ErrStarted if the Group was started before, or
// ErrStopped if it was stopped. The errors are bare: the caller, who knows which component
// it started, wraps them once.
func (g *Group) Start(ctx context.Context, loop func(ctx context.Context)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return ErrStopped
	}
	if g.started {
		return ErrStarted
	}
	g.started = true
	runCtx := g.contextLocked()
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		loop(runCtx)
	}()
	return nil
}

// Go runs f on a goroutine owned by the Group, unless the Group has stopped; it reports
// whether f runs.
func (g *Group) Go(f func(ctx context.Context)) bool {
	ctx, ok := g.Add()
	if !ok {
		return false
	}
	go func() {
		defer g.Done()
		f(ctx)
	}()
	return true
}

// Add registers work that runs on the caller's goroutine, unless the Group has stopped: Wait
// then waits for it too. When ok, the caller must call Done once the work ends; ctx is the
// Group's context.
func (g *Group) Add() (ctx context.Context, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return nil, false
	}
	g.wg.Add(1)
	return g.contextLocked(), true
}

// Done ends work registered by Add.
func (g *Group) Done() { g.wg.Done() }

// Started reports whether Start ran the loop.
func (g *Group) Started() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.started
}

// Stop cancels the Group's context; from now on Start, Go and Add refuse. It reports whether
// the loop had been started. Stop does not wait: call Wait. It may be called any number of
// times.
func (g *Group) Stop() (started bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stopped = true
	if g.cancel != nil {
		g.cancel()
	}
	return g.started
}

// Wait waits until every goroutine of the Group has returned or ctx ends, returning ctx's
// error in the second case (the goroutines go on running until they notice Stop).
func (g *Group) Wait(ctx context.Context) error {
	return Bounded(ctx, func(context.Context) error {
		g.wg.Wait()
		return nil
	})
}

// Bounded runs f on its own goroutine and waits for it at most until ctx ends. An f that
// ignores its context is left running and reported as ErrHung, joined with ctx's error.
func Bounded(ctx context.Context, f func(context.Context) error) error {
	done := make(chan error, 1) // buffered: a late f must not block forever
	go func() { done <- f(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		select {
		case err := <-done:
			return err
		default:
			return errors.Join(ErrHung, ctx.Err())
		}
	}
}
