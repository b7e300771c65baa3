package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// do sends one request to ts and returns the answer with its body read.
func (ts *testServer) do(t *testing.T, method, path string, header http.Header, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, ts.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := ts.cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	return resp, b
}

// checkAPIError checks that an answer is the JSON error body {code,
// message} with status and code.
func checkAPIError(t *testing.T, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body %q", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json; body %q", ct, body)
	}
	var e struct{ Code, Message string }
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	if e.Code != code || e.Message == "" {
		t.Fatalf("body %q, want code %q and a message", body, code)
	}
}

// TestAPIAnswersJSON checks that every answer under /api/ is JSON: the
// mux's 404 and 405 (with Allow), its redirects to cleaned paths, and the
// API's own errors, which pass unchanged. Outside /api/ nothing changes.
func TestAPIAnswersJSON(t *testing.T) {
	ts := startServer(t)
	tests := []struct {
		method, path string
		status       int
		code         string // "" outside the API: not JSON
		allow        string // the Allow header of a 405
	}{
		{"GET", "/api/v1/agora/token", 405, signaling.CodeMethodNotAllowed, "POST"},
		{"PUT", "/api/agora/token", 405, signaling.CodeMethodNotAllowed, "POST"},
		{"PUT", "/api/v1/sessions/s1", 405, signaling.CodeMethodNotAllowed, "GET, HEAD"},
		{"GET", "/api/v1/sessions/s1/breakouts", 405, signaling.CodeMethodNotAllowed, "POST"},
		{"DELETE", "/api/v1/sessions/s1/end", 405, signaling.CodeMethodNotAllowed, "POST"},
		{"GET", "/api/v1/nope", 404, signaling.CodeNotFound, ""},
		{"POST", "/api/nope", 404, signaling.CodeNotFound, ""},
		{"GET", "/api/v1/sessions/s1/nope", 404, signaling.CodeNotFound, ""},
		{"GET", "/api/v1/sessions", 404, signaling.CodeNotFound, ""},     // the mux would redirect to the subtree
		{"GET", "/api//v1/sessions/s1", 404, signaling.CodeNotFound, ""}, // the mux would redirect to the clean path
		{"POST", "/api/v1/sessions/./s1/end", 404, signaling.CodeNotFound, ""},
		{"GET", "/api/", 404, signaling.CodeNotFound, ""},
		{"GET", "/api", 404, signaling.CodeNotFound, ""},
		{"POST", "/api/v1/sessions/s1/broadcast", 401, signaling.CodeUnauthorized, ""}, // signaling's own
		{"POST", "/api/v1/agora/token", 503, signaling.CodeAgoraNotConfigured, ""},     // signaling's own
		{"GET", "/nope", 404, "", ""},                                                  // the web client's
		{"POST", "/healthz", 405, "", ""},                                              // outside the API
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			resp, body := ts.do(t, tc.method, tc.path, nil, nil)
			if tc.code == "" {
				if resp.StatusCode != tc.status || strings.Contains(resp.Header.Get("Content-Type"), "json") {
					t.Fatalf("status %d %q, want %d and not JSON", resp.StatusCode, resp.Header.Get("Content-Type"), tc.status)
				}
				return
			}
			checkAPIError(t, resp, body, tc.status, tc.code)
			if got := resp.Header.Get("Allow"); got != tc.allow {
				t.Fatalf("Allow %q, want %q", got, tc.allow)
			}
			if resp.Header.Get("Location") != "" {
				t.Fatalf("Location %q on a JSON error", resp.Header.Get("Location"))
			}
		})
	}
}

// TestBodiesLimited checks the server-wide body limit: a handler that reads
// a body without a limit of its own still stops at maxRequestBodyBytes.
func TestBodiesLimited(t *testing.T) {
	ts := startServerWith(t, func(rt *router) {
		rt.handle("POST /api/v1/test/read-all", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, err := io.Copy(io.Discard, r.Body)
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				signaling.WriteError(w, http.StatusRequestEntityTooLarge, signaling.CodeRequestTooLarge, "over the limit")
				return
			}
			if err != nil {
				signaling.WriteError(w, http.StatusBadRequest, signaling.CodeBadRequest, err.Error())
				return
			}
			writeJSON(w, http.StatusOK, map[string]int64{"read": n})
		}))
	})
	tests := []struct {
		name   string
		size   int
		status int
	}{
		{"at the limit", maxRequestBodyBytes, http.StatusOK},
		{"over the limit", maxRequestBodyBytes + 1, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := ts.do(t, "POST", "/api/v1/test/read-all", nil, bytes.NewReader(make([]byte, tc.size)))
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d; body %q", resp.StatusCode, tc.status, body)
			}
		})
	}
}
