package gamma

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"testing"
)

// closeBefore makes the venue drop market i (it closed) just before serving
// request number at, so every later market moves one offset down.
func closeBefore(v *venue, at, i int) func(int, http.ResponseWriter, *http.Request) bool {
	return func(n int, _ http.ResponseWriter, _ *http.Request) bool {
		if n == at {
			v.markets = slices.Delete(v.markets, i, i+1)
		}
		return false
	}
}

// TestListActiveOffsetShift pins issue 12 defect 10: a market that closes
// during an offset walk shifts every later market one offset down, so a walk
// of consecutive pages skipped a market and still called the listing
// complete. The walk now notices and repairs the shift, or reports partial.
func TestListActiveOffsetShift(t *testing.T) {
	v := &venue{noKeyset: true, markets: genMarkets(t, 25)}
	// Request 1 is the keyset 404, 2 the first offset page: market 3 closes
	// before the second page is served.
	v.hook = closeBefore(v, 3, 3)
	c, _, _ := newVenue(t, v, Config{PageLimit: 10})
	got, st, err := c.ListActive(context.Background())
	var want []string
	for i := 0; i < 25; i++ {
		want = append(want, marketID(i))
	}
	if err != nil {
		t.Fatalf("ListActive: %v (stats %+v); want the shift repaired", err, st)
	}
	// Market 3 was listed before it closed; every market still open must be
	// there, above all the one that moved onto the page boundary.
	if !st.Complete || !slices.Equal(ids(got), want) {
		t.Fatalf("complete=%v ids=%v; want all of %v", st.Complete, ids(got), want)
	}
	if st.Warnings[WarnOffsetShift] != 1 {
		t.Fatalf("warnings = %v; want one offset_shift", st.Warnings)
	}
}

// TestListActiveOffsetShiftUnrepairable: shifts on every page exhaust the
// walk's step-backs; the listing must then be partial, never complete with a
// hole.
func TestListActiveOffsetShiftUnrepairable(t *testing.T) {
	v := &venue{noKeyset: true, markets: genMarkets(t, 200)}
	// Before every offset page but the first, the first market on the
	// previous page boundary closes, and so does the one after it.
	v.hook = func(n int, _ http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/markets" && r.URL.Query().Get("offset") != "0" && len(v.markets) > 4 {
			v.markets = slices.Delete(v.markets, 0, 3)
		}
		return false
	}
	c, _, _ := newVenue(t, v, Config{PageLimit: 10})
	got, st, err := c.ListActive(context.Background())
	if !errors.Is(err, ErrPartial) || st.Complete {
		t.Fatalf("ListActive = %d markets, %v, complete=%v; want ErrPartial", len(got), err, st.Complete)
	}
	if st.Warnings[WarnOffsetShift] != maxOffsetBackups+1 {
		t.Fatalf("offset_shift warnings = %d; want %d", st.Warnings[WarnOffsetShift], maxOffsetBackups+1)
	}
}

// TestListActiveOffsetNewMarkets: markets opened during the walk shift the
// listing up; that loses nothing and stays complete.
func TestListActiveOffsetNewMarkets(t *testing.T) {
	all := genMarkets(t, 30)
	v := &venue{noKeyset: true, markets: slices.Clone(all[5:])}
	v.hook = func(n int, _ http.ResponseWriter, r *http.Request) bool {
		if n == 3 || n == 4 { // newer markets are listed first
			v.markets = append([][]byte{all[5-(n-2)*2], all[5-(n-2)*2+1]}, v.markets...)
		}
		return false
	}
	c, _, _ := newVenue(t, v, Config{PageLimit: 10})
	got, st, err := c.ListActive(context.Background())
	if err != nil || !st.Complete {
		t.Fatalf("ListActive: %v, stats %+v", err, st)
	}
	have := make(map[string]bool)
	for _, id := range ids(got) {
		have[id] = true
	}
	for i := 5; i < 30; i++ {
		if !have[marketID(i)] {
			t.Fatalf("market %s missing from %v", marketID(i), ids(got))
		}
	}
}

