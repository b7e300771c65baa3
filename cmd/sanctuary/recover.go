package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"

	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// recoverPanics serves h and answers a panic of it with 500 and the JSON
// body {"code": "internal"}, instead of net/http's dropped connection. The
// panic is logged with its stack, the method, the path and a fault id that
// the answer carries too; never the query or the headers, which may carry
// tokens. A panic after the answer has begun cannot change it: the
// connection is then cut (http.ErrAbortHandler), so that the client sees a
// truncated answer, never a complete-looking one. A panic with
// http.ErrAbortHandler passes on untouched: it is how a handler asks for
// that cut.
//
// It is not for a websocket: a hijacked connection has no HTTP answer left
// to give.
func recoverPanics(h http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &startWatcher{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			fault := faultID()
			log.Error("http handler panicked", "fault", fault, "method", r.Method, "path", r.URL.Path,
				"panic", fmt.Sprint(v), "answer_begun", sw.started, "stack", string(debug.Stack()))
			if sw.started {
				panic(http.ErrAbortHandler)
			}
			clear(w.Header())
			signaling.WriteError(w, http.StatusInternalServerError, signaling.CodeInternal,
				"the server failed; the fault is logged as "+fault)
		}()
		h.ServeHTTP(sw, r)
	})
}

// faultID is a random id that ties a fault's answer to its log line.
func faultID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// startWatcher notes whether the answer has begun.
type startWatcher struct {
	http.ResponseWriter
	started bool // a final status or a body byte was written or flushed
}

func (w *startWatcher) WriteHeader(status int) {
	if status >= 200 {
		w.started = true
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *startWatcher) Write(p []byte) (int, error) {
	w.started = true
	return w.ResponseWriter.Write(p)
}

// Flush flushes the answer, which begins it.
func (w *startWatcher) Flush() {
	w.started = true
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *startWatcher) Unwrap() http.ResponseWriter { return w.ResponseWriter }
