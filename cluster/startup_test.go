package cluster

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// epochWatch records the highest epoch of every asset in any message on the
// stream's subjects: the epoch a consumer follows (it ignores lower ones).
type epochWatch struct {
	mu  sync.Mutex
	max map[string]uint64
}

func watchEpochs(t *testing.T, url string) *epochWatch {
	t.Helper()
	w := &epochWatch{max: map[string]uint64{}}
	nc := connect(t, url)
	sub, err := nc.Subscribe("polyfeed.v1.>", func(msg *nats.Msg) {
		var h struct {
			AssetID string `json:"asset_id"`
			Epoch   uint64 `json:"epoch"`
		}
		if json.Unmarshal(msg.Data, &h) != nil {
			return
		}
		w.mu.Lock()
		w.max[h.AssetID] = max(w.max[h.AssetID], h.Epoch)
		w.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return w
}

// followed checks that each asset's highest epoch on the stream is the one
// its publisher publishes under, not yielded: what a consumer follows is
// alive.
func (w *epochWatch) followed(live []*member, ms []Market) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, mk := range ms {
		for _, m := range live {
			if !m.node.Publishes(mk.ConditionID) {
				continue
			}
			for _, a := range mk.AssetIDs {
				m.mu.Lock()
				e, yielded := m.epochs[a], m.yielded[a]
				m.mu.Unlock()
				if yielded || e != w.max[a] {
					return fmt.Errorf("asset %s: publisher %s at epoch %d (yielded %v), the stream's highest is %d",
						a, m.id, e, yielded, w.max[a])
				}
			}
		}
	}
	return nil
}

// TestNodeStartupSlowSnapshots starts three members within a moment of each
// other while the listing is already shared, each with publishers that yield
// to higher epochs and take a while to publish the first book of a gained
// market (the venue's snapshot), as at 2,000 markets. While the member sets
// settle, members hand markets over before their own first book is out, and
// restart epochs on each other's claims. In the end every asset's highest
// epoch on the stream must be its publisher's, live: a consumer following
// the highest epoch is never left with an asset nobody publishes.
func TestNodeStartupSlowSnapshots(t *testing.T) {
	d := runNATS(t)
	createStreams(t, d.url(), 1)
	ms := testMarkets(150, 23)
	w := watchEpochs(t, d.url())
	// A first member lists the markets and leaves; the listing stays.
	lister := startMember(t, d.url(), "s1", "lister", nil)
	shareAll(t, ms, lister, lister)
	lister.stop()
	var live []*member
	for i, delay := range []time.Duration{700 * time.Millisecond, 300 * time.Millisecond, 0} {
		live = append(live, startPublisher(t, d.url(), "s1", fmt.Sprintf("m%d", i), delay))
		time.Sleep(150 * time.Millisecond) // starts overlap the others' settling
	}
	checkFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		if err := settled(live, ms, 1); err != nil {
			return err
		}
		return w.followed(live, ms)
	})
}
