// Package node_test runs the Node example consumer (consumer.mjs) against a real
// in-process JetStream server and checks that its books equal the Go consumer's
// (package stream) and the publisher's truth.
package node_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/polyfeed/polyfeed/internal/streamtest"
	"github.com/polyfeed/polyfeed/stream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, streamtest.IgnoreServerGoroutines()) }

const prefix = "polyfeed"

type nodeBook struct {
	State string      `json:"state"`
	Epoch int64       `json:"epoch"`
	Seq   int64       `json:"seq"`
	Bids  [][2]string `json:"bids"`
	Asks  [][2]string `json:"asks"`
}

type dump struct {
	Books map[string]nodeBook `json:"books"`
	Live  bool                `json:"live"`
	Stats struct {
		Gaps, Resyncs, EpochChanges int
	} `json:"stats"`
}

func checkFor(t *testing.T, total time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", total, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func levels(ls []stream.Level) [][2]string {
	out := [][2]string{}
	for _, l := range ls {
		out = append(out, [2]string{l.Price.String(), l.Size.String()})
	}
	return out
}

// TestNodeRules runs the Node example's unit tests (node --test): decimals, the golden
// messages of stream/testdata/v1, and the rules.
func TestNodeRules(t *testing.T) {
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH; the Node example is not checked (CI installs it: .ci/run)")
	}
	out, err := exec.Command(nodeBin, "--test", "rules.test.mjs").CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
}

