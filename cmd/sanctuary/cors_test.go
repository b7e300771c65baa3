package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// Every REST route takes the old product's x-auth-token header as well as
// Authorization: Bearer; with neither it is 401 unauthorized.
func TestXAuthTokenOnEveryRoute(t *testing.T) {
	const hex32 = "0123456789abcdef0123456789abcdef"
	ts := startServer(t, "-agora-app-id", hex32, "-agora-app-certificate", hex32)
	tok := token(t, "xs")
	routes := []string{
		"GET /api/v1/sessions/xs", "GET /api/v1/sessions/xs/stats",
		"POST /api/v1/sessions/xs/breakouts", "POST /api/v1/sessions/xs/breakouts/assign",
		"POST /api/v1/sessions/xs/breakouts/selfselect", "POST /api/v1/sessions/xs/breakouts/close",
		"POST /api/v1/sessions/xs/breakouts/close/cancel", "POST /api/v1/sessions/xs/breakouts/r-1/close",
		"POST /api/v1/sessions/xs/broadcast", "POST /api/v1/sessions/xs/participants/p-1/move",
		"POST /api/v1/sessions/xs/participants/p-1/mute", "POST /api/v1/sessions/xs/participants/p-1/unmute-request",
		"POST /api/v1/sessions/xs/participants/p-1/remove", "POST /api/v1/sessions/xs/participants/p-1/role",
		"POST /api/v1/sessions/xs/participants/p-1/hand", "POST /api/v1/sessions/xs/end",
		"POST /api/v1/agora/token", "POST /api/agora/token",
	}
	for _, route := range routes {
		method, path, _ := strings.Cut(route, " ")
		resp, body := ts.do(t, method, path, nil, strings.NewReader("{}"))
		checkAPIError(t, resp, body, http.StatusUnauthorized, signaling.CodeUnauthorized)
		resp, body = ts.do(t, method, path, http.Header{"X-Auth-Token": {tok}}, strings.NewReader("{}"))
		if resp.StatusCode == http.StatusUnauthorized || strings.Contains(string(body), signaling.CodeUnauthorized) {
			t.Errorf("%s with x-auth-token: %d %s", route, resp.StatusCode, body)
		}
		// Both headers: Authorization wins, so a bad Bearer is refused.
		resp, body = ts.do(t, method, path, http.Header{"X-Auth-Token": {tok}, "Authorization": {"Bearer nonsense"}},
			strings.NewReader("{}"))
		checkAPIError(t, resp, body, http.StatusUnauthorized, signaling.CodeTokenInvalid)
	}
}

// CORS for the API: a preflight from an allowed origin is answered with the
// methods and headers the API takes; its requests carry
// Access-Control-Allow-Origin; a refused origin's preflight is 403 and its
// requests carry no CORS header. Pages of the server's own origin need none.
func TestCORS(t *testing.T) {
	ts := startServer(t, "-allowed-origins", "https://app.example.org")
	const path = "/api/v1/sessions/cs"
	preflight := func(origin string) (*http.Response, []byte) {
		return ts.do(t, http.MethodOptions, path+"/broadcast", http.Header{
			"Origin": {origin}, "Access-Control-Request-Method": {"POST"},
			"Access-Control-Request-Headers": {"authorization, content-type"},
		}, nil)
	}
	resp, _ := preflight("https://app.example.org")
	h := resp.Header
	if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "https://app.example.org" ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "X-Auth-Token") || h.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("allowed preflight: %d %v", resp.StatusCode, h)
	}
	resp, body := preflight("https://evil.example.com")
	checkAPIError(t, resp, body, http.StatusForbidden, signaling.CodeOriginNotAllowed)
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("refused preflight carries Access-Control-Allow-Origin")
	}

	get := func(origin string) *http.Response {
		resp, _ := ts.do(t, http.MethodGet, path, http.Header{"Origin": {origin}, "Authorization": {"Bearer " + token(t, "cs")}}, nil)
		return resp
	}
	if got := get("https://app.example.org").Header.Get("Access-Control-Allow-Origin"); got != "https://app.example.org" {
		t.Errorf("allowed origin's GET: Access-Control-Allow-Origin %q", got)
	}
	if got := get("https://evil.example.com").Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("refused origin's GET: Access-Control-Allow-Origin %q", got)
	}
	if got := get("http://" + ts.addr).Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("same-origin GET: Access-Control-Allow-Origin %q", got)
	}
}
