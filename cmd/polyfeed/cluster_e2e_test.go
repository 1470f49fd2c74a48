package main

// Cluster end-to-end: a real nats-server (built from the module), polysim and
// three `polyfeed --cluster` processes on loopback, observed by a stream
// consumer and a core NATS subscription in this process. docs/CLUSTER.md
// records the figures these tests log.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/polyfeed/polyfeed/cluster"
	"github.com/polyfeed/polyfeed/internal/streamcheck"
	"github.com/polyfeed/polyfeed/internal/streamtest"
	pfstream "github.com/polyfeed/polyfeed/stream"
)

var (
	natsBinOnce sync.Once
	natsBin     string
	natsBinErr  error
)

// natsServerBinary builds the nats-server of go.mod's version once.
func natsServerBinary(t *testing.T) string {
	t.Helper()
	binaries(t) // creates binDir
	natsBinOnce.Do(func() {
		natsBin = filepath.Join(binDir, "nats-server")
		cmd := exec.Command(goTool(), "build", "-o", natsBin, "github.com/nats-io/nats-server/v2")
		if out, err := cmd.CombinedOutput(); err != nil {
			natsBinErr = fmt.Errorf("go build nats-server: %v\n%s", err, out)
		}
	})
	if natsBinErr != nil {
		t.Fatal(natsBinErr)
	}
	return natsBin
}

// natsProc is one nats-server process; it can be killed and started again
// on the same port and storage.
type natsProc struct {
	t     *testing.T
	bin   string
	args  []string
	url   string
	p     *proc
	ready *regexp.Regexp
}

var reNATSReady = regexp.MustCompile(`(Server is ready)`)

func startNATS(t *testing.T, args ...string) *natsProc {
	n := &natsProc{t: t, bin: natsServerBinary(t), args: args, ready: reNATSReady}
	for i, a := range args {
		if a == "-p" {
			n.url = "nats://127.0.0.1:" + args[i+1]
		}
	}
	n.start()
	return n
}

func (n *natsProc) start() {
	n.p = start(n.t, n.bin, n.args...)
	n.p.await(n.ready, 30*time.Second)
}

// singleNATS starts one JetStream server on a free port.
func singleNATS(t *testing.T) *natsProc {
	return startNATS(t, "-a", "127.0.0.1", "-p", strconv.Itoa(streamtest.FreePort(t)), "-js", "-sd", t.TempDir())
}

// clusterSize is the universe of a cluster test: small under -short (a
// 2-core shared machine runs five processes), the 2,000 markets
// otherwise.
func clusterSize() (markets int, rate string) {
	if testing.Short() {
		return 400, "800"
	}
	return 2000, "2000"
}

// member is one polyfeed --cluster process.
type member struct {
	id    string
	args  []string
	p     *proc
	admin string
}

// rig is the whole cluster under test.
type rig struct {
	t        *testing.T
	polyfeed string
	simURL   string
	nats     string
	members  []*member
	mon      *monitor
	nc       *nats.Conn
	consumer *pfstream.Consumer
}

func newRig(t *testing.T, n, replicas int, natsURL string, extra ...string) *rig {
	polyfeed, polysim := binaries(t)
	markets, rate := clusterSize()
	sim := start(t, polysim, "--addr=127.0.0.1:0", "--markets="+strconv.Itoa(markets), "--rate="+rate,
		"--seed=11", "--churn=6")
	r := &rig{t: t, polyfeed: polyfeed, simURL: sim.await(reSimGamma, 30*time.Second), nats: natsURL}
	nc, err := nats.Connect(natsURL, nats.MaxReconnects(-1), nats.ReconnectWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	r.nc = nc
	r.mon = newMonitor(t, nc)
	for i := range n {
		m := &member{id: fmt.Sprintf("m%d", i+1)}
		m.args = []string{"--ws-url=ws" + strings.TrimPrefix(r.simURL, "http") + "/ws/market", "--gamma-url=" + r.simURL,
			"--http-addr=127.0.0.1:0", "--log-format=json", "--log-level=info", "--workers=2",
			"--nats-url=" + natsURL, "--cluster=e2e", "--cluster-id=" + m.id, "--replicas=" + strconv.Itoa(replicas),
			"--cluster-drain-timeout=8s"}
		m.args = append(m.args, extra...)
		r.members = append(r.members, m)
		r.startMember(m)
	}
	return r
}

func (r *rig) startMember(m *member) {
	m.p = start(r.t, r.polyfeed, m.args...)
	m.admin = "http://" + m.p.await(reAdmin, 30*time.Second)
}

// startConsumer follows every asset with the stream library.
func (r *rig) startConsumer() {
	c, err := pfstream.New(pfstream.Config{Conn: r.nc})
	if err != nil {
		r.t.Fatal(err)
	}
	if err := c.Start(r.t.Context()); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = c.Close() })
	r.consumer = c
}

