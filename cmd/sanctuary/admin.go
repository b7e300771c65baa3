package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/sfu"
	"github.com/sanctuary-sfu/sanctuary/signaling"
	"github.com/sanctuary-sfu/sanctuary/signaling/webhook"
)

// maxOpenAlerts bounds the alerts the operator's view keeps: beyond it the
// oldest go (a flood cannot grow memory).
const maxOpenAlerts = 1000

// alerts are the emergency alerts not yet dismissed by an operator, fed
// from the session events. An ended session's alerts go with it.
type alerts struct {
	mu   sync.Mutex
	seq  uint64
	open []alert // in the order raised
}

type alert struct {
	ID          string    `json:"id"` // "a-" and a number, unique in this process
	Session     string    `json:"session"`
	Room        string    `json:"room"`     // "main" or a breakout room id
	RoomName    string    `json:"roomName"` // "Main room" or the breakout's name, when it is still open
	Participant string    `json:"participant"`
	Alias       string    `json:"alias"`
	Raised      time.Time `json:"raised"`
}

// onEvent is a signaling.Config.OnEvent: cheap, under the session's lock.
func (a *alerts) onEvent(ev rooms.Event) {
	switch ev.Kind {
	case rooms.EventAlert:
		a.mu.Lock()
		defer a.mu.Unlock()
		a.seq++
		if len(a.open) == maxOpenAlerts {
			a.open = a.open[1:]
		}
		a.open = append(a.open, alert{ID: "a-" + strconv.FormatUint(a.seq, 10), Session: ev.Session, Room: ev.Room,
			Participant: ev.Participant.ID, Alias: ev.Participant.Alias, Raised: time.Now().UTC()})
	case rooms.EventSessionEnded:
		a.dropSession(ev.Session)
	}
}

// dropSession drops the alerts of a session that is over.
func (a *alerts) dropSession(session string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.open = slices.DeleteFunc(a.open, func(x alert) bool { return x.Session == session })
}

// onExpire is told of a session deleted while idle (signaling.Config
// OnExpire): its alerts go, as at its end, and the webhooks, if any, send
// its session.ended.
func onExpire(al *alerts, hooks *webhook.Dispatcher) func(rooms.SessionStats) {
	return func(st rooms.SessionStats) {
		al.dropSession(st.Session)
		if hooks != nil {
			hooks.OnExpire(st)
		}
	}
}

func (a *alerts) list() []alert {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]alert{}, a.open...) // [] in JSON, never null
}

// dismiss removes alert id; false when there is none.
func (a *alerts) dismiss(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := len(a.open)
	a.open = slices.DeleteFunc(a.open, func(x alert) bool { return x.ID == id })
	return len(a.open) < n
}

// adminAPI is the operator's JSON API under /api/v1/admin/, behind the
// admin token. It shows counts, rooms and alerts: no user ids, no chat.
type adminAPI struct {
	token  []byte // sha256 of -admin-token; nil: the API answers 404 admin_disabled
	hub    *rooms.Hub
	engine *sfu.Engine
	alerts *alerts
	sig    *signaling.Server
}

func newAdminAPI(token string, sig *signaling.Server, engine *sfu.Engine, al *alerts) *adminAPI {
	a := &adminAPI{hub: sig.Hub(), engine: engine, alerts: al, sig: sig}
	if token != "" {
		h := sha256.Sum256([]byte(token))
		a.token = h[:]
	}
	return a
}

func (a *adminAPI) routes(rt *router) {
	rt.handle("GET /api/v1/admin/overview", a.guard(a.overview))
	rt.handle("POST /api/v1/admin/sessions/{session}/end", a.guard(a.endSession))
	rt.handle("POST /api/v1/admin/alerts/{id}/dismiss", a.guard(a.dismiss))
}

// guard lets through requests with Authorization: Bearer <admin token>
// (compared in constant time).
func (a *adminAPI) guard(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.token == nil {
			signaling.WriteError(w, http.StatusNotFound, signaling.CodeAdminDisabled, "this server has no -admin-token")
			return
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || tok == "" {
			signaling.WriteError(w, http.StatusUnauthorized, signaling.CodeUnauthorized, "Authorization: Bearer <admin token> is required")
			return
		}
		sum := sha256.Sum256([]byte(tok))
		if subtle.ConstantTimeCompare(sum[:], a.token) != 1 {
			signaling.WriteError(w, http.StatusUnauthorized, signaling.CodeTokenInvalid, "not the admin token")
			return
		}
		h(w, r)
	})
}

