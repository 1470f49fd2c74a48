package streamtest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Publisher publishes hand-built contract messages and keeps each asset's true book.
// Prices are integer thousandths and sizes integer hundredths, written as decimal
// strings with trailing zeros ("0.480", "25.00") the way the venue often does, so
// consumers must compare numbers, not strings.
type Publisher struct {
	t      testing.TB
	js     jetstream.JetStream
	prefix string
	assets map[string]*truth
	// Seqs maps <asset>:<epoch>:<seq> to the events stream sequence it was stored at.
	Seqs map[string]uint64
}

type truth struct {
	market     string
	epoch, seq int64
	bids, asks map[int64]int64 // price thousandths -> size hundredths
	tick       string
}

// Change is one delta change: Buy for the bid side, Price in thousandths, Size in
// hundredths (0 removes the level).
type Change struct {
	Buy   bool
	Price int64
	Size  int64
}

// NewPublisher returns a publisher on nc under prefix.
func NewPublisher(t testing.TB, nc *nats.Conn, prefix string) *Publisher {
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &Publisher{t: t, js: js, prefix: prefix, assets: map[string]*truth{}, Seqs: map[string]uint64{}}
}

// Add starts an asset in market at epoch with an empty book and tick size 0.001.
func (p *Publisher) Add(asset, market string, epoch int64) {
	p.assets[asset] = &truth{market: market, epoch: epoch, bids: map[int64]int64{}, asks: map[int64]int64{}, tick: "0.001"}
}

// NewEpoch restarts an asset's numbering at a new epoch, keeping its book.
func (p *Publisher) NewEpoch(asset string, epoch int64) {
	a := p.assets[asset]
	a.epoch, a.seq = epoch, 0
}

// Epoch and Seq report an asset's current epoch and last seq.
func (p *Publisher) Epoch(asset string) int64 { return p.assets[asset].epoch }

// Seq reports an asset's last seq.
func (p *Publisher) Seq(asset string) int64 { return p.assets[asset].seq }

// Lose applies changes to the true book and uses up their seq without publishing,
// as a publisher that failed to publish a delta does: consumers see a gap, and their
// book lacks the changes until the next book.
func (p *Publisher) Lose(asset string, changes ...Change) {
	a := p.assets[asset]
	for _, c := range changes {
		levels := a.asks
		if c.Buy {
			levels = a.bids
		}
		if c.Size == 0 {
			delete(levels, c.Price)
		} else {
			levels[c.Price] = c.Size
		}
	}
	a.seq++
}

// Book publishes the whole book (valid true).
func (p *Publisher) Book(asset string) { p.book(asset, true) }

// InvalidBook publishes the whole book with valid false.
func (p *Publisher) InvalidBook(asset string) { p.book(asset, false) }

func (p *Publisher) book(asset string, valid bool) {
	a := p.assets[asset]
	bids, asks := a.levels()
	m := p.common(asset, "book")
	m["bids"], m["asks"], m["tick_size"], m["valid"] = bids, asks, a.tick, valid
	p.send(asset, "book", m)
}

// Delta applies changes to the true book and publishes them with the best prices.
func (p *Publisher) Delta(asset string, changes ...Change) {
	a := p.assets[asset]
	wire := make([][]string, 0, len(changes))
	for _, c := range changes {
		side, levels := "SELL", a.asks
		if c.Buy {
			side, levels = "BUY", a.bids
		}
		if c.Size == 0 {
			delete(levels, c.Price)
		} else {
			levels[c.Price] = c.Size
		}
		wire = append(wire, []string{side, dec(c.Price, 3), dec(c.Size, 2)})
	}
	bids, asks := a.levels()
	m := p.common(asset, "delta")
	m["changes"], m["best_bid"], m["best_ask"] = wire, best(bids), best(asks)
	p.send(asset, "delta", m)
}

// Trade publishes a trade.
func (p *Publisher) Trade(asset string, price, size int64, buy bool) {
	m := p.common(asset, "trade")
	side := "SELL"
	if buy {
		side = "BUY"
	}
	m["price"], m["size"], m["side"] = dec(price, 3), dec(size, 2), side
	p.send(asset, "trade", m)
}

// Tick publishes a tick size change.
func (p *Publisher) Tick(asset, tick string) {
	p.assets[asset].tick = tick
	m := p.common(asset, "tick")
	m["tick_size"] = tick
	p.send(asset, "tick", m)
}

// Status publishes a status (stale, live or closed).
func (p *Publisher) Status(asset, state, reason string) {
	m := p.common(asset, "status")
	m["state"], m["reason"] = state, reason
	p.send(asset, "status", m)
}