type simMarket struct {
	ConditionID     string
	TokenIDs        []string
	Closed          bool
	EnableOrderBook bool
}

// openAssets returns the assets of the simulator's open markets with an
// order book, by market.
func (r *rig) openMarkets() map[string][]string {
	var ms []simMarket
	code, body := get(r.t, r.simURL+"/sim/markets")
	if code != http.StatusOK || json.Unmarshal(body, &ms) != nil {
		r.t.Fatalf("/sim/markets: %d %.200s", code, body)
	}
	out := map[string][]string{}
	for _, m := range ms {
		if !m.Closed && m.EnableOrderBook {
			out[m.ConditionID] = m.TokenIDs
		}
	}
	return out
}

// stable is the markets open at both calls: the ones a discovery interval
// cannot be late for.
func stable(a, b map[string][]string) []string {
	var ids []string
	for c, toks := range a {
		if _, ok := b[c]; ok {
			ids = append(ids, toks...)
		}
	}
	slices.Sort(ids)
	return ids
}

// carried reports, for each asset, which live members have its book.
func (r *rig) carried(ids []string, live []*member) map[string][]string {
	out := map[string][]string{}
	for _, m := range live {
		for _, id := range ids {
			resp, err := client.Get(m.admin + "/books/" + id)
			if err != nil {
				continue
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				out[id] = append(out[id], m.id)
			}
		}
	}
	return out
}

// clusterView is the part of /stats "cluster" the tests read.
type clusterView struct {
	Cluster struct {
		Members    []string `json:"members"`
		Markets    int      `json:"markets"`
		Publishing int      `json:"publishing"`
	} `json:"cluster"`
}

func (r *rig) stats(m *member) (clusterView, error) {
	var v clusterView
	resp, err := client.Get(m.admin + "/stats")
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return v, err
	}
	return v, nil
}

// waitCoverage waits until every asset of the stable universe is carried by
// exactly `copies` live members, each member carrying a share within 2x
// of even, and the consumer has a live book for each. It returns the assets
// checked and who carries them.
func (r *rig) waitCoverage(live []*member, copies int, bound time.Duration) ([]string, map[string][]string) {
	r.t.Helper()
	first := r.openMarkets()
	var ids []string
	var who map[string][]string
	checkFor(r.t, bound, time.Second, func() error {
		for _, m := range live {
			v, err := r.stats(m)
			if err != nil {
				return err
			}
			if len(v.Cluster.Members) != len(live) {
				return fmt.Errorf("%s sees members %v, want %d", m.id, v.Cluster.Members, len(live))
			}
		}
		ids = stable(first, r.openMarkets())
		who = r.carried(ids, live)
		per := map[string]int{}
		for _, id := range ids {
			if n := len(who[id]); n != copies {
				return fmt.Errorf("asset %s carried by %v, want %d members", id, who[id], copies)
			}
			for _, m := range who[id] {
				per[m]++
			}
		}
		even := len(ids) * copies / len(live)
		for _, m := range live {
			if per[m.id] < even/2 || per[m.id] > 2*even {
				return fmt.Errorf("member %s carries %d of %d assets, want about %d", m.id, per[m.id], len(ids), even)
			}
		}
		if r.consumer != nil {
			for _, id := range ids {
				if b, ok := r.consumer.Book(id); !ok || b.State != pfstream.Live {
					r.mon.mu.Lock()
					defer r.mon.mu.Unlock()
					var info string
					if s := r.mon.assets[id]; s != nil {
						info = fmt.Sprintf("books %v moved %v last %v", s.firstBook, s.moved, s.lastMsg)
					}
					state := b.State.String()
					if !ok {
						state = "no book: the consumer never had a message of it"
					}
					return fmt.Errorf("consumer: asset %s not live (%s, carried by %v; %s)", id, state, who[id], info)
				}
			}
		}
		return nil
	})
	per := map[string]int{}
	for _, id := range ids {
		for _, m := range who[id] {
			per[m]++
		}
	}
	r.t.Logf("coverage: %d assets, per member %v", len(ids), per)
	return ids, who
}

