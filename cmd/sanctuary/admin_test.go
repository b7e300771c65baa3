package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/signaling"
)

type overview struct {
	Sessions []adminSession `json:"sessions"`
	Alerts   []alert        `json:"alerts"`
	Server   struct {
		Sessions, Participants int
	} `json:"server"`
}

// TestAdminAPI: the operator's API needs the admin token; it shows live
// sessions with their counts and rooms and the open alerts with their
// room, no user id and no alert text; it ends a session and dismisses an
// alert.
func TestAdminAPI(t *testing.T) {
	off := startServer(t)
	resp, body := off.do(t, "GET", "/api/v1/admin/overview", http.Header{"Authorization": {"Bearer x"}}, nil)
	checkAPIError(t, resp, body, http.StatusNotFound, signaling.CodeAdminDisabled)

	ts := startServer(t, "-admin-token", "op-token")
	admin := http.Header{"Authorization": {"Bearer op-token"}}
	for _, h := range []http.Header{nil, {"Authorization": {"op-token"}}, {"X-Auth-Token": {"op-token"}}} {
		resp, body := ts.do(t, "GET", "/api/v1/admin/overview", h, nil)
		checkAPIError(t, resp, body, http.StatusUnauthorized, signaling.CodeUnauthorized)
	}
	resp, body = ts.do(t, "GET", "/api/v1/admin/overview", http.Header{"Authorization": {"Bearer op-tokem"}}, nil)
	checkAPIError(t, resp, body, http.StatusUnauthorized, signaling.CodeTokenInvalid)
	// A session's host token is not the admin token.
	resp, body = ts.do(t, "GET", "/api/v1/admin/overview", http.Header{"Authorization": {"Bearer " + token(t, "ad")}}, nil)
	checkAPIError(t, resp, body, http.StatusUnauthorized, signaling.CodeTokenInvalid)

	hub := ts.sig.Hub()
	join := func(user string, role rooms.Role) rooms.Participant {
		r, err := hub.Join("ad", rooms.Identity{UserID: user, Alias: "Alias" + strings.TrimPrefix(user, "user-"), Role: role})
		if err != nil {
			t.Fatal(err)
		}
		return r.Participant
	}
	host, p1 := join("user-host", rooms.RoleHost), join("user-1", rooms.RoleParticipant)
	join("user-2", rooms.RoleParticipant)
	rs, _, err := hub.CreateBreakouts("ad", rooms.Actor{ParticipantID: host.ID}, []rooms.RoomSpec{{Name: "Quiet corner"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hub.Move("ad", rooms.Actor{ParticipantID: host.ID}, p1.ID, rs[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := hub.Alert("ad", rooms.Actor{ParticipantID: p1.ID}, "private words"); err != nil {
		t.Fatal(err)
	}
	get := func() (overview, string) {
		resp, body := ts.do(t, "GET", "/api/v1/admin/overview", admin, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("overview: %d %s", resp.StatusCode, body)
		}
		var o overview
		if err := json.Unmarshal(body, &o); err != nil {
			t.Fatal(err)
		}
		return o, string(body)
	}
	o, raw := get()
	if strings.Contains(raw, "user-") || strings.Contains(raw, "private words") {
		t.Errorf("a user id or the alert's text in %s", raw)
	}
	if len(o.Sessions) != 1 || o.Sessions[0].ID != "ad" || o.Sessions[0].Participants != 3 || o.Sessions[0].Alerts != 1 ||
		len(o.Sessions[0].Rooms) != 2 || o.Sessions[0].Rooms[0].Participants != 2 ||
		o.Sessions[0].Rooms[1].Name != "Quiet corner" || o.Sessions[0].Rooms[1].Participants != 1 {
		t.Errorf("sessions %+v", o.Sessions)
	}
	if len(o.Alerts) != 1 || o.Alerts[0].Session != "ad" || o.Alerts[0].Room != rs[0].ID ||
		o.Alerts[0].RoomName != "Quiet corner" || o.Alerts[0].Alias != "Alias1" || o.Alerts[0].Participant != p1.ID {
		t.Errorf("alerts %+v", o.Alerts)
	}
	if o.Server.Sessions != 1 || o.Server.Participants != 3 {
		t.Errorf("server %+v", o.Server)
	}

	resp, body = ts.do(t, "POST", "/api/v1/admin/alerts/a-999/dismiss", admin, nil)
	checkAPIError(t, resp, body, http.StatusNotFound, signaling.CodeNotFound)
	resp, body = ts.do(t, "POST", "/api/v1/admin/alerts/"+o.Alerts[0].ID+"/dismiss", admin, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("dismiss: %d %s", resp.StatusCode, body)
	}
	if o, raw := get(); len(o.Alerts) != 0 || o.Sessions[0].Alerts != 0 || !strings.Contains(raw, `"alerts":[]`) {
		t.Errorf("after dismiss (no alert is [], not null): %s", raw)
	}

	if _, err := hub.Alert("ad", rooms.Actor{ParticipantID: p1.ID}, ""); err != nil {
		t.Fatal(err)
	}
	resp, body = ts.do(t, "POST", "/api/v1/admin/sessions/nope/end", admin, nil)
	checkAPIError(t, resp, body, http.StatusNotFound, signaling.CodeSessionNotFound)
	resp, body = ts.do(t, "POST", "/api/v1/admin/sessions/ad/end", admin, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("end: %d %s", resp.StatusCode, body)
	}
	resp, body = ts.do(t, "POST", "/api/v1/admin/sessions/ad/end", admin, nil)
	checkAPIError(t, resp, body, http.StatusConflict, signaling.CodeSessionEnded)
	if o, _ := get(); len(o.Sessions) != 0 || len(o.Alerts) != 0 {
		t.Errorf("after the end: %+v %+v", o.Sessions, o.Alerts)
	}
	if snap, err := hub.Snapshot("ad"); err != nil || !snap.Ended || len(snap.Participants) != 0 {
		t.Errorf("snapshot after the end: %+v %v", snap, err)
	}
}

// TestAdminPageServed: /admin/ is the operator's page, with no data in it.
func TestAdminPageServed(t *testing.T) {
	ts := startServer(t, "-admin-token", "op-token")
	resp, body := ts.do(t, "GET", "/admin/", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `id="login-form"`) {
		t.Errorf("/admin/: %d %s", resp.StatusCode, body)
	}
	resp, _ = ts.do(t, "GET", "/admin/admin.js", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/admin/admin.js: %d", resp.StatusCode)
	}
}
