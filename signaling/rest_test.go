package signaling_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sanctuary-sfu/sanctuary/auth"
	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// restCall is one HTTP request to the REST API and its decoded answer.
func restCall(t *testing.T, method, url, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// The session REST API runs the same commands as the websocket, with the
// same permission table, and the Agora token follows a participant moved to
// a breakout room.
func TestRESTCommandsAndAgoraChannelAfterAMove(t *testing.T) {
	h := newHarness(t, 3, nil)
	mux := http.NewServeMux()
	api := h.srv.APIHandler()
	mux.Handle("/api/v1/sessions/", api)
	mux.Handle("POST /api/v1/agora/token", h.srv.AgoraTokenHandler(&signaling.AgoraConfig{Credentials: testCreds}))
	hs := httptest.NewServer(mux)
	defer hs.Close()
	const session = "rest"
	base := hs.URL + "/api/v1/sessions/" + session
	hub := h.srv.Hub()
	if _, err := hub.Join(session, rooms.Identity{UserID: "host", Role: rooms.RoleHost}); err != nil {
		t.Fatal(err)
	}
	p1, err := hub.Join(session, rooms.Identity{UserID: "p1"})
	if err != nil {
		t.Fatal(err)
	}
	hostTok := h.token("host", auth.RoleHost, session, time.Hour)
	p1Tok := h.token("p1", auth.RoleParticipant, session, time.Hour)
	backend := h.token("backend", auth.RoleHost, session, time.Hour)   // an integration, no record
	unscoped := h.token("backend", auth.RoleHost, "", time.Hour)       // not scoped to the session
	elsewhere := h.token("backend", auth.RoleHost, "other", time.Hour) // scoped to another session
	agoraChannel := func() string {
		st, m := restCall(t, "POST", hs.URL+"/api/v1/agora/token", p1Tok, `{"format":"007"}`)
		if st != http.StatusOK {
			t.Fatalf("agora token: %d %v", st, m)
		}
		return m["channel"].(string)
	}

	for _, c := range []struct {
		name, token, body string
		status            int
		code              string
	}{
		{"no token", "", `{"count":2}`, http.StatusUnauthorized, signaling.CodeUnauthorized},
		{"participant", p1Tok, `{"count":2}`, http.StatusForbidden, signaling.CodeForbidden},
		{"unscoped integration", unscoped, `{"count":2}`, http.StatusForbidden, signaling.CodeNotAMember},
		{"integration of another session", elsewhere, `{"count":2}`, http.StatusForbidden, signaling.CodeWrongSession},
		{"bad body", backend, `{"count":"two"}`, http.StatusBadRequest, signaling.CodeBadRequest},
		{"no rooms", backend, `{}`, http.StatusBadRequest, signaling.CodeInvalid},
	} {
		st, m := restCall(t, "POST", base+"/breakouts", c.token, c.body)
		if st != c.status || m["code"] != c.code {
			t.Errorf("%s: %d %v, want %d %s", c.name, st, m, c.status, c.code)
		}
		if c.code == signaling.CodeForbidden && !strings.Contains(m["message"].(string), string(rooms.ActionCreateBreakouts)) {
			t.Errorf("%s: forbidden does not name the action: %v", c.name, m)
		}
	}

	if st, m := restCall(t, "POST", base+"/breakouts", backend, `{"count":2}`); st != http.StatusOK || m["version"] == nil {
		t.Fatalf("an integration with a host token creating rooms: %d %v", st, m)
	}
	st, snap := restCall(t, "GET", base, hostTok, "")
	roomsList, _ := snap["rooms"].([]any)
	if st != http.StatusOK || len(roomsList) != 2 {
		t.Fatalf("snapshot: %d, %d rooms", st, len(roomsList))
	}
	room := roomsList[0].(map[string]any)["id"].(string)

	if ch := agoraChannel(); ch != signaling.AgoraChannel(session, rooms.MainRoom) {
		t.Errorf("channel in the main room = %q", ch)
	}
	if st, m := restCall(t, "POST", base+"/participants/"+p1.Participant.ID+"/move", hostTok, `{"room":"r-nope"}`); st != http.StatusNotFound || m["code"] != signaling.CodeNotFound {
		t.Errorf("move to an unknown room: %d %v", st, m)
	}
	if st, m := restCall(t, "POST", base+"/participants/"+p1.Participant.ID+"/move", hostTok, `{"room":"`+room+`"}`); st != http.StatusOK {
		t.Fatalf("move: %d %v", st, m)
	}
	if ch := agoraChannel(); ch != signaling.AgoraChannel(session, room) || ch == session {
		t.Errorf("channel after the move = %q, want %q", ch, signaling.AgoraChannel(session, room))
	}

	// Statistics are for staff and the host's integration.
	if st, m := restCall(t, "GET", base+"/stats", p1Tok, ""); st != http.StatusForbidden || m["code"] != signaling.CodeForbidden {
		t.Errorf("a participant reading the statistics: %d %v", st, m)
	}
	if st, m := restCall(t, "GET", base+"/stats", hostTok, ""); st != http.StatusOK || m["moves"] != float64(1) {
		t.Errorf("the host reading the statistics: %d %v", st, m)
	}
	if st, m := restCall(t, "POST", base+"/end", p1Tok, ""); st != http.StatusForbidden {
		t.Errorf("a participant ending the session: %d %v", st, m)
	}
	if st, m := restCall(t, "POST", base+"/end", hostTok, ""); st != http.StatusOK {
		t.Fatalf("end: %d %v", st, m)
	}
	if st, m := restCall(t, "POST", base+"/breakouts", backend, `{"count":1}`); st != http.StatusGone || m["code"] != signaling.CodeSessionEnded {
		t.Errorf("a command after the end: %d %v", st, m)
	}
	st, stats := restCall(t, "GET", base+"/stats", backend, "")
	if st != http.StatusOK || stats["breakoutsCreated"] != float64(2) || stats["ended"] == float64(0) {
		t.Errorf("stats after the end: %d %v", st, stats)
	}
}

// Planned rooms open with their members in one command, over REST as over
// the websocket: the answer's version is the one after the moves.
func TestCreateBreakoutsWithMembersOverREST(t *testing.T) {
	h := newHarness(t, 3, nil)
	base := h.apiURL() + "plan"
	hub := h.srv.Hub()
	if _, err := hub.Join("plan", rooms.Identity{UserID: "host", Role: rooms.RoleHost}); err != nil {
		t.Fatal(err)
	}
	p1, err := hub.Join("plan", rooms.Identity{UserID: "p1"})
	if err != nil {
		t.Fatal(err)
	}
	hostTok := h.token("host", auth.RoleHost, "plan", time.Hour)
	body := `{"rooms": [{"name": "Grief", "members": ["` + p1.Participant.ID + `"]}, {"name": "Sleep"}]}`
	st, m := restCall(t, "POST", base+"/breakouts", hostTok, body)
	if st != http.StatusOK {
		t.Fatalf("create with members: %d %v", st, m)
	}
	snap, err := hub.Snapshot("plan")
	if err != nil {
		t.Fatal(err)
	}
	if m["version"] != float64(snap.Version) || len(snap.Rooms) != 2 {
		t.Fatalf("answer version %v, snapshot version %d with %d rooms", m["version"], snap.Version, len(snap.Rooms))
	}
	for _, p := range snap.Participants {
		if p.ID == p1.Participant.ID && p.Room != snap.Rooms[0].ID {
			t.Errorf("p1 is in %q, want Grief (%s)", p.Room, snap.Rooms[0].ID)
		}
	}
	if st, m := restCall(t, "POST", base+"/breakouts", hostTok, `{"rooms": [{"members": ["p-nobody"]}]}`); st != http.StatusNotFound {
		t.Errorf("a plan naming nobody known: %d %v", st, m)
	}
}