// checkTruth pauses the simulator and compares the consumer's books with the
// truth.
func (r *rig) checkTruth(ids []string) {
	r.t.Helper()
	post(r.t, r.simURL+"/sim/pause")
	defer post(r.t, r.simURL+"/sim/resume")
	truth := func(id string) (bids, asks streamcheck.Side, ok bool) {
		var b bookJSON
		code, body := get(r.t, r.simURL+"/sim/books/"+id)
		if code != http.StatusOK || json.Unmarshal(body, &b) != nil {
			return nil, nil, false
		}
		conv := func(ls []level) streamcheck.Side {
			out := streamcheck.Side{}
			for _, l := range ls {
				out = append(out, [2]string{l.Price, l.Size})
			}
			return out
		}
		return conv(b.Bids), conv(b.Asks), true
	}
	checkFor(r.t, 30*time.Second, 500*time.Millisecond, func() error {
		err := streamcheck.GoEqualsTruth(r.consumer, ids, truth)
		if err != nil {
			if m := regexp.MustCompile(`asset (\d+)`).FindStringSubmatch(err.Error()); m != nil {
				r.mon.mu.Lock()
				if s := r.mon.assets[m[1]]; s != nil {
					err = fmt.Errorf("%w\n(stream: books %v, last message %v)", err, s.firstBook, s.lastMsg)
				}
				r.mon.mu.Unlock()
			}
		}
		return err
	})
	r.t.Logf("consumer books equal the simulator's truth for %d assets", len(ids))
}

// kill9 kills a member's process at once.
func (m *member) kill9(t *testing.T) time.Time {
	t.Helper()
	at := time.Now()
	if err := m.p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-m.p.done
	return at
}

// monitor records, from a core subscription to every message, each asset's
// epochs: when the first book of each epoch arrived and when a `stale`
// "moved" of each epoch arrived.
type monitor struct {
	mu     sync.Mutex
	assets map[string]*seen
}

type seen struct {
	max       int64
	firstBook map[int64]time.Time
	lastMsg   map[int64]time.Time
	moved     map[int64]time.Time
	times     []time.Time // every message's arrival
	// Of every message, in the order of times: its epoch, seq and venue
	// time (ts_ms).
	epochs, seqs, venue []int64
}

func newMonitor(t *testing.T, nc *nats.Conn) *monitor {
	m := &monitor{assets: map[string]*seen{}}
	sub, err := nc.Subscribe("polyfeed.v1.>", func(msg *nats.Msg) {
		now := time.Now()
		id := msg.Header.Get(nats.MsgIdHdr)
		j := strings.LastIndexByte(id, ':')
		if j <= 0 {
			return
		}
		i := strings.LastIndexByte(id[:j], ':')
		if i <= 0 {
			return
		}
		epoch, err := strconv.ParseInt(id[i+1:j], 10, 64)
		if err != nil {
			return
		}
		seq, _ := strconv.ParseInt(id[j+1:], 10, 64)
		var ts int64
		if k := bytes.Index(msg.Data, []byte(`"ts_ms":`)); k >= 0 {
			rest := msg.Data[k+len(`"ts_ms":`):]
			for n := 0; n < len(rest) && rest[n] >= '0' && rest[n] <= '9'; n++ {
				ts = ts*10 + int64(rest[n]-'0')
			}
		}
		asset := id[:i]
		m.mu.Lock()
		s := m.assets[asset]
		if s == nil {
			s = &seen{firstBook: map[int64]time.Time{}, lastMsg: map[int64]time.Time{}, moved: map[int64]time.Time{}}
			m.assets[asset] = s
		}
		s.max = max(s.max, epoch)
		s.lastMsg[epoch] = now
		s.times = append(s.times, now)
		s.epochs, s.seqs, s.venue = append(s.epochs, epoch), append(s.seqs, seq), append(s.venue, ts)
		if strings.Contains(msg.Subject, ".book.") {
			if _, ok := s.firstBook[epoch]; !ok {
				s.firstBook[epoch] = now
			}
		} else if strings.Contains(msg.Subject, ".status.") && bytes.Contains(msg.Data, []byte(`"reason":"moved"`)) {
			s.moved[epoch] = now
		}
		m.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = sub.SetPendingLimits(1<<20, 256<<20)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return m
}

// describe summarises what the monitor saw of an asset.
func (m *monitor) describe(id string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.assets[id]
	if s == nil {
		return "nothing on the stream"
	}
	return fmt.Sprintf("books %v moved %v last %v", s.firstBook, s.moved, s.lastMsg)
}

// epochs returns each asset's highest epoch seen.
func (m *monitor) epochs(ids []string) map[string]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]int64, len(ids))
	for _, id := range ids {
		if s := m.assets[id]; s != nil {
			out[id] = s.max
		}
	}
	return out
}

