package venue

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/lxzan/gws"
)

// TestOnMessageAllocs guards the socket callback's claim (socket.go: one
// clock read, a few atomics, the sink call): OnMessage allocates nothing
// for a data frame or a PONG, and hands the sink the frame's own bytes.
// The gws message is built once and its buffer reused; Close returns it to
// gws's pool as the library's read loop would. AllocsPerRun rounds down, so
// every allocation over many frames is counted as well and reported as a
// fraction per frame. Without the race detector only (its sync.Pool drops
// items on purpose).
func TestOnMessageAllocs(t *testing.T) {
	if raceBuild {
		t.Skip("allocation counts are meaningful only without the race detector")
	}
	var frames, bytesSeen int
	c := NewConn(7, ConnConfig{URL: "ws://127.0.0.1:1/ws/market"}, func(id int64, frame []byte, recv int64) {
		if id != 7 || recv == 0 {
			t.Errorf("sink got conn %d, recv %d", id, recv)
		}
		frames++
		bytesSeen += len(frame)
	})
	s := &session{c: c}
	data := []byte(`{"event_type":"price_change","market":"0xdd","price_changes":[{"asset_id":"1","price":"0.50","side":"BUY","size":"300"}],"timestamp":"1"}`)
	buf := bytes.NewBuffer(make([]byte, 0, 1024))
	msg := &gws.Message{Opcode: gws.OpcodeText}
	deliver := func(b []byte) {
		buf.Reset()
		buf.Write(b)
		msg.Data = buf
		s.OnMessage(nil, msg)
	}
	frame := func() { deliver(data) }
	pong := func() { deliver([]byte("PONG")) }
	for range 100 {
		frame()
		pong()
	}
	if n := testing.AllocsPerRun(1000, frame); n != 0 {
		t.Errorf("OnMessage of a data frame allocates %v; want 0", n)
	}
	if n := testing.AllocsPerRun(1000, pong); n != 0 {
		t.Errorf("OnMessage of a PONG allocates %v; want 0", n)
	}
	const n = 100_000
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m0 := ms.Mallocs
	for range n {
		frame()
	}
	runtime.ReadMemStats(&ms)
	per := float64(ms.Mallocs-m0) / n
	t.Logf("OnMessage: %.5f allocations per frame over %d frames", per, n)
	if per > 0.001 {
		t.Errorf("OnMessage allocates %.5f per frame over %d frames; want 0 (at most a pool refill after a GC)", per, n)
	}
	st := c.Stats()
	if want := 100 + 1000 + 1 + n; frames != want || st.Messages != uint64(want) || bytesSeen != want*len(data) {
		t.Errorf("sink saw %d frames (%d bytes), stats %d messages; want %d frames of %d bytes", frames, bytesSeen, st.Messages, want, len(data))
	}
}

// BenchmarkOnMessage reports the socket callback's cost and allocations per
// frame (allocs/op here is over b.N frames; the test above checks the
// fraction).
func BenchmarkOnMessage(b *testing.B) {
	c := NewConn(7, ConnConfig{URL: "ws://127.0.0.1:1/ws/market"}, func(int64, []byte, int64) {})
	s := &session{c: c}
	data := []byte(`{"event_type":"price_change","market":"0xdd","price_changes":[{"asset_id":"1","price":"0.50","side":"BUY","size":"300"}],"timestamp":"1"}`)
	buf := bytes.NewBuffer(make([]byte, 0, 1024))
	msg := &gws.Message{Opcode: gws.OpcodeText}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m0, n := ms.Mallocs, 0
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		buf.Write(data)
		msg.Data = buf
		s.OnMessage(nil, msg)
		n++
	}
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.Mallocs-m0)/float64(n), "allocs/frame")
}
