// Package flagenv gives the flags of a flag.FlagSet environment-variable
// fallbacks: a flag set on the command line wins, then its variable, then the
// flag's default. The variable of flag "assets-per-conn" with prefix
// "POLYFEED_" is POLYFEED_ASSETS_PER_CONN.
//
// Concurrency: the functions hold no state; a FlagSet must not be used
// concurrently with Apply (the flag package's own rule).
package flagenv

import (
	"flag"
	"fmt"
	"strings"
)

// LookupFunc returns the value of an environment variable and whether it is
// set (os.LookupEnv has this shape). Injected so tests and fuzzers need not
// touch the process environment.
type LookupFunc func(name string) (string, bool)

// Error is an environment variable whose value its flag refused.
type Error struct {
	Var   string // e.g. POLYFEED_WORKERS
	Flag  string // e.g. workers
	Value string // the refused value, clipped to 64 bytes
	Err   error  // the flag's parse error
}

func (e *Error) Error() string {
	return fmt.Sprintf("invalid value %q for %s (env for --%s): %v", e.Value, e.Var, e.Flag, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// VarName returns the environment variable of flag name: prefix followed by
// the name upper-cased with '-' and '.' turned into '_'.
func VarName(prefix, name string) string {
	return prefix + strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == '.':
			return '_'
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		}
		return r
	}, name)
}

// clip shortens v for messages so a huge variable cannot flood a terminal.
func clip(v string) string {
	if len(v) > 64 {
		return v[:64] + "..."
	}
	return v
}

// Apply sets every flag of fs that the command line left unset from its
// environment variable, if that is set (an empty value counts as set: it
// is how a user clears a string default). Call it after fs.Parse. It returns
// the flags taken from the environment, mapped to their variables, so that
// later validation can name the variable the user actually wrote; and the
// first refused value as an *Error.
func Apply(fs *flag.FlagSet, prefix string, lookup LookupFunc) (fromEnv map[string]string, err error) {
	onCommandLine := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })
	fromEnv = make(map[string]string)
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || onCommandLine[f.Name] {
			return
		}
		name := VarName(prefix, f.Name)
		v, ok := lookup(name)
		if !ok {
			return
		}
		if serr := fs.Set(f.Name, v); serr != nil {
			err = &Error{Var: name, Flag: f.Name, Value: clip(v), Err: serr}
			return
		}
		fromEnv[f.Name] = name
	})
	return fromEnv, err
}

// Unknown returns the variables of environ ("NAME=value" entries, as from
// os.Environ) that start with prefix but belong to no flag of fs: most
// likely typos, which would otherwise be ignored without a word.
func Unknown(fs *flag.FlagSet, prefix string, environ []string) []string {
	known := make(map[string]bool)
	fs.VisitAll(func(f *flag.Flag) { known[VarName(prefix, f.Name)] = true })
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, prefix) && !known[name] {
			out = append(out, name)
		}
	}
	return out
}
