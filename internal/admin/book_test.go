package admin_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/polyfeed/polyfeed/book"
	"github.com/polyfeed/polyfeed/fixed"
	"github.com/polyfeed/polyfeed/internal/admin"
)

// assetID is a real token id (fixtures/polymarket/ws/book_snapshot.json): 77 digits.
const assetID = "71321045679252212594626385532706912750332728571942532289631379312455583992563"

func point(s string) *fixed.Point { p := fixed.MustParse(s); return &p }

// sampleBook is the fixture's book as the engine would fill it: best levels first.
func sampleBook(id string) book.View {
	lv := func(p, s string) book.LevelView {
		return book.LevelView{Price: fixed.MustParse(p), Size: fixed.MustParse(s)}
	}
	return book.View{
		AssetID:     id,
		Market:      "0xdd22472e552920b8438158ea7238bfadfa4f736aa4cee91a6b86c39ead110917",
		Bids:        []book.LevelView{lv("0.50", "200"), lv("0.49", "350"), lv("0.48", "500")},
		Asks:        []book.LevelView{lv("0.51", "150"), lv("0.52", "250"), lv("0.53", "400")},
		BestBid:     point("0.50"),
		BestAsk:     point("0.51"),
		Spread:      point("0.01"),
		Mid:         point("0.505"),
		TickSize:    fixed.MustParse("0.01"),
		Sequence:    42,
		UpdatedAtMS: 1703875200000,
		Valid:       true,
		LastTrade:   &book.TradeView{Price: fixed.MustParse("0.51"), Size: fixed.MustParse("12.5"), Side: "BUY", TimestampMS: 1703875199000},
	}
}

// bookServer serves sampleBook for assetID and remembers the ids the engine was asked for.
type bookServer struct {
	mu    sync.Mutex
	asked []string
}

func (b *bookServer) book(id string) (book.View, bool, error) {
	b.mu.Lock()
	b.asked = append(b.asked, id)
	b.mu.Unlock()
	if id != assetID {
		return book.View{}, false, nil
	}
	return sampleBook(id), true, nil
}

func (b *bookServer) askedIDs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.asked...)
}

// The clock of the test server: 1.5 s after the book's last update.
var bookNow = time.UnixMilli(1703875201500)

func TestBookFound(t *testing.T) {
	bs := &bookServer{}
	h := start(t, admin.Config{Book: bs.book, Now: func() time.Time { return bookNow }})
	r := h.get("/books/" + assetID)
	r.wantJSON(t, http.StatusOK)
	want := `{"asset_id":"` + assetID + `",` +
		`"market":"0xdd22472e552920b8438158ea7238bfadfa4f736aa4cee91a6b86c39ead110917",` +
		`"bids":[{"price":"0.5","size":"200"},{"price":"0.49","size":"350"},{"price":"0.48","size":"500"}],` +
		`"asks":[{"price":"0.51","size":"150"},{"price":"0.52","size":"250"},{"price":"0.53","size":"400"}],` +
		`"bid_levels":3,"ask_levels":3,` +
		`"best_bid":"0.5","best_ask":"0.51","spread":"0.01","mid":"0.505","tick_size":"0.01",` +
		`"sequence":42,"updated_at_ms":1703875200000,"age_ms":1500,"valid":true,` +
		`"last_trade":{"price":"0.51","size":"12.5","side":"BUY","timestamp_ms":1703875199000}}`
	if got := strings.TrimSpace(string(r.body)); got != want {
		t.Errorf("GET /books/{id} =\n%s\nwant\n%s", got, want)
	}
	if got := bs.askedIDs(); len(got) != 1 || got[0] != assetID {
		t.Errorf("engine asked for %q; want exactly [%s]", got, assetID)
	}
}

// An engine that cannot answer (stopping, stuck worker) is a 503, not a 404.
func TestBookEngineError(t *testing.T) {
	h := start(t, admin.Config{Book: func(string) (book.View, bool, error) {
		return book.View{}, false, errors.New("engine stopped")
	}})
	r := h.get("/books/123")
	r.wantJSON(t, http.StatusServiceUnavailable)
	if !strings.Contains(string(r.body), "engine stopped") {
		t.Errorf("body %s does not say why", r.body)
	}
}

func TestBookEmptySides(t *testing.T) {
	h := start(t, admin.Config{Book: func(id string) (book.View, bool, error) {
		return book.View{AssetID: id, Valid: false}, true, nil
	}})
	r := h.get("/books/1")
	r.wantJSON(t, http.StatusOK)
	want := `{"asset_id":"1","market":"","bids":[],"asks":[],"bid_levels":0,"ask_levels":0,` +
		`"best_bid":null,"best_ask":null,"spread":null,"mid":null,"tick_size":"0",` +
		`"sequence":0,"updated_at_ms":0,"age_ms":0,"valid":false,"last_trade":null}`
	if got := strings.TrimSpace(string(r.body)); got != want {
		t.Errorf("GET /books/1 (empty book) =\n%s\nwant\n%s", got, want)
	}
}

