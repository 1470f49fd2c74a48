package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/polyfeed/polyfeed/internal/sim"
	"go.uber.org/goleak"
)

func TestHelpDocumentsEveryFlag(t *testing.T) {
	var out bytes.Buffer
	_, err := parseFlags([]string{"--help"}, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, name := range []string{"addr", "markets", "rate", "seed", "churn", "faults", "tick",
		"resolved-delivery", "no-book-every", "max-batch", "idle-timeout",
		"close=CODE@DUR", "stall=socket:P", "gamma429=P", "snapcap=N",
		"gammaempty=P", "gammacut=P", "gammanokeyset=P", "gammashift=P", "onesided=P"} {
		if !strings.Contains(out.String(), name) {
			t.Errorf("--help does not mention %q", name)
		}
	}
}

func TestInvalidFlagsAreUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--markets", "0"}, {"--rate", "-1"}, {"--churn", "-2"}, {"--faults", "close=7@1s"},
		{"--faults", "bogus=1"}, {"--resolved-delivery", "1.5"}, {"--tick", "1500us"},
		{"--nope"}, {"extra"}, {"--markets", "x"},
	} {
		var out bytes.Buffer
		if _, err := parseFlags(args, &out); !errors.Is(err, errUsage) {
			t.Errorf("%v: err %v; want usage error", args, err)
		} else if out.Len() == 0 {
			t.Errorf("%v: no message", args)
		}
	}
}

func TestFlagsReachConfig(t *testing.T) {
	cfg, err := parseFlags([]string{"--markets", "7", "--rate", "50", "--seed", "9", "--churn", "3",
		"--faults", "malformed=0.5,gammaempty=0.1,gammacut=0.2,gammashift=0.3,onesided=0.4", "--resolved-delivery", "0.75"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Markets != 7 || cfg.Rate != 50 || cfg.Seed != 9 || cfg.ChurnPerMinute != 3 ||
		cfg.Faults.MalformedRate != 0.5 || cfg.Faults.GammaEmptyRate != 0.1 || cfg.Faults.GammaCutRate != 0.2 ||
		cfg.Faults.GammaShiftRate != 0.3 || cfg.Faults.OneSidedRate != 0.4 || cfg.ResolvedDropRate != 0.25 || cfg.Addr != "127.0.0.1:8765" {
		t.Fatalf("config %+v", cfg)
	}
}

func TestRunServesAndStops(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *sim.Server, 1)
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() { done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--markets", "5"}, &logs, ready) }()
	var s *sim.Server
	select {
	case s = <-ready:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := client.Get(s.GammaURL() + "/markets")
	if err != nil {
		t.Fatal(err)
	}
	var ms []map[string]any
	err = json.NewDecoder(resp.Body).Decode(&ms)
	resp.Body.Close()
	if err != nil || len(ms) != 5 {
		t.Fatalf("/markets: %d markets, %v", len(ms), err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if !strings.Contains(logs.String(), "stopped simulator") {
		t.Fatalf("logs: %s", logs.String())
	}
}
