package soak

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// fault is one scheduled injection through the simulator's control API.
// A lasting fault sets a SPEC for FaultLength, then clears it; a close
// fault closes every socket at once.
type fault struct {
	Name string
	// Spec is posted to /sim/faults (lasting faults).
	Spec string
	// Close is posted to /sim/close?code= (0: none). With Spec, the close
	// comes right after the SPEC is set, so the reopened sockets get it.
	Close int
}

// faultCycle is what the soak injects, in turn, one every FaultEvery.
var faultCycle = []fault{
	{Name: "close 1006 (TCP drop)", Close: 1006},
	{Name: "bad frames", Spec: "malformed=0.01,truncated=0.01,unknown=0.01"},
	{Name: "close 1011", Close: 1011},
	{Name: "asset stalls", Spec: "stall=asset:0.05", Close: 1001},
	{Name: "gamma 429/5xx/garbage", Spec: "gamma429=0.5:1,gamma5xx=0.2,gammagarbage=0.02"},
	{Name: "close 1000", Close: 1000},
	{Name: "socket stalls", Spec: "stall=socket:0.3", Close: 1000},
	{Name: "oversized frames (under the limit)", Spec: "oversized=0.001:262144"},
	{Name: "close 1008", Close: 1008},
	{Name: "gamma hangs", Spec: "gammahang=0.5:5s"},
}

// FaultEvent records one injection: it started At and ended Until (a
// close ends when it starts; a lasting fault when it was cleared). Err is
// why the injection failed; such a fault was never in effect.
type FaultEvent struct {
	At, Until time.Duration
	Name      string
	Err       string
}

// inject applies f against the simulator at base.
func inject(base string, f fault) error {
	if f.Spec != "" {
		if err := post(base+"/sim/faults", f.Spec); err != nil {
			return err
		}
	}
	if f.Close != 0 {
		return post(fmt.Sprintf("%s/sim/close?code=%d", base, f.Close), "")
	}
	return nil
}

// clearFaults turns every fault off.
func clearFaults(base string) error { return post(base+"/sim/faults", "none") }

func post(url, body string) error {
	resp, err := httpc.Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("POST %s: %d %s", url, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return nil
}
