package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// originPolicy decides which browser origins may open the signaling
// websocket and call the HTTP APIs (CORS). Tokens, not cookies, authenticate, so the check is defence in
// depth: it keeps other sites' pages from using a visitor's browser as a
// client of this server.
type originPolicy struct {
	any     bool            // every origin is allowed ("*", or dev mode without a list)
	allowed map[string]bool // normalised origins ("https://app.example.org")
}

// parseOrigins reads -allowed-origins: a comma-separated list of origins
// (scheme://host[:port]) or "*". Empty means the default: any origin in dev
// mode, the server's own origin only otherwise.
func parseOrigins(list string, dev bool) (originPolicy, error) {
	p := originPolicy{allowed: map[string]bool{}}
	for _, o := range strings.Split(list, ",") {
		o = strings.TrimSpace(o)
		switch {
		case o == "":
		case o == "*":
			p.any = true
		default:
			n, err := normaliseOrigin(o)
			if err != nil {
				return p, fmt.Errorf("-allowed-origins: %w", err)
			}
			p.allowed[n] = true
		}
	}
	if dev && !p.any && len(p.allowed) == 0 {
		p.any = true
	}
	return p, nil
}

func normaliseOrigin(o string) (string, error) {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", fmt.Errorf("%q is not an origin such as https://app.example.org", o)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// allows reports whether r may open the websocket: a request without an
// Origin header (not a browser: the bots, integrations) always may; a
// browser's only from its own origin (the page this server serves) or an
// allowed one.
func (p originPolicy) allows(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || p.any {
		return true
	}
	n, err := normaliseOrigin(origin)
	if err != nil {
		return false
	}
	if p.allowed[n] {
		return true
	}
	u, _ := url.Parse(n)
	return strings.EqualFold(u.Host, r.Host)
}

// crossOrigin reports whether a browser request comes from another origin
// that -allowed-origins lets in (dev mode or "*": any): the API then
// answers it with CORS headers. Same-origin requests need none.
func (p originPolicy) crossOrigin(r *http.Request) (origin string, allowed bool) {
	origin = r.Header.Get("Origin")
	if origin == "" {
		return "", false
	}
	n, err := normaliseOrigin(origin)
	if err != nil {
		return origin, false
	}
	if u, _ := url.Parse(n); strings.EqualFold(u.Host, r.Host) {
		return "", false // the server's own pages
	}
	return origin, p.any || p.allowed[n]
}

// corsMaxAge is how long a browser may cache a preflight answer (seconds).
const corsMaxAge = "600"

// cors lets pages of the allowed origins call the HTTP APIs (under
// apiPrefix) from their own origin: preflights are answered, and answers
// carry Access-Control-Allow-Origin. Credentials travel in the
// Authorization or x-auth-token header only, never in cookies, so no
// Allow-Credentials. A preflight from a refused origin gets 403
// origin_not_allowed; its other requests get no CORS header (the browser
// then withholds the answer from the page).
func (p originPolicy) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !underAPI(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		origin, allowed := p.crossOrigin(r)
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		if origin != "" {
			w.Header().Add("Vary", "Origin")
		}
		switch {
		case preflight && !allowed:
			signaling.WriteError(w, http.StatusForbidden, signaling.CodeOriginNotAllowed,
				"pages from "+origin+" may not call this API (see -allowed-origins)")
			return
		case preflight:
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", "GET, POST")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Auth-Token")
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		case allowed:
			w.Header().Set("Access-Control-Allow-Origin", origin)
		}
		next.ServeHTTP(w, r)
	})
}
