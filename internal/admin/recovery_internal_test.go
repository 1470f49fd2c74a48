package admin

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A panic after the response started cannot become a 500: the connection is aborted so the
// client sees a broken response, never a complete-looking one.
func TestPanicAfterResponseStarted(t *testing.T) {
	var logs bytes.Buffer
	s, err := New(Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.recoverPanics(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "partial")
		http.NewResponseController(w).Flush()
		panic("late failure")
	})))
	defer ts.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()

	resp, err := (&http.Client{Transport: tr}).Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Fatalf("read %d %q completely; want the response cut off", resp.StatusCode, body)
	}
	ts.Close() // waits for the handler, and so for its log record
	if n := strings.Count(logs.String(), "admin handler panicked"); n != 1 {
		t.Errorf("logged the panic %d times; want once:\n%s", n, logs.String())
	}
}

// http.ErrAbortHandler is net/http's deliberate abort: passed on, not logged as a failure.
func TestAbortHandlerIsNotLogged(t *testing.T) {
	var logs bytes.Buffer
	s, err := New(Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.recoverPanics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler)
	})))
	defer ts.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	if resp, err := (&http.Client{Transport: tr}).Get(ts.URL); err == nil {
		resp.Body.Close()
		t.Fatalf("GET = %d; want the connection aborted", resp.StatusCode)
	}
	ts.Close() // waits for the handler
	if logs.Len() != 0 {
		t.Errorf("an abort was logged: %s", logs.String())
	}
}
