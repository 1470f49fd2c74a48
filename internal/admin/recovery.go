package admin

import (
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
)

// recoverPanics turns a panic in any handler (including the Config functions it calls) into
// a 500 and one log record with the request's context, instead of net/http's bare stack dump
// on stderr. If the response had already started, a 500 can no longer be sent: the connection
// is aborted so that the client sees a truncated response rather than a complete-looking one.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw := &trackingWriter{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v) // a deliberate abort: net/http closes the connection silently
			}
			s.log.Error("admin handler panicked",
				"method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if tw.wroteHeader {
				panic(http.ErrAbortHandler)
			}
			s.writeError(w, r, http.StatusInternalServerError, "internal error: the handler panicked (see the server log)")
		}()
		next.ServeHTTP(tw, r)
	})
}

// trackingWriter records whether the response has started. It passes Flush and the
// http.ResponseController methods (pprof extends its write deadline through them) to the
// underlying writer.
type trackingWriter struct {
	http.ResponseWriter
	wroteHeader bool
}

func (t *trackingWriter) WriteHeader(status int) {
	// 1xx informational headers do not start the final response.
	if status >= 200 {
		t.wroteHeader = true
	}
	t.ResponseWriter.WriteHeader(status)
}

func (t *trackingWriter) Write(p []byte) (int, error) {
	t.wroteHeader = true
	return t.ResponseWriter.Write(p)
}

func (t *trackingWriter) Flush() {
	t.wroteHeader = true
	_ = http.NewResponseController(t.ResponseWriter).Flush() // http.Flusher reports no error either
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (t *trackingWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }
