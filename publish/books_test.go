package publish

import (
	"fmt"
	"testing"
	"time"

	"github.com/polyfeed/polyfeed/internal/natsd"
	"github.com/polyfeed/polyfeed/internal/poll"
	"github.com/polyfeed/polyfeed/internal/sim"
)

// TestBookBounds: a book at least every BookEvery messages of an asset,
// and at least every BookMaxAge for idle assets.
func TestBookBounds(t *testing.T) {
	const every = 10
	r := newRig(t, rigConfig{
		sim:  sim.Config{Seed: 18, Markets: 6, Rate: 1500},
		nats: natsd.Config{Memory: true},
		pub: func(c *Config) {
			c.BookEvery = every
			c.BookMaxAge = time.Second
		},
	})
	r.waitValid()
	time.Sleep(time.Second)
	books := func() map[string]int {
		n := map[string]int{}
		since := map[string]int{}
		for _, m := range r.readStream(EventsStream(DefaultPrefix)) {
			if m.Type == TypeBook {
				n[m.Asset]++
				since[m.Asset] = 0
				continue
			}
			// status live follows a book it belongs to; all else counts
			if since[m.Asset]++; since[m.Asset] > every+1 {
				t.Fatalf("asset %s: %d messages without a book", m.Asset, since[m.Asset])
			}
		}
		return n
	}
	r.sim.Pause()
	before := books()
	poll.For(t, 10*time.Second, 200*time.Millisecond, func() error {
		after := books()
		for _, id := range r.ids {
			if after[id] < before[id]+2 {
				return fmt.Errorf("idle asset %s: %d books, %d before the pause", id, after[id], before[id])
			}
		}
		return nil
	})
}
