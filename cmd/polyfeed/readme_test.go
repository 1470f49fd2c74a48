package main

import (
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/polyfeed/polyfeed/internal/flagenv"
)

func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReadmeDocumentsEveryFlag keeps the README's flag table in step with
// the code: every flag has a row with its variable and default, and every
// row names a flag that exists.
func TestReadmeDocumentsEveryFlag(t *testing.T) {
	text := readme(t)
	rows := map[string]string{}
	row := regexp.MustCompile("(?m)^\\| `--([a-z0-9-]+)` \\| `(POLYFEED_[A-Z0-9_]+)` \\| `([^`]*)` \\|")
	for _, m := range row.FindAllStringSubmatch(text, -1) {
		rows[m[1]] = m[0]
	}
	known := map[string]bool{}
	newFlagSet(new(options), new(rawOptions)).VisitAll(func(f *flag.Flag) {
		known[f.Name] = true
		r, ok := rows[f.Name]
		if !ok {
			t.Errorf("README has no flag table row for --%s", f.Name)
			return
		}
		want := "| `--" + f.Name + "` | `" + flagenv.VarName(envPrefix, f.Name) + "` | `" + f.DefValue + "` |"
		if r != want {
			t.Errorf("README row %q; want it to start %q", r, want)
		}
	})
	for name := range rows {
		if !known[name] {
			t.Errorf("README documents --%s, which is no flag", name)
		}
	}
}

// TestReadmeStartsWithTheTwoCommands: the first thing a reader sees.
func TestReadmeStartsWithTheTwoCommands(t *testing.T) {
	text := readme(t)
	first := text[:min(len(text), 300)]
	for _, want := range []string{"go run ./cmd/polyfeed --sim", "make test"} {
		if !strings.Contains(first, want) {
			t.Errorf("README does not open with %q", want)
		}
	}
}

// TestReadmeExampleCompiles builds the embedding example of the README as
// a program of this module (through a build overlay: nothing is written to
// the source tree), so the example cannot rot.
func TestReadmeExampleCompiles(t *testing.T) {
	text := readme(t)
	i := strings.Index(text, "```go\npackage main\n")
	if i < 0 {
		t.Fatal("README has no Go program")
	}
	src := text[i+len("```go\n"):]
	src = src[:strings.Index(src, "```")]
	dir := t.TempDir()
	file := filepath.Join(dir, "main.go")
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	virtual := filepath.Join(wd, "readme_example", "main.go")
	overlay, err := json.Marshal(map[string]any{"Replace": map[string]string{virtual: file}})
	if err != nil {
		t.Fatal(err)
	}
	ov := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(ov, overlay, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(goTool(), "build", "-overlay", ov, "-o", os.DevNull, "./readme_example").CombinedOutput()
	if err != nil {
		t.Fatalf("README example does not build: %v\n%s", err, out)
	}
}
