package main

import (
	"flag"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeCommand keeps the README's polywatch line runnable: it is there, and every
// flag it names exists.
func TestReadmeCommand(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`(?m)^go run \./cmd/polywatch[^\n]*`).FindString(string(b))
	if line == "" {
		t.Fatal("README has no `go run ./cmd/polywatch` line")
	}
	known := map[string]bool{}
	newFlagSet(new(options), io.Discard).VisitAll(func(f *flag.Flag) { known[f.Name] = true })
	for _, m := range regexp.MustCompile(`--([a-z-]+)`).FindAllStringSubmatch(line, -1) {
		if !known[m[1]] {
			t.Errorf("README's polywatch line uses --%s, which is no flag", m[1])
		}
	}
	if !strings.Contains(line, "--json") {
		t.Error("README's polywatch line does not mention --json")
	}
}
