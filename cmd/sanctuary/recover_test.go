package main

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"

	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// panicRoutes are handlers that panic, registered as the server registers
// its own.
func panicRoutes(rt *router) {
	rt.handle("GET /api/v1/test/panic", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("boom in the API")
	}))
	rt.handle("GET /test/panic", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain") // set, not sent: the 500 must not keep it
		panic(errors.New("boom outside the API"))
	}))
	rt.handle("GET /test/panic-after-answer", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "100")
		_, _ = io.WriteString(w, "the first bytes")
		http.NewResponseController(w).Flush()
		panic("boom while answering")
	}))
}

// TestPanicsRecovered checks that a handler's panic is answered 500 with
// the JSON body code internal, logged with its stack and without the
// request's token, and that the server keeps serving; a panic after the
// answer began cuts it short instead.
func TestPanicsRecovered(t *testing.T) {
	ts := startServerWith(t, panicRoutes)
	bearer := token(t, "s1")
	header := http.Header{"Authorization": {"Bearer " + bearer}}
	const querySecret = "query-secret-value"

	for _, path := range []string{"/api/v1/test/panic", "/test/panic"} {
		t.Run(path, func(t *testing.T) {
			resp, body := ts.do(t, "GET", path+"?token="+querySecret, header, nil)
			checkAPIError(t, resp, body, http.StatusInternalServerError, signaling.CodeInternal)
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("headers %v", resp.Header)
			}
			// The server goes on serving, on the same connection too.
			var reused bool
			req, err := http.NewRequest("GET", ts.url+"/healthz", nil)
			if err != nil {
				t.Fatal(err)
			}
			req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
				GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused },
			}))
			resp, err = ts.cl.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !reused {
				t.Fatalf("healthz after the panic: status %d, connection reused %v", resp.StatusCode, reused)
			}
		})
	}
	t.Run("after the answer began", func(t *testing.T) {
		req, err := http.NewRequest("GET", ts.url+"/test/panic-after-answer", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := ts.cl.Do(req)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err == nil {
			t.Fatal("the answer looked complete")
		}
		if resp, body := ts.do(t, "GET", "/healthz", nil, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("healthz after the panic: %d %q", resp.StatusCode, body)
		}
	})

	logs := ts.logs.String()
	for _, want := range []string{
		`msg="http handler panicked"`, `panic="boom in the API"`, `panic="boom outside the API"`,
		`panic="boom while answering"`, `path=/api/v1/test/panic `, "recover_test.go", "answer_begun=true",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	if n := strings.Count(logs, `msg="http handler panicked"`); n != 3 {
		t.Errorf("%d panics logged, want 3", n)
	}
	for _, secret := range []string{bearer, querySecret} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log shows a secret of the request: %q", secret)
		}
	}
	if strings.Contains(logs, "http: panic serving") {
		t.Error("net/http saw a panic")
	}
}
