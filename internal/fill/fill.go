// Package fill sets configuration defaults, one line per field, so that each default is
// written once, next to the field's name, and the defaults every component shares (the
// clock, the discarding logger) are written only here.
//
// Concurrency: the functions write through their pointer; call them before the config is
// shared.
package fill

import (
	"cmp"
	"log/slog"
	"time"
)

// Positive sets *v to d when *v is zero or negative.
func Positive[T cmp.Ordered](v *T, d T) {
	var zero T
	if *v <= zero {
		*v = d
	}
}

// Zero sets *v to d when *v is the zero value: for settings where a negative value means
// something (usually "disabled").
func Zero[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

// Clock sets a nil clock to time.Now.
func Clock(now *func() time.Time) {
	if *now == nil {
		*now = time.Now
	}
}

// Logger sets a nil logger to one that discards everything: components log nothing unless
// given a logger.
func Logger(l **slog.Logger) {
	if *l == nil {
		*l = slog.New(slog.DiscardHandler)
	}
}
