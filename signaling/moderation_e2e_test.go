package signaling_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sanctuary-sfu/sanctuary/auth"
	"github.com/sanctuary-sfu/sanctuary/cmd/sanctuary-bots/bots"
	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// quiet checks that over a stretch of live audio nobody in ears receives a
// packet that src sent after since, while they keep hearing keep.
func quiet(ctx context.Context, t *testing.T, ears []*bots.Bot, src int, keep int, what string) {
	t.Helper()
	for _, b := range ears {
		hearsAllSince(ctx, t, b, []int{keep}, what+": still hears the others")
	}
	for _, b := range ears {
		if st := b.Stats(); st.Foreign != 0 {
			t.Errorf("%s: bot %d received %d packets it must not (from bot %d or elsewhere)", what, b.Index(), st.Foreign, src)
		}
	}
}

// A moderator's mute and removal take effect from the next packet, by the
// bots' own recognition; the muted person is heard again when unmuted; a
// removed user cannot come back; deafening silences one's own slots; and an
// emergency alert reaches the host while the host visits a breakout room,
// with who raised it and from where, and only the fact of it reaches others.
func TestE2EModeration(t *testing.T) {
	if testing.Short() {
		t.Skip("media end-to-end test")
	}
	h := newHarness(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const session = "moderation"

	host, hostCtl := h.dialAs(ctx, session, 10, auth.RoleHost, false)
	mod, modCtl := h.dialAs(ctx, session, 11, auth.RoleModerator, false)
	a, _ := h.dialAs(ctx, session, 0, auth.RoleParticipant, true)
	b, bCtl := h.dialAs(ctx, session, 1, auth.RoleParticipant, true)
	c, cCtl := h.dialAs(ctx, session, 2, auth.RoleParticipant, false)
	all := []*bots.Bot{host, mod, a, b, c}
	waitConnected(ctx, t, all...)
	listeners := []*bots.Bot{host, mod, b, c}
	hearsAllSince(ctx, t, c, []int{0, 1}, "c hears a and b")

	// Mute a: from the acknowledgement on, nobody gets a packet a sends.
	at := modCtl.must(map[string]any{"type": signaling.CmdMute, "participantId": a.ParticipantID(), "enabled": true})
	for _, l := range listeners {
		l.SetAudienceFrom(others(l.Index(), 1), at)
	}
	quiet(ctx, t, []*bots.Bot{host, mod, c}, 0, 1, "after the mute")
	if m := cCtl.do(map[string]any{"type": signaling.CmdMute, "participantId": b.ParticipantID(), "enabled": true}); m["code"] != signaling.CodeForbidden ||
		!strings.Contains(m["message"].(string), string(rooms.ActionMuteOthers)) {
		t.Errorf("a participant muting someone: %v, want forbidden naming %s", m, rooms.ActionMuteOthers)
	}

	// Unmute: a is heard again.
	for _, l := range listeners {
		l.SetAudience(nil)
	}
	at = modCtl.must(map[string]any{"type": signaling.CmdMute, "participantId": a.ParticipantID(), "enabled": false})
	for _, l := range listeners {
		l.SetAudienceFrom(others(l.Index(), 0, 1), at)
	}
	hearsAllSince(ctx, t, c, []int{0, 1}, "c hears a again after the unmute")

	// Remove a: a is told, its socket closes, nobody hears it, and it
	// cannot join again.
	at = modCtl.must(map[string]any{"type": signaling.CmdRemove, "participantId": a.ParticipantID(), "reason": "test"})
	for _, l := range listeners {
		l.SetAudienceFrom(others(l.Index(), 1), at)
	}
	select {
	case <-a.Done():
	case <-ctx.Done():
		t.Fatal("the removed participant's socket stayed open")
	}
	quiet(ctx, t, []*bots.Bot{host, mod, c}, 0, 1, "after the removal")
	_, err := h.dialUser(ctx, session, "participant-0", 0, false, 127)
	var se *bots.ServerError
	if !errors.As(err, &se) || se.Code != signaling.CodeRemoved {
		t.Errorf("the removed user joined again: %v, want error %s", err, signaling.CodeRemoved)
	}

	// c deafens itself: its slots go silent.
	at = cCtl.must(map[string]any{"type": signaling.CmdDeafen, "enabled": true})
	c.SetAudienceFrom([]int{}, at)
	bSent := b.Stats().Sent
	eventually(ctx, t, "b speaks on", func() bool { return b.Stats().Sent > bSent+15 }) // 300 ms of speech
	if st := c.Stats(); st.Foreign != 0 {
		t.Errorf("a deafened participant received %d packets", st.Foreign)
	}

	// The host visits a breakout room; b raises an alert from the main room.
	hostCtl.must(map[string]any{"type": signaling.CmdCreateBreakouts, "count": 1})
	snap, _ := h.srv.Hub().Snapshot(session)
	breakout := snap.Rooms[0].ID
	hostCtl.must(map[string]any{"type": signaling.CmdMove, "room": breakout})
	bCtl.must(map[string]any{"type": signaling.CmdAlert, "message": "please help"})
	alert := func(ctl *controller) map[string]any {
		for _, m := range ctl.seen() {
			if m["type"] == signaling.TypeEvent && m["event"] == signaling.EventAlert {
				return m
			}
		}
		return nil
	}
	eventually(ctx, t, "the visiting host gets the alert", func() bool { return alert(hostCtl) != nil })
	got := alert(hostCtl)
	p, _ := got["participant"].(map[string]any)
	if p["id"] != b.ParticipantID() || got["room"] != rooms.MainRoom || got["message"] != "please help" {
		t.Errorf("host's alert = %v, want from %s in main with the message", got, b.ParticipantID())
	}
	eventually(ctx, t, "the moderator gets the alert", func() bool { return alert(modCtl) != nil })
	eventually(ctx, t, "a participant sees the version move on", func() bool { return alert(cCtl) != nil })
	if m := alert(cCtl); m["participant"] != nil || m["message"] != nil || m["room"] != nil {
		t.Errorf("a participant saw the alert's details: %v", m)
	}
	if r := h.roomsOf(session, []*bots.Bot{host})[host.Index()]; r != breakout {
		t.Errorf("host is in %q after the alert, want still visiting %q", r, breakout)
	}
	if pp, _ := h.srv.Hub().Participant(session, host.ParticipantID()); pp.Role != rooms.RoleHost {
		t.Errorf("host's role after a visit: %q", pp.Role)
	}
}

// others returns the indices in want other than self: an expected audience.
func others(self int, want ...int) []int {
	out := []int{}
	for _, w := range want {
		if w != self {
			out = append(out, w)
		}
	}
	return out
}

// A breakout room with a duration warns before its end and closes itself;
// its members are back in the main room.
func TestE2EBreakoutTimers(t *testing.T) {
	if testing.Short() {
		t.Skip("media end-to-end test")
	}
	h := newHarness(t, 3, func(c *signaling.Config) {
		c.WarnBefore = time.Second
		c.TickInterval = 50 * time.Millisecond
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const session = "timers"
	_, hostCtl := h.dialAs(ctx, session, 10, auth.RoleHost, false)
	p, pCtl := h.dialAs(ctx, session, 0, auth.RoleParticipant, false)

	hostCtl.must(map[string]any{"type": signaling.CmdCreateBreakouts, "rooms": []map[string]any{{"name": "Short", "durationSec": 2}}})
	hostCtl.must(map[string]any{"type": signaling.CmdAssign, "mode": "balanced"})
	if r := h.roomsOf(session, []*bots.Bot{p})[p.Index()]; r == rooms.MainRoom {
		t.Fatal("the participant was not assigned to the breakout")
	}
	kinds := func() []string {
		var out []string
		for _, m := range pCtl.seen() {
			if m["type"] == signaling.TypeEvent {
				out = append(out, m["event"].(string))
			}
		}
		return out
	}
	eventually(ctx, t, "the room warns and closes itself", func() bool {
		k := kinds()
		return indexOf(k, signaling.EventBreakoutsWarning) >= 0 && indexOf(k, signaling.EventBreakoutsClosed) > indexOf(k, signaling.EventBreakoutsWarning)
	})
	if r := h.roomsOf(session, []*bots.Bot{p})[p.Index()]; r != rooms.MainRoom {
		t.Errorf("after the room closed itself the participant is in %q", r)
	}
	if n := strings.Count(strings.Join(kinds(), " "), signaling.EventBreakoutsWarning); n != 1 {
		t.Errorf("%d warnings, want 1", n)
	}
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}
