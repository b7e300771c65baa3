package main

import (
	"net/http"
	"strings"
	"time"

	"github.com/sanctuary-sfu/sanctuary/auth"
)

// devTokenTTL is how long a dev token lives: long enough for a day of
// trying things in the browser.
const devTokenTTL = 12 * time.Hour

// maxDevParam bounds each query parameter of /dev/token (characters).
const maxDevParam = 128

// registerDevToken serves GET /dev/token in dev mode only, so the web client
// can join without an invitation link. secret is the dev secret printed by
// printDevHelp ("" when the operator gave -jwt-secret, which is then used).
// Outside dev mode, or with only a public key (nothing to sign with), it
// registers nothing and the path is the web client's 404.
func registerDevToken(rt *router, cfg config, secret string) {
	if secret == "" {
		secret = cfg.jwtSecret
	}
	if !cfg.dev || secret == "" {
		return
	}
	rt.handle("GET /dev/token", devTokenHandler([]byte(secret), cfg.jwtIssuer, cfg.jwtAudience))
}

// devTokenHandler answers GET /dev/token?session=S&role=host|moderator|participant&user=U
// with {"token": JWT} minted with secret (and iss/aud when the server
// requires them), or 400 {"code": "bad_request", "message"} when session or
// user is missing, too long, or the role is unknown. Without any parameter
// it answers {"dev": true}: the web client probes the path to learn whether
// dev mode is on (outside dev mode the path is the web client's 404).
func devTokenHandler(secret []byte, issuer, audience string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		q := r.URL.Query()
		if len(q) == 0 {
			// The web client's probe: dev mode is on.
			writeJSON(w, http.StatusOK, map[string]any{"dev": true})
			return
		}
		session, user := strings.TrimSpace(q.Get("session")), strings.TrimSpace(q.Get("user"))
		role := q.Get("role")
		if role == "" {
			role = auth.RoleParticipant
		}
		if session == "" || user == "" || len(session) > maxDevParam || len(user) > maxDevParam || len(role) > maxDevParam {
			writeJSON(w, http.StatusBadRequest, map[string]string{
				"code": "bad_request", "message": "session and user are required (at most 128 characters each)",
			})
			return
		}
		token, err := auth.Mint(secret, auth.MintOptions{
			UserID: user, Role: role, Session: session, TTL: devTokenTTL, Issuer: issuer, Audience: audience,
		})
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"code": "bad_request", "message": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"token": token})
	})
}
