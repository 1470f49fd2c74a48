package main

import (
	"bytes"
	"errors"
	"flag"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/polyfeed/polyfeed/engine"
	"github.com/polyfeed/polyfeed/engine/venue"
	"github.com/polyfeed/polyfeed/internal/flagenv"
)

// env builds a LookupFunc from name/value pairs.
func env(kv ...string) flagenv.LookupFunc {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParseConfigDefaults(t *testing.T) {
	o, err := parseConfig(nil, env())
	if err != nil {
		t.Fatal(err)
	}
	want := options{
		Workers: 4, LogLevel: slog.LevelInfo, LogFormat: "text",
		GammaURL: engine.DefaultGammaURL, WSURL: venue.DefaultMarketURL,
		HTTPAddr: "127.0.0.1:9090", AssetsPerConn: 200, Lifecycle: true, Recycling: true, BestCheck: true,
		Backpressure: engine.DropAndResync, StopTimeout: 30 * time.Second, Pprof: true,
		SimMarkets: defaultSimMarkets, SimRate: defaultSimRate, SimSeed: 1, SimChurn: defaultSimChurn,
		PrintEvery: 5 * time.Second, RecordMaxFile: 256 << 20,
		Stream:            streamOptions{Publish: true, Listen: "127.0.0.1:4222", DataDir: "./polyfeed-data", Prefix: "polyfeed"},
		DiscoveryInterval: time.Minute, ExpiryInterval: 30 * time.Second, ExpiryGrace: 15 * time.Minute,
		CleanupGrace: time.Hour, SuspectExpiryShare: 0.10,
		Cluster: clusterOptions{Replicas: 1, StorageReplicas: 1, DrainTimeout: 15 * time.Second},
	}
	if o != want {
		t.Errorf("parseConfig(nil) =\n%+v\nwant\n%+v", o, want)
	}
}

func TestParseConfigPrecedence(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   flagenv.LookupFunc
		check func(options) bool
	}{
		{"env over default", nil, env("POLYFEED_WORKERS", "7"), func(o options) bool { return o.Workers == 7 }},
		{"flag over env", []string{"--workers=3"}, env("POLYFEED_WORKERS", "7"), func(o options) bool { return o.Workers == 3 }},
		{"flag over bad env", []string{"--workers", "3"}, env("POLYFEED_WORKERS", "x"), func(o options) bool { return o.Workers == 3 }},
		{"env disables lifecycle", nil, env("POLYFEED_ENABLE_LIFECYCLE", "false"), func(o options) bool { return !o.Lifecycle }},
		{"env empties http addr", nil, env("POLYFEED_HTTP_ADDR", ""), func(o options) bool { return o.HTTPAddr == "" }},
		{"enum case-insensitive", []string{"--log-level=DEBUG", "--log-format=JSON", "--backpressure=Block"}, env(),
			func(o options) bool {
				return o.LogLevel == slog.LevelDebug && o.LogFormat == "json" && o.Backpressure == engine.Block
			}},
		{"sim prints books by default", []string{"--sim"}, env(), func(o options) bool { return o.PrintBooks == defaultSimPrintBooks }},
		{"sim print-books 0 from flag", []string{"--sim", "--print-books=0"}, env(), func(o options) bool { return o.PrintBooks == 0 }},
		{"sim print-books 0 from env", []string{"--sim"}, env("POLYFEED_PRINT_BOOKS", "0"), func(o options) bool { return o.PrintBooks == 0 }},
		{"sim settings", []string{"--sim", "--sim-markets=1200", "--sim-rate=50.5", "--sim-seed=-3", "--sim-churn=0"}, env(),
			func(o options) bool {
				return o.Sim && o.SimMarkets == 1200 && o.SimRate == 50.5 && o.SimSeed == -3 && o.SimChurn == 0
			}},
		{"stream defaults", nil, env(), func(o options) bool {
			s := o.Stream
			return s.Publish && s.URL == "" && s.Listen == "127.0.0.1:4222" && s.DataDir == "./polyfeed-data" && !s.Memory && s.Prefix == "polyfeed"
		}},
		{"stream from env", nil, env("POLYFEED_NATS_PREFIX", "pf_2", "POLYFEED_PUBLISH", "false", "POLYFEED_NATS_LISTEN", ""),
			func(o options) bool { return o.Stream.Prefix == "pf_2" && !o.Stream.Publish && o.Stream.Listen == "" }},
		{"external cluster", []string{"--nats-url=nats://a:4222, nats://b:4222", "--nats-creds=/x.creds", "--nats-tls-ca=/ca.pem"}, env(),
			func(o options) bool {
				return o.Stream.external && o.Stream.Creds == "/x.creds" && o.Stream.TLSCA == "/ca.pem"
			}},
		{"lifecycle knobs", []string{"--discovery-interval=2m", "--expiry-interval=5s", "--expiry-grace=0", "--cleanup-grace=10m"},
			env("POLYFEED_SUSPECT_EXPIRY_SHARE", "0.25"),
			func(o options) bool {
				lc := lifecycleConfig(o)
				return o.DiscoveryInterval == 2*time.Minute && o.ExpiryInterval == 5*time.Second && o.ExpiryGrace == 0 &&
					o.CleanupGrace == 10*time.Minute && o.SuspectExpiryShare == 0.25 &&
					lc.ExpiryGrace < 0 // none, not the default
			}},
		{"urls", []string{"--ws-url=ws://127.0.0.1:1/ws/market", "--gamma-url=http://127.0.0.1:1"}, env(),
			func(o options) bool {
				return o.WSURL == "ws://127.0.0.1:1/ws/market" && o.GammaURL == "http://127.0.0.1:1"
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseConfig(tt.args, tt.env)
			if err != nil {
				t.Fatalf("parseConfig(%q) = %v", tt.args, err)
			}
			if !tt.check(o) {
				t.Errorf("parseConfig(%q) = %+v: check failed", tt.args, o)
			}
		})
	}
}

