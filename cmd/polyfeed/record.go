package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/polyfeed/polyfeed/engine"
	"github.com/polyfeed/polyfeed/record"
	"github.com/polyfeed/polyfeed/record/enginetap"
)

// recorderStopTimeout bounds writing out what the recorder still buffers.
const recorderStopTimeout = 10 * time.Second

// startRecorder starts the --record writer; nil without --record. It
// starts before the engine and stops after it, so no frame goes unrecorded.
func startRecorder(ctx context.Context, o options, log *slog.Logger) (*record.Writer, error) {
	if o.RecordDir == "" {
		return nil, nil
	}
	w, err := record.New(record.Config{Dir: o.RecordDir, MaxFileBytes: o.RecordMaxFile, Keep: o.RecordKeep, Logger: log})
	if err != nil {
		return nil, err
	}
	if err := timed(log, "start", "recorder", func() error { return w.Start(ctx) }); err != nil {
		return nil, fmt.Errorf("cannot start recording: %w", err)
	}
	return w, nil
}

func stopRecorder(w *record.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), recorderStopTimeout)
	defer cancel()
	return w.Stop(ctx)
}

// withRecording taps the engine into the recorder.
func withRecording(cfg engine.Config, w *record.Writer) engine.Config {
	if w != nil {
		cfg.Tap = enginetap.New(w)
	}
	return cfg
}

// recordingHealth shows the recorder in /healthz detail. A stopped
// recording (a full disk) does not make the process unhealthy: the books
// are still right.
func recordingHealth(w *record.Writer) func() map[string]string {
	if w == nil {
		return nil
	}
	return func() map[string]string {
		if err := w.Health(); err != nil {
			return map[string]string{"recording": "stopped: " + err.Error()}
		}
		return map[string]string{"recording": "ok"}
	}
}
