package signaling

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sanctuary-sfu/sanctuary/auth"
	"github.com/sanctuary-sfu/sanctuary/rooms"
)

// maxCommandBodyBytes bounds a REST command body.
const maxCommandBodyBytes = 64 << 10

// APIHandler serves the session REST API under /api/v1/sessions/: the
// snapshot, statistics, and every session command of the websocket, with a
// Bearer JWT. The caller acts as its participant record when it has one in
// the session; otherwise (a server-side integration) as the role its token
// carries, and then the token must be scoped to that session.
func (s *Server) APIHandler() http.Handler {
	mux := http.NewServeMux()
	const base = "/api/v1/sessions/{session}"
	mux.HandleFunc("GET "+base, s.restSnapshot)
	mux.HandleFunc("GET "+base+"/stats", s.restStats)
	routes := []struct {
		path, cmd string
		pathParam func(r *http.Request, c *Command)
	}{
		{"/breakouts", CmdCreateBreakouts, nil},
		{"/breakouts/assign", CmdAssign, nil},
		{"/breakouts/selfselect", CmdSelfSelect, nil},
		{"/breakouts/close", CmdCloseBreakouts, nil},
		{"/breakouts/close/cancel", CmdCancelClose, nil},
		{"/breakouts/{room}/close", CmdCloseBreakouts, func(r *http.Request, c *Command) { c.Room = r.PathValue("room") }},
		{"/broadcast", CmdBroadcast, nil},
		{"/participants/{pid}/move", CmdMove, byPID},
		{"/participants/{pid}/mute", CmdMute, byPID},
		{"/participants/{pid}/unmute-request", CmdRequestUnmute, byPID},
		{"/participants/{pid}/remove", CmdRemove, byPID},
		{"/participants/{pid}/role", CmdSetRole, byPID},
		{"/participants/{pid}/hand", CmdHand, byPID},
		{"/end", CmdEndSession, nil},
	}
	for _, rt := range routes {
		mux.HandleFunc("POST "+base+rt.path, func(w http.ResponseWriter, r *http.Request) {
			s.restCommand(w, r, rt.cmd, rt.pathParam)
		})
	}
	return mux
}

func byPID(r *http.Request, c *Command) { c.ParticipantID = r.PathValue("pid") }

// restCommand runs one command for the bearer of r.
func (s *Server) restCommand(w http.ResponseWriter, r *http.Request, name string, pathParam func(*http.Request, *Command)) {
	session := r.PathValue("session")
	actor, err := s.restActor(r, session)
	if err != nil {
		s.writeAPIError(w, err, name)
		return
	}
	var c Command
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCommandBodyBytes))
	if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
		s.writeAPIError(w, apiErrorf(http.StatusRequestEntityTooLarge, CodeRequestTooLarge, "the body is over %d bytes", maxCommandBodyBytes), name)
		return
	}
	if err != nil {
		s.writeAPIError(w, apiErrorf(http.StatusBadRequest, CodeBadRequest, "the body could not be read: %v", err), name)
		return
	}
	if strings.TrimSpace(string(body)) != "" {
		if err := json.Unmarshal(body, &c); err != nil {
			s.writeAPIError(w, apiErrorf(http.StatusBadRequest, CodeBadRequest, "the body is not the JSON object expected: %v", err), name)
			return
		}
	}
	if pathParam != nil {
		pathParam(r, &c)
	}
	v, err := s.runCommand(name, session, actor, &c)
	if err != nil {
		s.writeAPIError(w, err, name)
		return
	}
	writeAPIJSON(w, http.StatusOK, map[string]uint64{"version": v})
}

func (s *Server) restSnapshot(w http.ResponseWriter, r *http.Request) {
	session := r.PathValue("session")
	if _, err := s.restActor(r, session); err != nil {
		s.writeAPIError(w, err, "snapshot")
		return
	}
	snap, err := s.hub.Snapshot(session)
	if err != nil {
		s.writeAPIError(w, err, "snapshot")
		return
	}
	writeAPIJSON(w, http.StatusOK, toWireSnapshot(snap))
}