func TestParseConfigInvalid(t *testing.T) {
	tests := []struct {
		args []string
		env  flagenv.LookupFunc
		want string // the message must name this flag or variable
	}{
		{[]string{"--nope"}, env(), "-nope"},
		{[]string{"--workers=abc"}, env(), "-workers"},
		{[]string{"--workers=0"}, env(), "--workers"},
		{[]string{"--workers=257"}, env(), "--workers"},
		{[]string{"--workers"}, env(), "-workers"},
		{nil, env("POLYFEED_WORKERS", "0"), "POLYFEED_WORKERS"},
		{nil, env("POLYFEED_WORKERS", "many"), "POLYFEED_WORKERS"},
		{[]string{"--assets-per-conn=501"}, env(), "--assets-per-conn"},
		{[]string{"--assets-per-conn=0"}, env(), "--assets-per-conn"},
		{nil, env("POLYFEED_ASSETS_PER_CONN", "9999"), "POLYFEED_ASSETS_PER_CONN"},
		{[]string{"--log-level=loud"}, env(), "--log-level"},
		{nil, env("POLYFEED_LOG_FORMAT", "xml"), "POLYFEED_LOG_FORMAT"},
		{[]string{"--backpressure=wait"}, env(), "--backpressure"},
		{[]string{"--ws-url=http://x/ws"}, env(), "--ws-url"},
		{[]string{"--ws-url=ws://"}, env(), "--ws-url"},
		{[]string{"--ws-url=::"}, env(), "--ws-url"},
		{[]string{"--gamma-url=ftp://x"}, env(), "--gamma-url"},
		{nil, env("POLYFEED_GAMMA_URL", "gamma"), "POLYFEED_GAMMA_URL"},
		{[]string{"--http-addr=9090"}, env(), "--http-addr"},
		{[]string{"--http-addr=:99999"}, env(), "--http-addr"},
		{[]string{"--enable-lifecycle=maybe"}, env(), "-enable-lifecycle"},
		{nil, env("POLYFEED_ENABLE_RECYCLING", "maybe"), "POLYFEED_ENABLE_RECYCLING"},
		{[]string{"--stop-timeout=0s"}, env(), "--stop-timeout"},
		{[]string{"--stop-timeout=soon"}, env(), "-stop-timeout"},
		{[]string{"--print-books=-1"}, env(), "--print-books"},
		{[]string{"--print-every=1ms"}, env(), "--print-every"},
		{[]string{"--sim", "--sim-markets=0"}, env(), "--sim-markets"},
		{[]string{"--sim", "--sim-rate=NaN"}, env(), "--sim-rate"},
		{[]string{"--sim", "--sim-rate=0"}, env(), "--sim-rate"},
		{[]string{"--sim", "--sim-churn=-1"}, env(), "--sim-churn"},
		{[]string{"--sim", "--ws-url=ws://h/x"}, env(), "--ws-url"},
		{[]string{"--sim"}, env("POLYFEED_GAMMA_URL", "http://h"), "POLYFEED_GAMMA_URL"},
		{[]string{"--sim-markets=10"}, env(), "--sim-markets"},
		{nil, env("POLYFEED_SIM_SEED", "3"), "POLYFEED_SIM_SEED"},
		{[]string{"--nats-prefix=a.b"}, env(), "--nats-prefix"},
		{nil, env("POLYFEED_NATS_PREFIX", ""), "POLYFEED_NATS_PREFIX"},
		{[]string{"--nats-prefix=a b"}, env(), "--nats-prefix"},
		{[]string{"--nats-url=http://x:4222"}, env(), "--nats-url"},
		{[]string{"--nats-url=nats://a:4222,"}, env(), "--nats-url"},
		{[]string{"--nats-url=nats://a:4222", "--nats-listen=127.0.0.1:4223"}, env(), "--nats-listen"},
		{[]string{"--nats-url=nats://a:4222"}, env("POLYFEED_DATA_DIR", "/tmp/x"), "POLYFEED_DATA_DIR"},
		{[]string{"--nats-creds=/x.creds"}, env(), "--nats-creds"},
		{[]string{"--nats-url=nats://a:4222", "--nats-tls-cert=/c.pem"}, env(), "--nats-tls-key"},
		{[]string{"--nats-listen=4222"}, env(), "--nats-listen"},
		{[]string{"--data-dir="}, env(), "--data-dir"},

		{[]string{"--discovery-interval=500ms"}, env(), "--discovery-interval"},
		{[]string{"--discovery-interval=48h"}, env(), "--discovery-interval"},
		{nil, env("POLYFEED_DISCOVERY_INTERVAL", "often"), "POLYFEED_DISCOVERY_INTERVAL"},
		{[]string{"--expiry-interval=0s"}, env(), "--expiry-interval"},
		{[]string{"--expiry-grace=-1m"}, env(), "--expiry-grace"},
		{nil, env("POLYFEED_EXPIRY_GRACE", "169h"), "POLYFEED_EXPIRY_GRACE"},
		{[]string{"--cleanup-grace=0s"}, env(), "--cleanup-grace"},
		{[]string{"--suspect-expiry-share=0"}, env(), "--suspect-expiry-share"},
		{[]string{"--suspect-expiry-share=1.5"}, env(), "--suspect-expiry-share"},
		{nil, env("POLYFEED_SUSPECT_EXPIRY_SHARE", "NaN"), "POLYFEED_SUSPECT_EXPIRY_SHARE"},
		{[]string{"extra"}, env(), "extra"},
		{[]string{"--a\nb"}, env(), `-a\nb`}, // the flag package echoes names verbatim
	}
	for _, tt := range tests {
		o, err := parseConfig(tt.args, tt.env)
		if !errors.Is(err, errUsage) {
			t.Errorf("parseConfig(%q) = %+v, %v; want a usage error", tt.args, o, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") {
			t.Errorf("parseConfig(%q) error %q: want one line naming %q", tt.args, msg, tt.want)
		}
	}
}

func TestParseConfigHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "-help"} {
		if _, err := parseConfig([]string{arg}, env()); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("parseConfig(%q) = %v; want flag.ErrHelp", arg, err)
		}
	}
}