// newBookAfter returns when the first book of an epoch above `above` arrived.
func (m *monitor) newBookAfter(id string, above int64) (time.Time, int64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.assets[id]
	if s == nil {
		return time.Time{}, 0, false
	}
	var first time.Time
	var ep int64
	for e, at := range s.firstBook {
		if e > above && (first.IsZero() || at.Before(first)) {
			first, ep = at, e
		}
	}
	return first, ep, !first.IsZero()
}

// unpublished returns how long the asset went without a publisher around
// the change from epoch `old` to the new one: from old's `stale` "moved"
// (the old publisher stopped) to the new epoch's first book; 0 when the new
// book came first (make before break) or old never said moved.
func (m *monitor) unpublished(id string, old int64, newFirst time.Time) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.assets[id]
	if s == nil {
		return 0
	}
	if at, ok := s.moved[old]; ok && at.Before(newFirst) {
		return newFirst.Sub(at)
	}
	return 0
}

// waitNewEpochs waits (bound) until each asset has a book of an epoch above
// its entry in before, and returns each one's time from `from` to that book.
func (r *rig) waitNewEpochs(ids []string, before map[string]int64, from time.Time, bound time.Duration) []time.Duration {
	r.t.Helper()
	var took []time.Duration
	checkFor(r.t, bound, 100*time.Millisecond, func() error {
		took = took[:0]
		missing := 0
		var example string
		for _, id := range ids {
			at, _, ok := r.mon.newBookAfter(id, before[id])
			if !ok {
				missing++
				example = id
				continue
			}
			took = append(took, at.Sub(from))
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d assets have no book under a new epoch yet (e.g. %s)", missing, len(ids), example)
		}
		return nil
	})
	return took
}