func TestBookDepth(t *testing.T) {
	h := start(t, admin.Config{Book: (&bookServer{}).book})
	tests := []struct {
		query      string
		bids, asks []string // prices expected, best first
	}{
		{"", []string{"0.5", "0.49", "0.48"}, []string{"0.51", "0.52", "0.53"}},
		{"?depth=1", []string{"0.5"}, []string{"0.51"}},
		{"?depth=2", []string{"0.5", "0.49"}, []string{"0.51", "0.52"}},
		{"?depth=1000", []string{"0.5", "0.49", "0.48"}, []string{"0.51", "0.52", "0.53"}},
		{"?depth=2&pretty=1", []string{"0.5", "0.49"}, []string{"0.51", "0.52"}},
	}
	for _, tt := range tests {
		r := h.get("/books/" + assetID + tt.query)
		r.wantJSON(t, http.StatusOK)
		var v struct {
			Bids      []struct{ Price string } `json:"bids"`
			Asks      []struct{ Price string } `json:"asks"`
			BidLevels int                      `json:"bid_levels"`
			AskLevels int                      `json:"ask_levels"`
		}
		if err := json.Unmarshal(r.body, &v); err != nil {
			t.Fatal(err)
		}
		prices := func(ls []struct{ Price string }) string {
			var out []string
			for _, l := range ls {
				out = append(out, l.Price)
			}
			return strings.Join(out, " ")
		}
		if got, want := prices(v.Bids), strings.Join(tt.bids, " "); got != want {
			t.Errorf("GET /books/{id}%s bids = %s; want %s", tt.query, got, want)
		}
		if got, want := prices(v.Asks), strings.Join(tt.asks, " "); got != want {
			t.Errorf("GET /books/{id}%s asks = %s; want %s", tt.query, got, want)
		}
		if v.BidLevels != 3 || v.AskLevels != 3 {
			t.Errorf("GET /books/{id}%s levels = %d/%d; want the uncapped 3/3", tt.query, v.BidLevels, v.AskLevels)
		}
	}
}

func TestBookUnknownAsset(t *testing.T) {
	bs := &bookServer{}
	h := start(t, admin.Config{Book: bs.book})
	m := h.get("/books/12345").wantJSON(t, http.StatusNotFound)
	if m["error"] != "unknown asset 12345" {
		t.Errorf("error = %v; want \"unknown asset 12345\"", m["error"])
	}
	if got := bs.askedIDs(); len(got) != 1 || got[0] != "12345" {
		t.Errorf("engine asked for %q; want [12345]", got)
	}
}

// Bad ids and depths are refused with 400 before the engine is asked anything.
func TestBookBadRequests(t *testing.T) {
	bs := &bookServer{}
	h := start(t, admin.Config{Book: bs.book})
	tests := []struct{ path, errPart string }{
		{"/books/", "empty"},
		{"/books/abc", `byte 0 is "a"`},
		{"/books/-1", `byte 0 is "-"`},
		{"/books/12a4", `byte 2 is "a"`},
		{"/books/1%202", `byte 1 is " "`},
		{"/books/12%2F34", `byte 2 is "/"`},
		{"/books/%EF%BC%91", `byte 0 is "\xef"`}, // fullwidth digit one: not ASCII
		{"/books/0x1f", `byte 1 is "x"`},
		{"/books/" + strings.Repeat("1", admin.MaxAssetIDLen+1), "101 bytes long, at most 100"},
		{"/books/" + assetID + "?depth=0", `invalid depth "0"`},
		{"/books/" + assetID + "?depth=1001", `invalid depth "1001"`},
		{"/books/" + assetID + "?depth=-3", `invalid depth "-3"`},
		{"/books/" + assetID + "?depth=ten", `invalid depth "ten"`},
		{"/books/" + assetID + "?depth=", `invalid depth ""`},
		{"/books/" + assetID + "?depth=99999999999999999999999", `invalid depth "99999999999999999999..."`},
	}
	for _, tt := range tests {
		m := h.get(tt.path).wantJSON(t, http.StatusBadRequest)
		if msg, _ := m["error"].(string); !strings.Contains(msg, tt.errPart) {
			t.Errorf("GET %s error = %q; want it to contain %q", tt.path, msg, tt.errPart)
		}
	}
	if got := bs.askedIDs(); len(got) != 0 {
		t.Errorf("engine was asked for %q; want no calls for bad requests", got)
	}
	// The longest valid id reaches the engine.
	h.get("/books/"+strings.Repeat("9", admin.MaxAssetIDLen)).wantJSON(t, http.StatusNotFound)
}