type adminRoom struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Participants int    `json:"participants"`
}

type adminSession struct {
	ID           string      `json:"id"`
	Participants int         `json:"participants"`
	Rooms        []adminRoom `json:"rooms"` // the main room first, then the open breakouts
	Alerts       int         `json:"alerts"`
	Created      time.Time   `json:"created"`
	Version      uint64      `json:"version"`
	// The session's media counters on this node (the page turns them
	// into rates); 0 when nobody holds the session here.
	PacketsReceived  uint64 `json:"packetsReceived"`
	PacketsForwarded uint64 `json:"packetsForwarded"`
}

// overview: the live (not ended) sessions with their counts, the server's
// media counters (the page turns them into rates), and the open alerts.
func (a *adminAPI) overview(w http.ResponseWriter, _ *http.Request) {
	open := a.alerts.list()
	perSession := map[string]int{}
	for _, al := range open {
		perSession[al.Session]++
	}
	sessions := []adminSession{}
	roomNames := map[string]map[string]string{} // session → room id → name
	for _, id := range a.hub.SessionIDs() {
		snap, err := a.hub.Snapshot(id)
		if err != nil || snap.Ended {
			continue
		}
		s := adminSession{ID: id, Participants: len(snap.Participants), Alerts: perSession[id],
			Created: snap.Created.UTC(), Version: snap.Version}
		if m, ok := a.sig.SessionMedia(id); ok {
			s.PacketsReceived, s.PacketsForwarded = m.PacketsReceived, m.PacketsForwarded
		}
		names := map[string]string{rooms.MainRoom: "Main room"}
		count := map[string]int{}
		for _, p := range snap.Participants {
			count[p.Room]++
		}
		s.Rooms = append(s.Rooms, adminRoom{ID: rooms.MainRoom, Name: "Main room", Participants: count[rooms.MainRoom]})
		for _, r := range snap.Rooms {
			names[r.ID] = r.Name
			s.Rooms = append(s.Rooms, adminRoom{ID: r.ID, Name: r.Name, Participants: count[r.ID]})
		}
		roomNames[id] = names
		sessions = append(sessions, s)
	}
	for i := range open {
		open[i].RoomName = roomNames[open[i].Session][open[i].Room]
	}
	st := a.engine.Stats()
	writeJSON(w, http.StatusOK, map[string]any{
		"time":     time.Now().UnixMilli(),
		"sessions": sessions,
		"alerts":   open,
		"server": map[string]any{
			"sessions": len(sessions), "participants": a.hub.Participants(), "peerConnections": st.Peers,
			"packetsReceived": st.PacketsReceived, "packetsForwarded": st.PacketsForwarded,
		},
	})
}

// endSession ends a session for everyone, as an integration with the host
// role would.
func (a *adminAPI) endSession(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("session")
	v, err := a.hub.EndSession(id, rooms.Actor{Role: rooms.RoleHost})
	switch {
	case errors.Is(err, rooms.ErrNotFound):
		signaling.WriteError(w, http.StatusNotFound, signaling.CodeSessionNotFound, "no session "+id)
	case errors.Is(err, rooms.ErrEnded):
		signaling.WriteError(w, http.StatusConflict, signaling.CodeSessionEnded, "session "+id+" has ended already")
	case err != nil:
		signaling.WriteError(w, http.StatusInternalServerError, signaling.CodeInternal, "ending the session failed")
	default:
		writeJSON(w, http.StatusOK, map[string]any{"session": id, "version": v})
	}
}

func (a *adminAPI) dismiss(w http.ResponseWriter, r *http.Request) {
	if !a.alerts.dismiss(r.PathValue("id")) {
		signaling.WriteError(w, http.StatusNotFound, signaling.CodeNotFound, "no open alert "+r.PathValue("id"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"dismissed": r.PathValue("id")})
}
