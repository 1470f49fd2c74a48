package flagenv_test

import (
	"errors"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/polyfeed/polyfeed/internal/flagenv"
)

func newSet() (*flag.FlagSet, *int, *string, *bool) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	n := fs.Int("assets-per-conn", 200, "")
	s := fs.String("http-addr", "127.0.0.1:9090", "")
	b := fs.Bool("enable-lifecycle", true, "")
	return fs, n, s, b
}

func env(kv ...string) flagenv.LookupFunc {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestVarName(t *testing.T) {
	for in, want := range map[string]string{
		"workers":         "P_WORKERS",
		"assets-per-conn": "P_ASSETS_PER_CONN",
		"a.b":             "P_A_B",
		"X9":              "P_X9",
	} {
		if got := flagenv.VarName("P_", in); got != want {
			t.Errorf("VarName(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestApplyPrecedence(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     flagenv.LookupFunc
		n       int
		s       string
		b       bool
		fromEnv map[string]string
	}{
		{"defaults", nil, env(), 200, "127.0.0.1:9090", true, map[string]string{}},
		{"env over default", nil, env("P_ASSETS_PER_CONN", "300", "P_ENABLE_LIFECYCLE", "false"), 300, "127.0.0.1:9090", false,
			map[string]string{"assets-per-conn": "P_ASSETS_PER_CONN", "enable-lifecycle": "P_ENABLE_LIFECYCLE"}},
		{"flag over env", []string{"--assets-per-conn=100"}, env("P_ASSETS_PER_CONN", "300"), 100, "127.0.0.1:9090", true, map[string]string{}},
		{"flag over bad env", []string{"--assets-per-conn=100"}, env("P_ASSETS_PER_CONN", "x"), 100, "127.0.0.1:9090", true, map[string]string{}},
		{"empty env clears a string", nil, env("P_HTTP_ADDR", ""), 200, "", true, map[string]string{"http-addr": "P_HTTP_ADDR"}},
		{"unrelated env ignored", nil, env("ASSETS_PER_CONN", "7", "P_OTHER", "1"), 200, "127.0.0.1:9090", true, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, n, s, b := newSet()
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			fromEnv, err := flagenv.Apply(fs, "P_", tt.env)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if *n != tt.n || *s != tt.s || *b != tt.b {
				t.Errorf("got %d %q %v; want %d %q %v", *n, *s, *b, tt.n, tt.s, tt.b)
			}
			if !reflect.DeepEqual(fromEnv, tt.fromEnv) {
				t.Errorf("fromEnv = %v; want %v", fromEnv, tt.fromEnv)
			}
		})
	}
}

func TestApplyBadValueNamesTheVariable(t *testing.T) {
	fs, _, _, _ := newSet()
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	_, err := flagenv.Apply(fs, "P_", env("P_ENABLE_LIFECYCLE", "maybe"))
	var e *flagenv.Error
	if !errors.As(err, &e) {
		t.Fatalf("Apply = %v; want *flagenv.Error", err)
	}
	if e.Var != "P_ENABLE_LIFECYCLE" || e.Flag != "enable-lifecycle" || e.Value != "maybe" {
		t.Errorf("error fields = %+v", e)
	}
	for _, want := range []string{"P_ENABLE_LIFECYCLE", "--enable-lifecycle", `"maybe"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	long := strings.Repeat("9", 1000)
	_, err = flagenv.Apply(fs, "P_", env("P_ASSETS_PER_CONN", long))
	if err == nil || len(err.Error()) > 300 {
		t.Errorf("Apply(huge value) = %v; want a short error", err)
	}
}

func TestUnknown(t *testing.T) {
	fs, _, _, _ := newSet()
	got := flagenv.Unknown(fs, "P_", []string{"P_ASSETS_PER_CONN=1", "P_WORKRES=4", "PATH=/bin", "P_HTTP_ADDR=", "P_X"})
	want := []string{"P_WORKRES", "P_X"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Unknown = %v; want %v", got, want)
	}
}
