package runner

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestGroupStartsOnceAndStopsIdempotently(t *testing.T) {
	defer goleak.VerifyNone(t)
	var g Group
	ran := make(chan struct{})
	loop := func(ctx context.Context) {
		close(ran)
		<-ctx.Done()
	}
	if err := g.Start(context.Background(), loop); err != nil {
		t.Fatal(err)
	}
	<-ran
	if err := g.Start(context.Background(), loop); err != ErrStarted {
		t.Fatalf("second Start = %v; want already started", err)
	}
	first := g.Stop()
	second := g.Stop() // idempotent
	if !first || !second {
		t.Fatalf("Stop() = %v, then %v after Start; want true every time", first, second)
	}
	if err := g.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := g.Add(); ok {
		t.Fatal("Add after Stop = ok; want refused")
	}
	if g.Go(func(context.Context) { t.Error("ran after Stop") }) {
		t.Fatal("Go after Stop = true; want false")
	}
}

func TestGroupNeverStarted(t *testing.T) {
	var g Group
	if g.Stop() {
		t.Fatal("Stop() = true without Start")
	}
	err := g.Start(context.Background(), func(context.Context) {})
	if err != ErrStopped {
		t.Fatalf("Start after Stop = %v; want stopped", err)
	}
	if g.Context().Err() == nil {
		t.Fatal("context of a stopped group is not cancelled")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var h Group
	if err := h.Start(ctx, func(context.Context) {}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Start with an ended ctx = %v; want context.Canceled", err)
	}
}

func TestGroupWaitIsBoundedAndCoversAdd(t *testing.T) {
	defer goleak.VerifyNone(t)
	var g Group
	_, ok := g.Add() // work on the caller's goroutine, not finished yet
	if !ok {
		t.Fatal("Add before Stop refused")
	}
	g.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := g.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrHung) {
		t.Fatalf("Wait with pending work = %v; want ErrHung and DeadlineExceeded", err)
	}
	g.Done()
	if err := g.Wait(context.Background()); err != nil {
		t.Fatalf("Wait after Done = %v", err)
	}
}

func TestBoundedReturnsTheResult(t *testing.T) {
	defer goleak.VerifyNone(t)
	want := errors.New("stop failed")
	if err := Bounded(context.Background(), func(context.Context) error { return want }); err != want {
		t.Fatalf("Bounded = %v; want %v", err, want)
	}
	release := make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err := Bounded(ctx, func(context.Context) error { <-release; return nil })
	close(release)
	if !errors.Is(err, ErrHung) {
		t.Fatalf("Bounded on a hung f = %v; want ErrHung", err)
	}
}
