package runner

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder builds components that log their start/stop into a shared trace.
type recorder struct {
	mu    sync.Mutex
	trace []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.trace = append(r.trace, s)
	r.mu.Unlock()
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.trace)
}

func (r *recorder) comp(name string, startErr error, stop func(context.Context) error) Step {
	return Step{
		Name: name,
		Start: func(context.Context) error {
			r.add("start " + name)
			return startErr
		},
		Stop: func(ctx context.Context) error {
			r.add("stop " + name)
			if stop != nil {
				return stop(ctx)
			}
			return nil
		},
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestSequenceStartOrderAndReverseStop(t *testing.T) {
	var r recorder
	names := []string{"registry", "workers", "router", "pool", "lifecycle", "recycler"}
	s := Sequence{Logger: quietLogger()}
	for _, n := range names {
		s.Steps = append(s.Steps, r.comp(n, nil, nil))
	}
	if err := s.StartAll(context.Background(), time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.StopAll(ctx); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, n := range names {
		want = append(want, "start "+n)
	}
	for _, n := range slices.Backward(names) {
		want = append(want, "stop "+n)
	}
	if !slices.Equal(r.get(), want) {
		t.Fatalf("trace = %v; want %v", r.trace, want)
	}
	// Idempotent: nothing left to stop.
	r.mu.Lock()
	r.trace = nil
	r.mu.Unlock()
	if err := s.StopAll(ctx); err != nil || len(r.get()) != 0 {
		t.Fatalf("second StopAll = %v, trace %v; want no-op", err, r.trace)
	}
}

func TestSequenceRollbackAtEachStage(t *testing.T) {
	names := []string{"registry", "workers", "router", "pool", "lifecycle", "recycler"}
	for fail := range names {
		t.Run(names[fail], func(t *testing.T) {
			var r recorder
			s := Sequence{Logger: quietLogger()}
			boom := errors.New("boom")
			for i, n := range names {
				var err error
				if i == fail {
					err = boom
				}
				s.Steps = append(s.Steps, r.comp(n, err, nil))
			}
			err := s.StartAll(context.Background(), time.Second)
			if !errors.Is(err, boom) || !strings.Contains(err.Error(), names[fail]) {
				t.Fatalf("StartAll = %v; want boom naming %s", err, names[fail])
			}
			var want []string
			for i := 0; i <= fail; i++ {
				want = append(want, "start "+names[i])
			}
			for i := fail - 1; i >= 0; i-- {
				want = append(want, "stop "+names[i])
			}
			if !slices.Equal(r.get(), want) {
				t.Fatalf("trace = %v; want %v", r.trace, want)
			}
		})
	}
}

func TestSequenceHungComponentIsSkipped(t *testing.T) {
	var r recorder
	release := make(chan struct{})
	s := Sequence{Logger: quietLogger()}
	s.Steps = []Step{
		r.comp("first", nil, nil),
		r.comp("hung", nil, func(context.Context) error { <-release; return nil }),
		r.comp("last", nil, nil),
	}
	if err := s.StartAll(context.Background(), time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	err := s.StopAll(ctx)
	close(release) // let the hung stop finish so nothing leaks past the test
	if !errors.Is(err, ErrHung) || !strings.Contains(err.Error(), "hung") {
		t.Fatalf("StopAll = %v; want ErrHung naming the component", err)
	}
	want := []string{"start first", "start hung", "start last", "stop last", "stop hung", "stop first"}
	if !slices.Equal(r.get(), want) {
		t.Fatalf("trace = %v; want %v (the component after the hung one must still stop)", r.trace, want)
	}
}