// TestRunRejectsBadUsageBeforeStartingAnything: run returns the usage error
// (main turns it into exit status 2) and writes nothing.
func TestRunRejectsBadUsageBeforeStartingAnything(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run([]string{"--workers=0", "--sim"}, env(), nil, &stdout, &stderr)
	if !errors.Is(err, errUsage) {
		t.Fatalf("run = %v; want a usage error", err)
	}
	if stdout.Len() != 0 || stderr.Len() != 0 {
		t.Errorf("run wrote stdout %q stderr %q; want nothing", stdout.String(), stderr.String())
	}
}

// TestUsageListsEveryFlag: --help shows each flag with its variable.
func TestUsageListsEveryFlag(t *testing.T) {
	var b bytes.Buffer
	printUsage(&b)
	newFlagSet(new(options), new(rawOptions)).VisitAll(func(f *flag.Flag) {
		for _, want := range []string{"--" + f.Name + " ", "env " + flagenv.VarName(envPrefix, f.Name) + ","} {
			if !strings.Contains(b.String(), want) {
				t.Errorf("usage lacks %q", want)
			}
		}
	})
}

// FuzzParseConfig: any command line and environment yields options that
// pass validation or a clean one-line usage error; never a panic.
func FuzzParseConfig(f *testing.F) {
	f.Add("--workers=4\x00--sim", "POLYFEED_WORKERS", "8")
	f.Add("--sim\x00--sim-rate=1e308\x00--print-books=100", "POLYFEED_SIM_CHURN", "Inf")
	f.Add("--ws-url=wss://h/ws/market\x00--gamma-url=https://h", "POLYFEED_HTTP_ADDR", "[::1]:0")
	f.Add("--log-level=warn\x00--backpressure=block\x00--dry-run", "POLYFEED_ASSETS_PER_CONN", "500")
	f.Add("-workers\x00-1", "POLYFEED_ENABLE_LIFECYCLE", "0")
	f.Add("--http-addr=\x00x", "POLYFEED_STOP_TIMEOUT", "-1s")
	f.Add("--", "POLYFEED_WS_URL", "ws://%zz")
	f.Add("--a\nb", "", "")
	f.Fuzz(func(t *testing.T, argv, envName, envValue string) {
		var args []string
		if argv != "" {
			args = strings.Split(argv, "\x00")
		}
		o, err := parseConfig(args, env(envName, envValue))
		switch {
		case errors.Is(err, flag.ErrHelp):
		case err != nil:
			if !errors.Is(err, errUsage) {
				t.Fatalf("parseConfig(%q, %s=%q) = %v; want a usage error", args, envName, envValue, err)
			}
			if msg := err.Error(); msg == "" || strings.Contains(msg, "\n") {
				t.Fatalf("usage error %q is not one line", msg)
			}
		default:
			if o.Workers < 1 || o.Workers > 256 || o.AssetsPerConn < 1 || o.AssetsPerConn > venue.MaxAssetsPerConn ||
				o.StopTimeout <= 0 || o.PrintBooks < 0 || (o.LogFormat != "text" && o.LogFormat != "json") {
				t.Fatalf("parseConfig(%q, %s=%q) accepted %+v", args, envName, envValue, o)
			}
			if o.Sim && !(o.SimRate > 0) {
				t.Fatalf("accepted sim rate %v", o.SimRate)
			}
		}
	})
}