func (s *Server) restStats(w http.ResponseWriter, r *http.Request) {
	session := r.PathValue("session")
	actor, err := s.restActor(r, session)
	if err != nil {
		s.writeAPIError(w, err, "stats")
		return
	}
	role := actor.Role
	if actor.ParticipantID != "" {
		p, err := s.hub.Participant(session, actor.ParticipantID)
		if err != nil {
			s.writeAPIError(w, err, "stats")
			return
		}
		role = p.Role
	}
	if err := rooms.Check(role, rooms.ActionViewStats); err != nil {
		s.writeAPIError(w, err, "stats")
		return
	}
	st, err := s.hub.Stats(session)
	if err != nil {
		s.writeAPIError(w, err, "stats")
		return
	}
	writeAPIJSON(w, http.StatusOK, map[string]any{
		"session": st.Session, "version": st.Version, "created": st.Created.Unix(), "ended": unixOrZero(st.Ended),
		"peakParticipants": st.PeakParticipants, "totalJoins": st.TotalJoins,
		"breakoutsCreated": st.BreakoutsCreated, "moves": st.Moves, "removals": st.Removals,
	})
}

// restActor authenticates r and says who it acts as in session.
func (s *Server) restActor(r *http.Request, session string) (rooms.Actor, error) {
	id, err := s.authenticate(r)
	if err != nil {
		return rooms.Actor{}, err
	}
	if id.Session != "" && id.Session != session {
		return rooms.Actor{}, apiErrorf(http.StatusForbidden, CodeWrongSession, "the token is for another session")
	}
	p, err := s.hub.ParticipantByUser(session, id.UserID)
	if err == nil {
		return rooms.Actor{ParticipantID: p.ID}, nil
	}
	if id.Session != session {
		return rooms.Actor{}, apiErrorf(http.StatusForbidden, CodeNotAMember,
			"you have no record in session %q; an integration needs a token scoped to the session", session)
	}
	return rooms.Actor{Role: rooms.ParseRole(id.Role)}, nil
}

// apiError is an error answer: an HTTP status and a JSON body.
type apiError struct {
	status        int
	code, message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func apiErrorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// writeAPIError writes err as a JSON error answer: an *apiError as it is,
// a command error by the one mapping of commandError, anything else as an
// internal error (logged).
func (s *Server) writeAPIError(w http.ResponseWriter, err error, what string) {
	e, ok := errors.AsType[*apiError](err)
	if !ok {
		code, status := commandError(err)
		if code == CodeInternal {
			s.log.Error("api", "request", what, "err", err)
			e = apiErrorf(status, code, "the server failed to do %s", what)
		} else {
			e = apiErrorf(status, code, "%s", publicMessage(err))
		}
	}
	switch e.status {
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", http.MethodPost)
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	WriteError(w, e.status, e.code, e.message)
}

// WriteError writes the JSON error answer {"code", "message"} with status:
// the one shape of every HTTP error answer of the server (codes from
// messages.go).
func WriteError(w http.ResponseWriter, status int, code, message string) {
	writeAPIJSON(w, status, apiErrorBody{Code: code, Message: message})
}

// requestToken is the JWT a request carries, or "".
func requestToken(r *http.Request) string {
	if header := strings.TrimSpace(r.Header.Get("Authorization")); header != "" {
		scheme, token, _ := strings.Cut(header, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return ""
		}
		return strings.TrimSpace(token)
	}
	return strings.TrimSpace(r.Header.Get("X-Auth-Token"))
}

// apiErrorBody is the JSON body of every error answer.
type apiErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// authenticate verifies the token of r: "Authorization: Bearer <jwt>", or
// the old product's "x-auth-token: <jwt>" (its frontend's calls work
// unchanged). With both, Authorization wins.
func (s *Server) authenticate(r *http.Request) (auth.Identity, error) {
	token := requestToken(r)
	if token == "" {
		return auth.Identity{}, apiErrorf(http.StatusUnauthorized, CodeUnauthorized,
			"send your token as Authorization: Bearer <token> (or x-auth-token: <token>)")
	}
	id, err := s.cfg.Verifier.Verify(token)
	if err != nil {
		code := CodeTokenInvalid
		if errors.Is(err, auth.ErrTokenExpired) {
			code = CodeTokenExpired
		}
		return auth.Identity{}, apiErrorf(http.StatusUnauthorized, code, "%v", err)
	}
	return id, nil
}

// writeAPIJSON writes v as the JSON answer with status. Answers carry
// credentials, so they are not to be cached.
func writeAPIJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // messages say <token>; tokens hold no HTML
	_ = enc.Encode(v)
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}
