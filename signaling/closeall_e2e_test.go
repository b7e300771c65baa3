package signaling_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/sanctuary-sfu/sanctuary/auth"
	"github.com/sanctuary-sfu/sanctuary/cmd/sanctuary-bots/bots"
	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// eventsOf returns the events of kind among msgs, in order.
func eventsOf(msgs []map[string]any, kind string) []map[string]any {
	var out []map[string]any
	for _, m := range msgs {
		if m["type"] == signaling.TypeEvent && m["event"] == kind {
			out = append(out, m)
		}
	}
	return out
}

// waitEvent waits until ctl has received n events of kind and returns
// them.
func waitEvent(ctx context.Context, t *testing.T, ctl *controller, kind string, n int) []map[string]any {
	t.Helper()
	var evs []map[string]any
	defer func() {
		if t.Failed() {
			for _, m := range ctl.seen() {
				if m["type"] == signaling.TypeEvent {
					t.Logf("seen: %v", m)
				}
			}
		}
	}()
	eventually(ctx, t, kind, func() bool {
		evs = eventsOf(ctl.seen(), kind)
		return len(evs) >= n
	})
	return evs
}

// "Close all rooms in N s" is counted by the server: the countdown is
// announced to everyone with its deadline, is in the welcome snapshot of
// who joins during it, can be cancelled, and closes the rooms at the
// deadline even when the host who asked for it has left: the participants
// get the event and hear each other in the main room.
func TestE2ECloseAllCountdownOutlivesTheHost(t *testing.T) {
	if testing.Short() {
		t.Skip("media end-to-end test")
	}
	h := newHarness(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const session = "countdown"

	host, hctl := h.dialAs(ctx, session, 100, auth.RoleHost, false)
	p0, c0 := h.dialAs(ctx, session, 0, auth.RoleParticipant, true)
	p1, c1 := h.dialAs(ctx, session, 1, auth.RoleParticipant, true)
	ps := []*bots.Bot{p0, p1}
	waitConnected(ctx, t, host, p0, p1)
	hctl.must(map[string]any{"type": signaling.CmdCreateBreakouts, "count": 2})
	at := hctl.must(map[string]any{"type": signaling.CmdAssign, "mode": "balanced"})
	room := h.roomsOf(session, ps)
	if room[0] == room[1] || room[0] == rooms.MainRoom || room[1] == rooms.MainRoom {
		t.Fatalf("rooms after assign: %v", room)
	}
	audiences(ps, room, at) // each alone in its room: hearing the other is a foreign packet

	// Bad delays, a delay on one room, and participants are refused.
	for _, c := range []struct {
		who  *controller
		cmd  map[string]any
		code string
	}{
		{hctl, map[string]any{"type": signaling.CmdCloseBreakouts, "delaySec": -1}, signaling.CodeInvalid},
		{hctl, map[string]any{"type": signaling.CmdCloseBreakouts, "delaySec": 3601}, signaling.CodeInvalid},
		{hctl, map[string]any{"type": signaling.CmdCloseBreakouts, "delaySec": 1e12}, signaling.CodeInvalid}, // no overflow to a short delay
		{hctl, map[string]any{"type": signaling.CmdCloseBreakouts, "delaySec": 1e20}, signaling.CodeBadMessage},
		{hctl, map[string]any{"type": signaling.CmdCloseBreakouts, "room": room[0], "delaySec": 5}, signaling.CodeInvalid},
		{hctl, map[string]any{"type": signaling.CmdCancelClose}, signaling.CodeNotFound},
		{c0, map[string]any{"type": signaling.CmdCloseBreakouts, "delaySec": 30}, signaling.CodeForbidden},
		{c0, map[string]any{"type": signaling.CmdCancelClose}, signaling.CodeForbidden},
	} {
		if m := c.who.do(c.cmd); m["code"] != c.code {
			t.Errorf("%v: %v, want code %s", c.cmd, m, c.code)
		}
	}
	if snap, _ := h.srv.Hub().Snapshot(session); !snap.ClosingAt.IsZero() || len(snap.Rooms) != 2 {
		t.Fatalf("refusals changed the session: closingAt %v, %d rooms", snap.ClosingAt, len(snap.Rooms))
	}

	// An hour's countdown: everyone is told the deadline.
	before := time.Now()
	hctl.must(map[string]any{"type": signaling.CmdCloseBreakouts, "delaySec": 3600})
	after := time.Now()
	closing := waitEvent(ctx, t, c0, signaling.EventBreakoutsClosing, 1)[0]
	deadline := int64(closing["closingAt"].(float64))
	if deadline < before.Add(time.Hour).UnixMilli()-1 || deadline > after.Add(time.Hour).UnixMilli() || closing["actor"] != host.ParticipantID() {
		t.Fatalf("closing event %v: want closingAt in [%d, %d] and the host as actor",
			closing, before.Add(time.Hour).UnixMilli(), after.Add(time.Hour).UnixMilli())
	}
	waitEvent(ctx, t, c1, signaling.EventBreakoutsClosing, 1)

	// Who joins during the countdown finds the deadline in its welcome.
	_, c2 := h.dialAs(ctx, session, 2, auth.RoleParticipant, false)
	var welcome signaling.Welcome
	for _, m := range c2.seen() {
		if m["type"] == signaling.TypeWelcome {
			raw, _ := json.Marshal(m)
			if err := json.Unmarshal(raw, &welcome); err != nil {
				t.Fatal(err)
			}
		}
	}
	if welcome.Snapshot.ClosingAt != deadline || len(welcome.Snapshot.Rooms) != 2 {
		t.Fatalf("welcome snapshot: closingAt %d, %d rooms; want %d, 2", welcome.Snapshot.ClosingAt, len(welcome.Snapshot.Rooms), deadline)
	}

	// Cancelled: everyone is told, the rooms stay.
	hctl.must(map[string]any{"type": signaling.CmdCancelClose})
	for _, c := range []*controller{c0, c1, c2} {
		if ev := waitEvent(ctx, t, c, signaling.EventClosingCancelled, 1)[0]; ev["actor"] != host.ParticipantID() || ev["closingAt"] != nil {
			t.Errorf("cancel event = %v", ev)
		}
	}
	if snap, _ := h.srv.Hub().Snapshot(session); !snap.ClosingAt.IsZero() || len(snap.Rooms) != 2 {
		t.Fatalf("after cancel: closingAt %v, %d rooms", snap.ClosingAt, len(snap.Rooms))
	}

	// A short countdown, and the host leaves at once: the server closes
	// the rooms at the deadline all the same.
	hctl.must(map[string]any{"type": signaling.CmdCloseBreakouts, "delaySec": 2})
	if err := host.Close(); err != nil {
		t.Logf("host close: %v", err)
	}
	for _, b := range ps {
		b.SetAudience(nil) // the close may come any moment now
	}
	for _, c := range []struct {
		ctl      *controller
		closings int // c2 joined after the first countdown was announced
	}{{c0, 2}, {c1, 2}, {c2, 1}} {
		closed := waitEvent(ctx, t, c.ctl, signaling.EventBreakoutsClosed, 1)
		closings := eventsOf(c.ctl.seen(), signaling.EventBreakoutsClosing)
		if len(closings) != c.closings || len(closed) != 1 {
			t.Fatalf("%d closing and %d closed events, want %d and 1", len(closings), len(closed), c.closings)
		}
		last := closings[len(closings)-1]
		ev := closed[0]
		moves, _ := ev["moves"].([]any)
		if ev["actor"] != nil || len(ev["rooms"].([]any)) != 2 || len(moves) != 2 {
			t.Errorf("closed event = %v", ev)
		}
		if got := int64(ev["version"].(float64)); got <= int64(last["version"].(float64)) {
			t.Errorf("closed at version %d, not after the closing event %v", got, last)
		}
		if now := time.Now().UnixMilli(); now < int64(last["closingAt"].(float64)) {
			t.Errorf("rooms closed by %d, before the deadline %v", now, last["closingAt"])
		}
	}
	if got := h.roomsOf(session, ps); got[0] != rooms.MainRoom || got[1] != rooms.MainRoom {
		t.Fatalf("rooms after the deadline: %v", got)
	}
	if snap, _ := h.srv.Hub().Snapshot(session); !snap.ClosingAt.IsZero() || len(snap.Rooms) != 0 {
		t.Fatalf("after the deadline: closingAt %v, %d rooms", snap.ClosingAt, len(snap.Rooms))
	}
	// Routed back: they hear each other in the main room.
	hearsAllSince(ctx, t, p0, []int{1}, "p0 hears p1 in the main room")
	hearsAllSince(ctx, t, p1, []int{0}, "p1 hears p0 in the main room")
	for _, b := range ps {
		if st := b.Stats(); st.Foreign != 0 || st.Renegotiations != 0 {
			t.Errorf("bot %d: %d foreign packets, %d renegotiations", b.Index(), st.Foreign, st.Renegotiations)
		}
	}
}

// The REST API schedules and cancels a close of all rooms as the websocket
// does, and its snapshot carries the deadline.
func TestRESTCloseAllCountdown(t *testing.T) {
	h := newHarness(t, 3, nil)
	const session = "rest-countdown"
	base := h.apiURL() + session
	if _, err := h.srv.Hub().Join(session, rooms.Identity{UserID: "host", Role: rooms.RoleHost}); err != nil {
		t.Fatal(err)
	}
	backend := h.token("backend", auth.RoleHost, session, time.Hour)
	if st, m := restCall(t, "POST", base+"/breakouts/close", backend, `{"delaySec":60}`); st != http.StatusNotFound || m["code"] != signaling.CodeNotFound {
		t.Errorf("a countdown with no room open: %d %v", st, m)
	}
	if st, m := restCall(t, "POST", base+"/breakouts", backend, `{"count":1}`); st != http.StatusOK {
		t.Fatalf("create: %d %v", st, m)
	}
	if st, m := restCall(t, "POST", base+"/breakouts/close", backend, `{"delaySec":3601}`); st != http.StatusBadRequest || m["code"] != signaling.CodeInvalid {
		t.Errorf("delay over an hour: %d %v", st, m)
	}
	if st, m := restCall(t, "POST", base+"/breakouts/close", backend, `{"delaySec":60}`); st != http.StatusOK {
		t.Fatalf("schedule: %d %v", st, m)
	}
	_, snap := restCall(t, "GET", base, backend, "")
	want, _ := h.srv.Hub().Snapshot(session)
	if got, _ := snap["closingAt"].(float64); want.ClosingAt.IsZero() || int64(got) != want.ClosingAt.UnixMilli() {
		t.Fatalf("snapshot closingAt %v, hub %v", snap["closingAt"], want.ClosingAt)
	}
	if st, m := restCall(t, "POST", base+"/breakouts/close/cancel", backend, ""); st != http.StatusOK {
		t.Fatalf("cancel: %d %v", st, m)
	}
	if _, snap := restCall(t, "GET", base, backend, ""); snap["closingAt"] != float64(0) || len(snap["rooms"].([]any)) != 1 {
		t.Errorf("after cancel: %v", snap)
	}
}