// dist formats p50/p99/max.
func dist(ds []time.Duration) string {
	if len(ds) == 0 {
		return "n=0"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return fmt.Sprintf("n=%d p50=%v p99=%v max=%v", len(s), q(0.50).Round(time.Millisecond),
		q(0.99).Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
}

func owned(who map[string][]string, id string) []string {
	var out []string
	for a, ms := range who {
		if slices.Contains(ms, id) {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
}

// skipClusterUnlessEnabled skips the cluster tests under the race detector:
// five race-built processes overload a small machine and the time
// bounds would measure the detector. `make test-cluster` runs them.
func skipClusterUnlessEnabled(t *testing.T) {
	if raceEnabled {
		t.Skip("cluster end-to-end tests run without -race: make test-cluster")
	}
	if os.Getenv("POLYFEED_SKIP_CLUSTER_E2E") != "" {
		t.Skip("POLYFEED_SKIP_CLUSTER_E2E set")
	}
}

// TestClusterFailover: three members share the universe exactly once; a
// kill -9 moves the dead member's markets to the others under new epochs
// within 10 s; its restart moves them back make-before-break; a rolling
// restart keeps every asset published; the consumer's books equal truth.
func TestClusterFailover(t *testing.T) {
	skipClusterUnlessEnabled(t)
	ns := singleNATS(t)
	r := newRig(t, 3, 1, ns.url)
	r.startConsumer()
	ids, who := r.waitCoverage(r.members, 1, 120*time.Second)

	// kill -9 one member.
	victim := r.members[0]
	lost := owned(who, victim.id)
	before := r.mon.epochs(lost)
	killed := victim.kill9(t)
	took := r.waitNewEpochs(lost, before, killed, 40*time.Second)
	t.Logf("kill -9 %s: %d assets moved; kill to the new owner's first book: %s", victim.id, len(lost), dist(took))
	for i, d := range took {
		if d > 10*time.Second {
			r.mon.mu.Lock()
			t.Errorf("asset %s of the killed member was published elsewhere only after %v, want <= 10s (before: epoch %d; books %v)",
				lost[i], d, before[lost[i]], r.mon.assets[lost[i]].firstBook)
			r.mon.mu.Unlock()
		}
	}
	r.waitCoverage(r.members[1:], 1, 30*time.Second)

	// Restart it: its markets come back, make before break.
	before = r.mon.epochs(ids)
	restarted := time.Now()
	r.startMember(victim)
	_, who2 := r.waitCoverage(r.members, 1, 60*time.Second)
	back := owned(who2, victim.id)
	took = r.waitNewEpochs(back, before, restarted, 30*time.Second)
	var gaps []time.Duration
	for _, id := range back {
		at, _, _ := r.mon.newBookAfter(id, before[id])
		gaps = append(gaps, r.mon.unpublished(id, before[id], at))
	}
	t.Logf("restart %s: %d assets moved back; restart to first book: %s; unpublished: %s", victim.id, len(back), dist(took), dist(gaps))
	if g := slices.Max(append(gaps, 0)); g > 2*time.Second {
		t.Errorf("an asset went unpublished for %v on the move back, want <= 2s", g)
	}

	// Rolling restart, one by one, each a graceful stop (drain) and a start.
	for _, m := range r.members {
		before = r.mon.epochs(ids)
		if code := m.p.signalAndWait(syscall.SIGTERM, 30*time.Second); code != 0 {
			t.Fatalf("%s exited %d on SIGTERM", m.id, code)
		}
		rest := slices.DeleteFunc(slices.Clone(r.members), func(x *member) bool { return x == m })
		r.waitCoverage(rest, 1, 30*time.Second)
		r.startMember(m)
		r.waitCoverage(r.members, 1, 60*time.Second)
		var worst time.Duration
		open := map[string]bool{}
		for _, toks := range r.openMarkets() {
			for _, tok := range toks {
				open[tok] = true
			}
		}
		for _, id := range ids {
			if !open[id] {
				continue // closed by the churn meanwhile: no new publisher follows
			}
			for e, at := range r.mon.assetsMoved(id, before[id]) {
				if nb, _, ok := r.mon.newBookAfter(id, e); ok && nb.Sub(at) > worst {
					worst = nb.Sub(at)
				} else if !ok {
					t.Errorf("asset %s: epoch %d said moved and no newer book followed", id, e)
				}
			}
		}
		t.Logf("rolling restart of %s: longest stale-moved to new book %v", m.id, worst)
		if worst > 2*time.Second {
			t.Errorf("rolling restart of %s: an asset went unpublished for %v", m.id, worst)
		}
	}
	r.checkTruth(ids)
}

// assetsMoved returns the epochs of an asset at or above `from` that said
// `stale` "moved", with when.
func (m *monitor) assetsMoved(id string, from int64) map[int64]time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[int64]time.Time{}
	if s := m.assets[id]; s != nil {
		for e, at := range s.moved {
			if e >= from {
				out[e] = at
			}
		}
	}
	return out
}

// published returns the stable assets whose market members (all of them, as
// they are at the start) assign to publisher `id`.
func published(ids []string, open map[string][]string, members []*member, replicas int, id string) []string {
	var names []string
	for _, m := range members {
		names = append(names, m.id)
	}
	a := cluster.NewAssignment(names, replicas)
	in := map[string]bool{}
	for _, x := range ids {
		in[x] = true
	}
	var out []string
	for cond, toks := range open {
		if a.Publisher(cond) != id {
			continue
		}
		for _, t := range toks {
			if in[t] {
				out = append(out, t)
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestClusterReplicas: with --replicas 2 every market is carried twice;
// kill -9 the publisher of a third of them and the warm replicas publish
// each under a new epoch in under 5 s.
func TestClusterReplicas(t *testing.T) {
	skipClusterUnlessEnabled(t)
	ns := singleNATS(t)
	r := newRig(t, 3, 2, ns.url)
	r.startConsumer()
	ids, _ := r.waitCoverage(r.members, 2, 120*time.Second)

	// `polyfeed cluster status --markets` prints the members and each
	// market's publisher and replica.
	out, err := exec.Command(r.polyfeed, "cluster", "status", "--markets", "--cluster=e2e", "--nats-url="+ns.url).CombinedOutput()
	if err != nil {
		t.Fatalf("polyfeed cluster status: %v\n%s", err, out)
	}
	for _, want := range []string{"cluster e2e: 3 members", "replicas 2", "\nm1 ", "\nm2 ", "\nm3 ", "PUBLISHER"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("cluster status lacks %q:\n%.2000s", want, out)
		}
	}
	victim := r.members[0]
	lost := published(ids, r.openMarkets(), r.members, 2, victim.id)
	if len(lost) < len(ids)/6 {
		t.Fatalf("%s publishes only %d of %d assets", victim.id, len(lost), len(ids))
	}
	before := r.mon.epochs(lost)
	killed := victim.kill9(t)
	took := r.waitNewEpochs(lost, before, killed, 30*time.Second)
	t.Logf("replicas 2, kill -9 publisher %s: %d assets; kill to the replica's first book: %s", victim.id, len(lost), dist(took))
	if m := slices.Max(took); m >= 5*time.Second {
		t.Errorf("a replica took over after %v, want < 5s", m)
	}
	r.waitCoverage(r.members[1:], 2, 60*time.Second)
	r.checkTruth(ids)
}

// TestClusterNATSOutage: the NATS server is killed for 10 s and started
// again on the same port and storage. The members keep their books, no
// market changes hands (no new epoch anywhere), each market ends owned
// exactly once, markets that closed meanwhile end Closed, and the
// consumer's books equal truth.
func TestClusterNATSOutage(t *testing.T) {
	skipClusterUnlessEnabled(t)
	ns := singleNATS(t)
	r := newRig(t, 3, 1, ns.url)
	r.startConsumer()
	ids, who := r.waitCoverage(r.members, 1, 120*time.Second)
	before := r.mon.epochs(ids)
	if err := ns.p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-ns.p.done
	down := time.Now()
	// Books are kept while NATS is away: every member still serves its own.
	sample := ids[:min(len(ids), 60)]
	for time.Since(down) < 10*time.Second {
		for _, id := range sample {
			resp, err := client.Get(r.byID(who[id][0]).admin + "/books/" + id)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("asset %s: /books %d on %s during the outage", id, resp.StatusCode, who[id][0])
			}
		}
		time.Sleep(time.Second)
	}
	ns.start()
	t.Logf("NATS down for %v", time.Since(down).Round(time.Millisecond))
	_, after := r.waitCoverage(r.members, 1, 60*time.Second)
	// The simulator's churn closes markets meanwhile: their assets are
	// carried by nobody afterwards, which is no move, and the consumer must
	// end with them Closed (their publisher lost messages while NATS was
	// away, so it publishes the final book before closed).
	isOpen := map[string]bool{}
	for _, toks := range r.openMarkets() {
		for _, tok := range toks {
			isOpen[tok] = true
		}
	}
	var closed []string
	moved := 0
	for _, id := range ids {
		switch {
		case !isOpen[id]:
			closed = append(closed, id)
		case slices.Compare(who[id], after[id]) != 0:
			moved++
			b, _ := r.consumer.Book(id)
			t.Logf("asset %s: carried by %v before, %v after; consumer %v at %d:%d; %s",
				id, who[id], after[id], b.State, b.Epoch, b.Seq, r.mon.describe(id))
		}
	}
	checkFor(t, 30*time.Second, 500*time.Millisecond, func() error {
		for _, id := range closed {
			if b, _ := r.consumer.Book(id); b.State != pfstream.Closed {
				return fmt.Errorf("consumer: asset %s of a market closed during the outage is %v (%s); %s",
					id, b.State, b.Reason, r.mon.describe(id))
			}
		}
		return nil
	})
	newEpochs := 0
	now := r.mon.epochs(ids)
	for _, id := range ids {
		if now[id] > before[id] {
			newEpochs++
		}
	}
	t.Logf("after the outage: %d of %d assets changed member, %d got a new epoch; %d closed meanwhile, Closed at the consumer",
		moved, len(ids)-len(closed), newEpochs, len(closed))
	if moved > 0 || newEpochs > 0 {
		t.Errorf("ownership moved on a NATS outage: %d assets changed member, %d new epochs", moved, newEpochs)
	}
	t.Logf("consumer stats after the outage: %+v", r.consumer.Stats())
	r.checkTruth(ids)
}

func (r *rig) byID(id string) *member {
	for _, m := range r.members {
		if m.id == id {
			return m
		}
	}
	r.t.Fatalf("no member %s", id)
	return nil
}
