package httpjson

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestGet(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.Write([]byte(`{"n":7}`))
		case "/bad":
			w.Write([]byte(`{"n":`))
		default:
			http.Error(w, "unknown asset", http.StatusNotFound)
		}
	}))
	defer srv.Close()
	c := srv.Client()

	var v struct{ N int }
	if code, err := Get(c, srv.URL+"/ok", &v); code != 200 || err != nil || v.N != 7 {
		t.Errorf("Get /ok = %d, %v, %+v; want 200, nil, 7", code, err, v)
	}
	if code, err := Get(c, srv.URL+"/ok", nil); code != 200 || err != nil {
		t.Errorf("Get /ok into nil = %d, %v; want 200, nil", code, err)
	}
	if code, err := Get(c, srv.URL+"/missing", &v); code != 404 || err == nil || !strings.Contains(err.Error(), "unknown asset") {
		t.Errorf("Get /missing = %d, %v; want 404 and an error with the body", code, err)
	}
	if code, err := Get(c, srv.URL+"/bad", &v); code != 200 || err == nil || !strings.Contains(err.Error(), "cannot decode") {
		t.Errorf("Get /bad = %d, %v; want 200 and a decoding error", code, err)
	}
	url := srv.URL
	srv.Close()
	if code, err := Get(c, url+"/ok", &v); code != 0 || err == nil {
		t.Errorf("Get on a closed server = %d, %v; want 0 and an error", code, err)
	}
}
