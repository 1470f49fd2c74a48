package sim

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseFaultsRoundTrip(t *testing.T) {
	spec := "close=1006@30s,stall=socket:0.1@5s,stall=asset:0.2,malformed=0.01,truncated=0.02,unknown=0.03,oversized=0.04:2048,snapcap=200,slowwrite=10ms,slowread=20ms,gamma429=0.2:3,gamma5xx=0.1,gammahang=0.05:2s,gammagarbage=0.3,gammaempty=0.4,gammacut=0.5,gammanokeyset=0.55,gammashift=0.6,onesided=0.7"
	f, err := ParseFaults(spec)
	if err != nil {
		t.Fatal(err)
	}
	if f.String() != spec {
		t.Fatalf("String() = %s; want %s", f.String(), spec)
	}
	for _, bad := range []string{"close=1234@1s", "close=1006", "stall=socket:2", "malformed=x", "nope=1", "snapcap=0", "gamma429=0.1:0", "slowread=-1s", "oversized", "gammaempty=2", "gammacut=-1", "gammashift=x", "onesided=1.5"} {
		if _, err := ParseFaults(bad); err == nil {
			t.Errorf("ParseFaults(%q) accepted", bad)
		}
	}
	if f, err := ParseFaults("none"); err != nil || f.String() != "none" {
		t.Fatalf("none: %v %v", f, err)
	}
}

func FuzzParseFaults(f *testing.F) {
	f.Add("close=1006@30s,stall=socket:0.1,malformed=0.01,gamma429=0.2")
	f.Add("stall=asset:1,snapcap=off,oversized=0.5:100")
	f.Add("gammahang=1:1ms,slowwrite=1h")
	f.Add("gammaempty=0.5,gammacut=1,gammashift=0.25,onesided=0.01")
	f.Fuzz(func(t *testing.T, spec string) {
		a, err := ParseFaults(spec)
		if err != nil {
			return
		}
		b, err := ParseFaults(a.String())
		if err != nil || a != b {
			t.Fatalf("round trip of %q: %q -> %+v, %v", spec, a.String(), b, err)
		}
	})
}

func FuzzSubscribeMessage(f *testing.F) {
	f.Add(`{"assets_ids":["1"],"type":"market","custom_feature_enabled":true,"initial_dump":true}`)
	f.Add(`{"operation":"unsubscribe","assets_ids":[]}`)
	f.Add("PING")
	s, err := New(Config{Seed: 1, Markets: 3, Manual: true, Epoch: time.Unix(1, 0)})
	if err != nil {
		f.Fatal(err)
	}
	ids := bookAssets(s)
	f.Add(`{"assets_ids":["` + ids[0] + `"]}`)
	f.Fuzz(func(t *testing.T, msg string) {
		var req subscribeRequest
		if json.Unmarshal([]byte(msg), &req) != nil {
			return
		}
		sk := &socket{assets: map[*token]struct{}{}, wake: make(chan struct{}, 1), nc: nopConn{}}
		s.subscribe(sk, req.AssetsIDs, req.Custom, req.InitialDump == nil || *req.InitialDump)
		s.unsubscribe(sk, req.AssetsIDs)
		s.mu.Lock()
		for t := range sk.assets {
			s.unsubLocked(sk, t)
		}
		s.mu.Unlock()
	})
}

func TestCloseFaults(t *testing.T) {
	for _, code := range []int{1000, 1001, 1006, 1008, 1011} {
		t.Run(http.StatusText(0)+strings.Repeat("", 0)+itoa(code), func(t *testing.T) {
			f, _ := ParseFaults("close=" + itoa(code) + "@20ms")
			s := startSim(t, Config{Seed: 1, Markets: 3, Manual: true, Faults: f})
			c := dial(t, s)
			if got, _ := c.closeCode(t); got != code {
				t.Fatalf("close code %d; want %d", got, code)
			}
		})
	}
	t.Run("runtime", func(t *testing.T) {
		s := startSim(t, Config{Seed: 1, Markets: 3, Manual: true})
		c := dial(t, s)
		c.subscribe(t, bookAssets(s)[:1], false)
		c.sync(t)
		resp, err := http.Post(s.URL()+"/sim/close?code=1011", "text/plain", nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("POST /sim/close: %v %v", resp, err)
		}
		resp.Body.Close()
		if got, _ := c.closeCode(t); got != 1011 {
			t.Fatalf("close code %d; want 1011", got)
		}
	})
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestStallKeepsPong: a stalled socket still answers PING but gets no data.
func TestStallFaults(t *testing.T) {
	for _, spec := range []string{"stall=socket:1", "stall=asset:1"} {
		t.Run(spec, func(t *testing.T) {
			f, _ := ParseFaults(spec)
			s := startSim(t, Config{Seed: 1, Markets: 5, Rate: 5000, Manual: true, Faults: f})
			c := dial(t, s)
			c.subscribe(t, bookAssets(s), true)
			s.Step(20)
			c.sync(t)
			c.sync(t)
			evs := events(t, c.takeFrames())
			for _, raw := range evs {
				var e map[string]any
				_ = json.Unmarshal(raw, &e)
				if len(assetsIn(e)) > 0 {
					t.Fatalf("stalled socket got %s", raw)
				}
			}
			if s.Stats().Generated["price_change"] == 0 {
				t.Fatal("nothing generated")
			}
		})
	}
}

func TestFrameFaults(t *testing.T) {
	cases := []struct {
		spec string
		seen func(f []byte) bool
	}{
		{"malformed=1", func(f []byte) bool {
			return !json.Valid(f) && strings.HasPrefix(string(f), `{"event_type":"price_change","market":0x5`)
		}},
		{"truncated=1", func(f []byte) bool { return !json.Valid(f) }},
		{"unknown=1", func(f []byte) bool { return strings.Contains(string(f), `"event_type":"sim_unknown_event"`) }},
		{"oversized=1:200000", func(f []byte) bool { return len(f) == 200000 && json.Valid(f) }},
	}
	for _, tc := range cases {
		t.Run(tc.spec, func(t *testing.T) {
			s := startSim(t, Config{Seed: 1, Markets: 3, Rate: 2000, Manual: true})
			c := dial(t, s)
			c.subscribe(t, bookAssets(s), false)
			c.sync(t)
			// Switched on at run time through the HTTP endpoint.
			resp, err := http.Post(s.URL()+"/sim/faults", "text/plain", strings.NewReader(tc.spec))
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("POST /sim/faults: %v %v", resp, err)
			}
			resp.Body.Close()
			s.Step(5)
			c.sync(t)
			found := false
			for _, f := range c.takeFrames() {
				found = found || tc.seen(f)
			}
			if !found {
				t.Fatalf("%s: no such frame seen", tc.spec)
			}
		})
	}
}