// TestNodeConsumerMatchesGo: history with a withheld stretch (resync from the books
// stream) and an epoch change, then live traffic with a gap, a stale asset and another
// epoch change. The Node consumer joins late like the Go one and must end with the
// same books, states, epochs and seqs.
func TestNodeConsumerMatchesGo(t *testing.T) {
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH; the Node example is not checked (CI installs it: .ci/run)")
	}
	if _, err := os.Stat("node_modules/@nats-io/jetstream/package.json"); err != nil {
		t.Skip("examples/node/node_modules is missing: run `npm ci --prefix examples/node` (.ci/run does)")
	}
	srv := streamtest.StartServer(t)
	nc := srv.Connect(t)
	streamtest.CreateStreams(t, nc, prefix)
	pub := streamtest.NewPublisher(t, srv.Connect(t), prefix)
	r := rand.New(rand.NewPCG(11, 12))
	var ids []string
	for i := range 8 {
		id := fmt.Sprintf("asset%d", i)
		ids = append(ids, id)
		pub.Add(id, fmt.Sprintf("market%d", i%3), 1_764_547_200_000+int64(i))
		pub.Book(id)
	}
	for range 300 {
		pub.Random(r, ids[r.IntN(len(ids))])
	}
	// Withhold a stretch of asset1 after its books stream book moved past it.
	gapFrom := pub.Seq("asset1") + 1
	for range 5 {
		pub.Random(r, "asset1")
	}
	pub.Book("asset1")
	pub.Random(r, "asset1")
	pub.NewEpoch("asset2", pub.Epoch("asset2")+1000)
	pub.Book("asset2")
	pub.Random(r, "asset2")

	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bs, _ := js.Stream(ctx, stream.BooksStream(prefix))
	es, _ := js.Stream(ctx, stream.EventsStream(prefix))
	want := fmt.Sprintf("asset1:%d:%d", pub.Epoch("asset1"), pub.Seq("asset1")-1)
	checkFor(t, 10*time.Second, func() error {
		m, err := bs.GetLastMsgForSubject(ctx, stream.Subject(prefix, "book", "asset1"))
		if err != nil || m.Header.Get("Nats-Msg-Id") != want {
			return fmt.Errorf("books stream not at %s yet (%v)", want, err)
		}
		return nil
	})
	// Withhold three deltas and the book after them: only the books stream can repair.
	for _, seq := range []int64{gapFrom, gapFrom + 1, gapFrom + 2, pub.Seq("asset1") - 1} {
		if err := es.DeleteMsg(ctx, pub.Seqs[fmt.Sprintf("asset1:%d:%d", pub.Epoch("asset1"), seq)]); err != nil {
			t.Fatal(err)
		}
	}

	goc, err := stream.New(stream.Config{Conn: nc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := goc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer goc.Close()

	cmd := exec.Command(nodeBin, "consumer.mjs", "--servers", srv.URL(), "--prefix", prefix, "--quiet")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	readDone := make(chan struct{})
	go func() { // owned by this test: ends when the node process closes stdout
		defer close(readDone)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<26)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	exited := false
	defer func() {
		if !exited {
			_ = cmd.Process.Kill()
			for range lines {
			}
			<-readDone
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("node stderr:\n%s", stderr.String())
		}
	}()
	ask := func() (dump, error) {
		if _, err := io.WriteString(stdin, "dump\n"); err != nil {
			return dump{}, err
		}
		select {
		case l, ok := <-lines:
			if !ok {
				return dump{}, fmt.Errorf("node exited: %s", stderr.String())
			}
			var d dump
			return d, json.Unmarshal([]byte(l), &d)
		case <-time.After(10 * time.Second):
			return dump{}, fmt.Errorf("no dump from node")
		}
	}
	// Wait for both to finish the replay before the live part.
	checkFor(t, 20*time.Second, func() error {
		d, err := ask()
		if err != nil {
			return err
		}
		if !d.Live || !goc.Live() {
			return fmt.Errorf("not live yet (node %v, go %v)", d.Live, goc.Live())
		}
		return nil
	})

	for range 300 {
		pub.Random(r, ids[r.IntN(len(ids))])
	}
	pub.Lose("asset3", streamtest.Change{Buy: true, Price: 499, Size: 777}) // lost by the publisher: a gap the books stream cannot repair...
	pub.Random(r, "asset3")
	pub.Book("asset3") // ...until the next book
	pub.Random(r, "asset3")
	pub.Status("asset4", "stale", "test")
	pub.NewEpoch("asset5", pub.Epoch("asset5")+1000)
	pub.Book("asset5")
	for range 100 {
		pub.Random(r, ids[r.IntN(len(ids))])
	}

	goBooks := func() (map[string]stream.Book, error) {
		out := map[string]stream.Book{}
		for _, id := range ids {
			b, ok := goc.Book(id)
			if !ok {
				return nil, fmt.Errorf("go: no book for %s", id)
			}
			bids, asks := pub.Truth(id)
			if fmt.Sprint(levels(b.Bids())) != fmt.Sprint(bids) || fmt.Sprint(levels(b.Asks())) != fmt.Sprint(asks) || b.Seq != pub.Seq(id) {
				return nil, fmt.Errorf("go: %s differs from truth (seq %d want %d)", id, b.Seq, pub.Seq(id))
			}
			out[id] = b
		}
		return out, nil
	}
	var gb map[string]stream.Book
	checkFor(t, 20*time.Second, func() (err error) { gb, err = goBooks(); return err })
	if b := gb["asset4"]; b.State != stream.Stale {
		t.Errorf("go: asset4 is %v, want stale", b.State)
	}
	checkFor(t, 20*time.Second, func() error {
		d, err := ask()
		if err != nil {
			return err
		}
		if d.Stats.Gaps < 2 || d.Stats.Resyncs < 1 || d.Stats.EpochChanges < 2 {
			return fmt.Errorf("node stats %+v: want the gaps, resync and epoch changes this test sets up", d.Stats)
		}
		for _, id := range ids {
			g, n := gb[id], d.Books[id]
			if n.State != g.State.String() || n.Epoch != g.Epoch || n.Seq != g.Seq ||
				fmt.Sprint(n.Bids) != fmt.Sprint(levels(g.Bids())) || fmt.Sprint(n.Asks) != fmt.Sprint(levels(g.Asks())) {
				return fmt.Errorf("%s: node %+v\n go state %v epoch %d seq %d bids %v asks %v", id, n, g.State, g.Epoch, g.Seq, levels(g.Bids()), levels(g.Asks()))
			}
		}
		return nil
	})
	if s := goc.Stats(); s.Gaps < 2 || s.Resyncs < 1 || s.EpochChanges < 2 {
		t.Errorf("go stats %+v: want the gaps, resync and epoch change this test sets up", s)
	}
	// End of stdin: the node consumer prints its books once more and exits.
	_ = stdin.Close()
	for range lines {
	}
	<-readDone
	exited = true
	if err := cmd.Wait(); err != nil {
		t.Errorf("node consumer exited with %v: %s", err, stderr.String())
	}
}
