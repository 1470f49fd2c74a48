package streamcheck

import (
	"fmt"

	"github.com/polyfeed/polyfeed/stream"
)

// Side is one side of a book as canonical [price, size] strings, best first.
type Side = [][2]string

// Truth returns an asset's true book, or ok false if the asset is unknown.
type Truth func(asset string) (bids, asks Side, ok bool)

// Levels turns a stream side into canonical strings.
func Levels(ls []stream.Level) Side {
	out := Side{}
	for _, l := range ls {
		out = append(out, [2]string{l.Price.String(), l.Size.String()})
	}
	return out
}

// GoEqualsTruth reports the first asset whose Go book differs from the truth (levels
// only; states and seqs are the caller's to check).
func GoEqualsTruth(c *stream.Consumer, assets []string, truth Truth) error {
	for _, id := range assets {
		want, wantAsks, ok := truth(id)
		if !ok {
			return fmt.Errorf("no truth for asset %s", id)
		}
		b, ok := c.Book(id)
		if !ok {
			return fmt.Errorf("go consumer has no book for %s", id)
		}
		if got := Levels(b.Bids()); fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("asset %s bids (go, %v at %d:%d):\n got %v\nwant %v", id, b.State, b.Epoch, b.Seq, got, want)
		}
		if got := Levels(b.Asks()); fmt.Sprint(got) != fmt.Sprint(wantAsks) {
			return fmt.Errorf("asset %s asks (go, %v at %d:%d):\n got %v\nwant %v", id, b.State, b.Epoch, b.Seq, got, wantAsks)
		}
	}
	return nil
}

// NodeEqualsGo reports the first asset whose Node book differs from the Go one in
// levels, state, epoch or seq.
func NodeEqualsGo(d Dump, c *stream.Consumer, assets []string) error {
	for _, id := range assets {
		g, ok := c.Book(id)
		if !ok {
			return fmt.Errorf("go consumer has no book for %s", id)
		}
		n, ok := d.Books[id]
		if !ok {
			return fmt.Errorf("node consumer has no book for %s", id)
		}
		if n.State != g.State.String() || n.Epoch != g.Epoch || n.Seq != g.Seq ||
			fmt.Sprint(n.Bids) != fmt.Sprint(Levels(g.Bids())) || fmt.Sprint(n.Asks) != fmt.Sprint(Levels(g.Asks())) {
			return fmt.Errorf("asset %s differs:\nnode %s %d:%d bids %v asks %v\n  go %s %d:%d bids %v asks %v", id,
				n.State, n.Epoch, n.Seq, n.Bids, n.Asks, g.State, g.Epoch, g.Seq, Levels(g.Bids()), Levels(g.Asks()))
		}
	}
	return nil
}