func TestSnapshotCap(t *testing.T) {
	f, _ := ParseFaults("snapcap=2")
	s := startSim(t, Config{Seed: 1, Markets: 5, Manual: true, Faults: f})
	c := dial(t, s)
	c.subscribe(t, bookAssets(s)[:5], false)
	c.sync(t)
	if n := len(events(t, c.takeFrames())); n != 2 {
		t.Fatalf("got %d snapshots; want 2 (cap)", n)
	}
	if s.Stats().SnapshotsSkipped != 3 {
		t.Fatalf("skipped %d; want 3", s.Stats().SnapshotsSkipped)
	}
}

// Slow faults are observed as a lower bound only (an upper bound would be a timing test).
func TestSlowFaults(t *testing.T) {
	for _, spec := range []string{"slowread=150ms", "slowwrite=150ms"} {
		t.Run(spec, func(t *testing.T) {
			f, _ := ParseFaults(spec)
			s := startSim(t, Config{Seed: 1, Markets: 2, Manual: true, Faults: f})
			c := dial(t, s)
			c.subscribe(t, bookAssets(s)[:1], false)
			start := time.Now()
			c.sync(t)
			if d := time.Since(start); d < 150*time.Millisecond {
				t.Fatalf("answer after %v; want >= 150ms", d)
			}
		})
	}
}

func TestSlowConsumerIsDropped(t *testing.T) {
	s := startSim(t, Config{Seed: 1, Markets: 50, Rate: 200000, Manual: true, MaxQueueBytes: 1 << 16})
	c := &wsClient{closed: make(chan struct{})}
	conn, err := dialNoRead(s, c)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.NetConn().Close()
	if err := conn.WriteString(`{"assets_ids":` + mustJSON(bookAssets(s)) + `,"type":"market","initial_dump":false}`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "slow close", func() bool {
		s.Step(5)
		return s.Stats().SlowCloses == 1
	})
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestGammaFaults(t *testing.T) {
	s := startSim(t, Config{Seed: 1, Markets: 10, Manual: true})
	set := func(spec string) {
		f, err := ParseFaults(spec)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetFaults(f); err != nil {
			t.Fatal(err)
		}
	}
	set("gamma429=1:7")
	code, h := getJSON(t, s.URL()+"/markets", nil)
	if code != 429 || h.Get("Retry-After") != "7" {
		t.Fatalf("429 fault: %d Retry-After %q", code, h.Get("Retry-After"))
	}
	set("gamma5xx=1")
	if code, _ := getJSON(t, s.URL()+"/markets/keyset", nil); code < 500 || code > 503 {
		t.Fatalf("5xx fault: %d", code)
	}
	set("gammahang=1:30s")
	cl := &http.Client{Timeout: 100 * time.Millisecond}
	if _, err := cl.Get(s.URL() + "/markets"); err == nil {
		t.Fatal("hang fault: request did not time out")
	}
	set("gammagarbage=1")
	var ms []map[string]any
	getJSON(t, s.URL()+"/markets", &ms)
	for _, m := range ms {
		var ids []string
		_, endErr := time.Parse(time.RFC3339, m["endDate"].(string))
		if json.Unmarshal([]byte(m["clobTokenIds"].(string)), &ids) == nil && endErr == nil {
			t.Fatalf("garbage fault: market %v is clean", m["id"])
		}
	}
	st := s.Stats()
	if st.Gamma429 != 1 || st.Gamma5xx != 1 || st.GammaHangs != 1 || st.GammaGarbage != uint64(len(ms)) {
		t.Fatalf("gamma fault counters %+v", st)
	}
}