// Random publishes one random delta of one to three changes around the middle, or
// now and then a trade, keeping bids below 0.500 and asks above it.
func (p *Publisher) Random(r *rand.Rand, asset string) {
	if r.IntN(10) == 0 {
		p.Trade(asset, 400+r.Int64N(200), 1+r.Int64N(10_000), r.IntN(2) == 0)
		return
	}
	n := 1 + r.IntN(3)
	changes := make([]Change, 0, n)
	for range n {
		buy := r.IntN(2) == 0
		price := 500 - 1 - r.Int64N(40)
		if !buy {
			price = 500 + 1 + r.Int64N(40)
		}
		size := int64(0)
		if r.IntN(4) != 0 {
			size = 1 + r.Int64N(100_000)
		}
		changes = append(changes, Change{Buy: buy, Price: price, Size: size})
	}
	p.Delta(asset, changes...)
}

// Truth returns an asset's true book as canonical decimal strings, best first.
func (p *Publisher) Truth(asset string) (bids, asks [][2]string) {
	a := p.assets[asset]
	return canon(a.bids, true), canon(a.asks, false)
}

// Publish sends raw bytes on a subject (for broken-message tests).
func (p *Publisher) Publish(subject string, data []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := p.js.Publish(ctx, subject, data); err != nil {
		p.t.Fatalf("cannot publish %s: %v", subject, err)
	}
}

func (p *Publisher) common(asset, typ string) map[string]any {
	a := p.assets[asset]
	a.seq++
	return map[string]any{
		"v": 1, "type": typ, "asset_id": asset, "market": a.market,
		"epoch": a.epoch, "seq": a.seq, "ts_ms": time.Now().UnixMilli(),
	}
}

func (p *Publisher) send(asset, typ string, m map[string]any) {
	a := p.assets[asset]
	data, err := json.Marshal(m)
	if err != nil {
		p.t.Fatal(err)
	}
	id := fmt.Sprintf("%s:%d:%d", asset, a.epoch, a.seq)
	// Right after a server restart JetStream may need a few seconds before it
	// takes messages again; retrying is safe because the message id dedups.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ack, err := p.js.Publish(ctx, p.prefix+".v1."+typ+"."+asset, data, jetstream.WithMsgID(id))
		cancel()
		if err == nil {
			p.Seqs[id] = ack.Sequence
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("cannot publish %s: %v", id, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// levels returns the wire form of both sides, best first.
func (a *truth) levels() (bids, asks [][]string) {
	return wireLevels(a.bids, true), wireLevels(a.asks, false)
}

func sorted(side map[int64]int64, desc bool) []int64 {
	prices := make([]int64, 0, len(side))
	for p := range side {
		prices = append(prices, p)
	}
	slices.Sort(prices)
	if desc {
		slices.Reverse(prices)
	}
	return prices
}

func wireLevels(side map[int64]int64, desc bool) [][]string {
	out := [][]string{}
	for _, p := range sorted(side, desc) {
		out = append(out, []string{dec(p, 3), dec(side[p], 2)})
	}
	return out
}

func canon(side map[int64]int64, desc bool) [][2]string {
	out := [][2]string{}
	for _, p := range sorted(side, desc) {
		out = append(out, [2]string{Canon(dec(p, 3)), Canon(dec(side[p], 2))})
	}
	return out
}

func best(levels [][]string) any {
	if len(levels) == 0 {
		return nil
	}
	return levels[0][0]
}

// dec writes v / 10^places with exactly places decimals ("0.480").
func dec(v int64, places int) string {
	s := strconv.FormatInt(v, 10)
	for len(s) <= places {
		s = "0" + s
	}
	return s[:len(s)-places] + "." + s[len(s)-places:]
}

// Canon strips trailing fractional zeros and a bare point: "0.480" -> "0.48",
// "25.00" -> "25".
func Canon(s string) string {
	if !slices.Contains([]byte(s), '.') {
		return s
	}
	for s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	if s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}

// AtLatest reports the first of assets whose book, as position reads it
// from a consumer (ok false: no book), is not at this publisher's latest
// epoch and seq, counting the assets with no book at all.
func (p *Publisher) AtLatest(assets []string, position func(asset string) (epoch, seq int64, ok bool)) error {
	missing := 0
	for _, a := range assets {
		epoch, seq, ok := position(a)
		if !ok {
			missing++
			continue
		}
		if epoch != p.Epoch(a) || seq != p.Seq(a) {
			return fmt.Errorf("asset %s at %d:%d, want %d:%d", a, epoch, seq, p.Epoch(a), p.Seq(a))
		}
	}
	if missing > 0 {
		return fmt.Errorf("%d of %d assets have no book", missing, len(assets))
	}
	return nil
}
