package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// apiPrefix is where the HTTP APIs live. Every answer under it is JSON;
// errors are {"code", "message"} with the codes of signaling/messages.go.
const apiPrefix = "/api/"

// router builds the server's handler. Routes under apiPrefix have a mux of
// their own, so that their 404 and 405 come from the API's routes alone,
// not from the web client's catch-all "GET /". Every route but the
// websocket is recovered from panics (see recoverPanics).
type router struct {
	mux *http.ServeMux // the routes outside apiPrefix. Never nil.
	api *http.ServeMux // the routes under apiPrefix. Never nil.
	log *slog.Logger   // receives panics. Never nil.
	// origins, when set, answers CORS for the routes under apiPrefix (see
	// originPolicy.cors).
	origins *originPolicy
}

func newRouter(log *slog.Logger) *router {
	return &router{mux: http.NewServeMux(), api: http.NewServeMux(), log: log}
}

// handle serves pattern ("[METHOD ]/path", as http.ServeMux reads it) with
// h, recovered from panics.
func (rt *router) handle(pattern string, h http.Handler) {
	rt.add(pattern, recoverPanics(h, rt.log))
}

// handleWebsocket serves pattern with h, which hijacks the connection. It
// is not recovered: once hijacked there is no HTTP answer to give, and
// net/http logs the panic (to the server's ErrorLog).
func (rt *router) handleWebsocket(pattern string, h http.Handler) {
	rt.add(pattern, h)
}

func (rt *router) add(pattern string, h http.Handler) {
	path := pattern
	if _, p, ok := strings.Cut(pattern, " "); ok {
		path = p
	}
	if strings.HasPrefix(path, apiPrefix) {
		rt.api.Handle(pattern, h)
		return
	}
	rt.mux.Handle(pattern, h)
}

// handler is the server's handler: the routes, with the answers under
// apiPrefix made JSON.
func (rt *router) handler() http.Handler {
	h := rt.serve()
	if rt.origins != nil {
		return rt.origins.cors(h)
	}
	return h
}

func (rt *router) serve() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if underAPI(r.URL.Path) {
			rt.api.ServeHTTP(&apiWriter{ResponseWriter: w, r: r}, r)
			return
		}
		rt.mux.ServeHTTP(w, r)
	})
}

func underAPI(path string) bool {
	return strings.HasPrefix(path, apiPrefix) || path == strings.TrimSuffix(apiPrefix, "/")
}

// apiWriter makes an answer under apiPrefix JSON when its handler did not:
// the 404 and 405 of http.ServeMux (405 keeps its Allow header), its
// redirects to a cleaned path (answered 404: API paths are canonical), and
// any http.Error. An answer of status 300 or more whose Content-Type is not
// application/json is replaced by the JSON error body of its status; the
// handler's body is then dropped. Other answers pass as they are.
type apiWriter struct {
	http.ResponseWriter
	r        *http.Request
	wrote    bool // the status is written
	replaced bool // the answer was replaced: drop the handler's body
}

func (w *apiWriter) WriteHeader(status int) {
	switch {
	case w.wrote || status < 200: // a superfluous call, or an informational answer
	case status < 300 || isJSON(w.Header()):
		w.wrote = true
	default:
		w.wrote, w.replaced = true, true
		h := w.Header()
		allow := h.Get("Allow")
		clear(h)
		if status == http.StatusMethodNotAllowed && allow != "" {
			h.Set("Allow", allow)
		}
		status, code, message := apiFallback(status, w.r, allow)
		signaling.WriteError(w.ResponseWriter, status, code, message)
		return
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *apiWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.replaced {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *apiWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func isJSON(h http.Header) bool {
	mediaType, _, _ := strings.Cut(h.Get("Content-Type"), ";")
	return strings.EqualFold(strings.TrimSpace(mediaType), "application/json")
}

// apiFallback is the JSON error answer that replaces a non-JSON one of
// status to r (allow: its Allow header).
func apiFallback(status int, r *http.Request, allow string) (int, string, string) {
	switch {
	case status < 400 || status == http.StatusNotFound:
		return http.StatusNotFound, signaling.CodeNotFound, fmt.Sprintf("no API at %s %s", r.Method, r.URL.Path)
	case status == http.StatusMethodNotAllowed:
		message := fmt.Sprintf("%s is not served at %s", r.Method, r.URL.Path)
		if allow != "" {
			message += "; use " + allow
		}
		return status, signaling.CodeMethodNotAllowed, message
	case status == http.StatusUnauthorized:
		return status, signaling.CodeUnauthorized, "send your token as Authorization: Bearer <token> (or x-auth-token: <token>)"
	case status == http.StatusRequestEntityTooLarge:
		return status, signaling.CodeRequestTooLarge, "the body is too large"
	case status >= 500:
		return status, signaling.CodeInternal, "the server failed"
	default:
		return status, signaling.CodeBadRequest, http.StatusText(status)
	}
}
