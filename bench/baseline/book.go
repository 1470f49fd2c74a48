package baseline

import (
	"encoding/json"
	"strconv"
)

// Book is one asset's book as the naive client keeps it: price text → size text.
type Book struct {
	Bids map[string]string
	Asks map[string]string
}

// message is every field the naive client reads, decoded the ordinary way.
type message struct {
	EventType    string        `json:"event_type"`
	AssetID      string        `json:"asset_id"`
	Bids         []level       `json:"bids"`
	Asks         []level       `json:"asks"`
	Buys         []level       `json:"buys"`
	Sells        []level       `json:"sells"`
	PriceChanges []priceChange `json:"price_changes"`
	NewTickSize  string        `json:"new_tick_size"`
}

type level struct {
	Price string `json:"price"`
	Size  string `json:"size"`
}

type priceChange struct {
	AssetID string `json:"asset_id"`
	Price   string `json:"price"`
	Size    string `json:"size"`
	Side    string `json:"side"`
}

// apply decodes one frame (an object or an array of objects) and applies it
// under the client's one mutex. It returns the assets whose tick size changed:
// the venue re-buckets their levels without sending them, so their books need
// a fresh snapshot.
func (c *Client) apply(frame []byte) (regrid []string) {
	var msgs []message
	if len(frame) > 0 && frame[0] == '[' {
		if err := json.Unmarshal(frame, &msgs); err != nil {
			c.bad.Add(1)
			return nil
		}
	} else {
		var m message
		if err := json.Unmarshal(frame, &m); err != nil {
			c.bad.Add(1)
			return nil
		}
		msgs = []message{m}
	}
	c.messages.Add(uint64(len(msgs)))
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range msgs {
		m := &msgs[i]
		switch {
		case m.EventType == "book" || m.EventType == "" && (m.Bids != nil || m.Asks != nil || m.Buys != nil || m.Sells != nil):
			b := &Book{Bids: make(map[string]string), Asks: make(map[string]string)}
			for _, l := range append(m.Bids, m.Buys...) {
				setLevel(b.Bids, l.Price, l.Size)
			}
			for _, l := range append(m.Asks, m.Sells...) {
				setLevel(b.Asks, l.Price, l.Size)
			}
			c.books[m.AssetID] = b
		case m.EventType == "price_change" || m.EventType == "" && m.PriceChanges != nil:
			for _, pc := range m.PriceChanges {
				b := c.books[pc.AssetID]
				if b == nil {
					continue // no snapshot yet
				}
				side := b.Bids
				if pc.Side == "SELL" {
					side = b.Asks
				}
				setLevel(side, pc.Price, pc.Size)
			}
		case m.EventType == "tick_size_change" || m.EventType == "" && m.NewTickSize != "":
			regrid = append(regrid, m.AssetID)
		}
	}
	return regrid
}

// setLevel sets or (size zero) removes one level, keyed by the price's value.
func setLevel(side map[string]string, price, size string) {
	p, err := strconv.ParseFloat(price, 64)
	if err != nil {
		return
	}
	key := strconv.FormatFloat(p, 'f', -1, 64)
	if s, err := strconv.ParseFloat(size, 64); err == nil && s == 0 {
		delete(side, key)
		return
	}
	side[key] = size
}

// Book returns a copy of the asset's book, or false if it has none.
func (c *Client) Book(assetID string) (Book, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.books[assetID]
	if !ok {
		return Book{}, false
	}
	cp := Book{Bids: make(map[string]string, len(b.Bids)), Asks: make(map[string]string, len(b.Asks))}
	for k, v := range b.Bids {
		cp.Bids[k] = v
	}
	for k, v := range b.Asks {
		cp.Asks[k] = v
	}
	return cp, true
}
