package wire

import (
	"errors"
	"strings"
	"testing"

	"github.com/polyfeed/polyfeed/fixed"
)

func TestErrorDetails(t *testing.T) {
	d := NewDecoder()
	frame := []byte(`[{"event_type":"book","asset_id":"a","bids":[]},` +
		`{"event_type":"price_change","market":"m","price_changes":[{"asset_id":"x","price":"0.5","size":"1","side":"BUY"},{"asset_id":"y","price":"0.5","size":"1e5","side":"BUY"}]}]`)
	evs, err := d.Decode(frame)
	if len(evs) != 2 || len(evs[1].Changes) != 1 {
		t.Fatalf("events: %s", render(evs))
	}
	errs := Errors(err)
	if len(errs) != 1 {
		t.Fatalf("Errors(%v) = %d errors; want 1", err, len(errs))
	}
	e := errs[0]
	want := Error{Kind: KindPriceChange, Index: 1, Offset: -1, AssetID: "y", Market: "m", Field: "price_changes[1].size", Value: "1e5", Err: fixed.ErrSyntax, quoted: true}
	if *e != want {
		t.Errorf("error = %+v; want %+v", *e, want)
	}
	if !errors.Is(err, fixed.ErrSyntax) {
		t.Errorf("errors.Is(%v, fixed.ErrSyntax) = false", err)
	}
	// The error must not alias the frame: it outlives the next Decode.
	for i := range frame {
		frame[i] = 'z'
	}
	if e.AssetID != "y" || e.Market != "m" || e.Value != "1e5" {
		t.Errorf("error fields alias the frame: %+v", *e)
	}
}

func TestErrorsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteByte('[')
	for i := 0; i < 50; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"event_type":"book","asset_id":"a","bids":[{"price":"bad","size":"1"}]}`)
	}
	b.WriteString(`,{"asset_id":"ok","bids":[]}]`)
	d := NewDecoder()
	evs, err := d.Decode([]byte(b.String()))
	if len(evs) != 1 || evs[0].AssetID != "ok" {
		t.Fatalf("events: %s", render(evs))
	}
	if n := len(Errors(err)); n != maxErrors {
		t.Errorf("detailed errors = %d; want %d", n, maxErrors)
	}
	if !strings.Contains(err.Error(), "42 more parts skipped") {
		t.Errorf("err = %v; want the summary of the rest", err)
	}
	if got := d.Stats().Malformed; got != 50 {
		t.Errorf("Malformed = %d; want 50", got)
	}
}

func TestErrorValueClipped(t *testing.T) {
	long := strings.Repeat("9", 500)
	_, err := NewDecoder().Decode([]byte(`{"asset_id":"a","bids":[{"price":"` + long + `","size":"1"}]}`))
	errs := Errors(err)
	if len(errs) != 1 || len(errs[0].Value) > maxValue+3 {
		t.Fatalf("errors %v", err)
	}
}

func TestErrorsOfNil(t *testing.T) {
	if got := Errors(nil); got != nil {
		t.Errorf("Errors(nil) = %v", got)
	}
	if got := Errors(errors.New("x")); got != nil {
		t.Errorf("Errors(plain) = %v", got)
	}
}
