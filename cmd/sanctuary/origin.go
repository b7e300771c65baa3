package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// originPolicy decides which browser origins may open the signaling
// websocket. Tokens, not cookies, authenticate, so the check is defence in
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