// FuzzIdOf: the id the offset walk reads to check page continuity is the id full
// decoding reads, whenever full decoding gets as far as the id.
func FuzzIdOf(f *testing.F) {
	f.Add([]byte(`{"id":"12345","conditionId":"0x1"}`))
	f.Add([]byte(`{"id":12345}`))
	f.Add([]byte(`{"id":""}`))
	f.Add([]byte(`{"id":null}`))
	f.Add([]byte(`{"id":"1","id":"2"}`))
	f.Add([]byte(`[1,2]`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"id":-1}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		id, ok := idOf(raw)
		if ok && id == "" {
			t.Fatalf("idOf(%q) = \"\", true", raw)
		}
		_, _, err := decodeMarket(raw)
		var ime *InvalidMarketError
		if err == nil || (errors.As(err, &ime) && ime.Reason != ReasonMalformed && ime.Reason != ReasonMissingID) {
			m, _, _ := decodeMarket(raw)
			if !ok || (m.ID != "" && m.ID != id) {
				t.Fatalf("idOf(%q) = %q, %v; decodeMarket read id %q", raw, id, ok, m.ID)
			}
		}
	})
}

// FuzzOffsetWalkShifts drives an offset walk over a listing that changes between pages:
// markets close (anywhere) and open (on top, as newer ids do). Whatever the changes, a
// walk that returns a nil error must hold every market that stayed open throughout
// (issue 12 defect 10).
func FuzzOffsetWalkShifts(f *testing.F) {
	const initial, fresh = 60, 40
	base := genMarkets(f, initial)
	var newer [][]byte
	for k := 0; k < fresh; k++ {
		newer = append(newer, genMarket(f, initial+k, func(m map[string]any) {
			m["id"] = strconv.Itoa(9_000_001 + k) // newer markets sort first
		}))
	}
	f.Add(uint8(10), []byte{1, 0, 2, 5, 3})
	f.Add(uint8(2), []byte{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1})
	f.Add(uint8(7), []byte{2, 2, 2, 9, 13, 17, 0, 0, 6})
	f.Add(uint8(25), []byte{3, 7, 11, 15, 19})
	f.Fuzz(func(t *testing.T, limit uint8, ops []byte) {
		pageLimit := 2 + int(limit)%24
		v := &venue{noKeyset: true, markets: slices.Clone(base)}
		closed := make(map[string]bool)
		added := 0
		v.hook = func(_ int, _ http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != "/markets" || r.URL.Query().Get("offset") == "0" || len(ops) == 0 {
				return false
			}
			op := ops[0]
			ops = ops[1:]
			switch op % 4 {
			case 1, 3: // close one (or two) markets anywhere
				for n := 0; n <= int(op%4)/2 && len(v.markets) > 1; n++ {
					i := int(op/4) % len(v.markets)
					id, _ := idOf(v.markets[i])
					closed[id] = true
					v.markets = slices.Delete(v.markets, i, i+1)
				}
			case 2: // a new market opens
				if added < fresh {
					v.markets = append([][]byte{newer[added]}, v.markets...)
					added++
				}
			}
			return false
		}
		c, _, _ := newVenue(t, v, Config{PageLimit: pageLimit, MaxPages: 500})
		got, st, err := c.ListActive(context.Background())
		if err != nil {
			if !errors.Is(err, ErrPartial) {
				t.Fatalf("ListActive: %v", err)
			}
			return
		}
		listed := make(map[string]bool, len(got))
		for _, m := range got {
			listed[m.ID] = true
		}
		for i := 0; i < initial; i++ {
			if id := marketID(i); !closed[id] && !listed[id] {
				t.Fatalf("complete listing (limit %d, stats %+v) misses market %s, open throughout", pageLimit, st, id)
			}
		}
	})
}
