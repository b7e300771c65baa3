package rooms

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// hears reports whether listener's audience holds source.
func (h *harness) hears(listener, source string) bool {
	h.t.Helper()
	_, aud := ok2(h.t)(h.hub.audiences("s"))
	return slices.Contains(aud[listener], source)
}

func TestMute(t *testing.T) {
	h := newHarness(t)
	hp, ps := h.crowd(3)
	mod := h.join("s", "mod", RoleModerator).Participant
	a := ps[0]

	v := h.version("s")
	ok(h.hub.SetMuted("s", actorOf(mod), a.ID, true))(t)
	want := ok(h.hub.Participant("s", a.ID))(t)
	if !want.Muted {
		t.Fatal("not muted")
	}
	if e := h.Last(); !reflect.DeepEqual(e, Event{Session: "s", Version: v + 1, Kind: EventUpdated, Participant: want, Change: ChangeMuted, Actor: mod.ID}) {
		t.Errorf("event = %+v", e)
	}
	_, aud := ok2(t)(h.hub.audiences("s"))
	for id, ids := range aud {
		if slices.Contains(ids, a.ID) {
			t.Errorf("%s hears the muted %s", id, a.ID)
		}
	}
	if len(aud[a.ID]) != 4 { // the muted still hears
		t.Errorf("muted hears %v", aud[a.ID])
	}
	if got := ok(h.hub.SetMuted("s", actorOf(hp), a.ID, true))(t); got != v+1 {
		t.Error("muting the muted was a change")
	}
	// The mute survives a takeover and a leave and rejoin.
	h.join("s", a.UserID, RoleParticipant)
	re := h.mustByUser("s", a.UserID)
	if err := h.hub.Leave("s", re.ID, re.Epoch); err != nil {
		t.Fatal(err)
	}
	if p := h.join("s", a.UserID, RoleParticipant).Participant; !p.Muted {
		t.Error("a rejoin lifted the mute")
	}
	h.setState("s", h.mustByUser("s", a.UserID), StateConnected)
	if h.hears(hp.ID, a.ID) {
		t.Error("the rejoined muted participant is heard")
	}
	ok(h.hub.SetMuted("s", Actor{Role: RoleModerator}, a.ID, false))(t)
	if !h.hears(hp.ID, a.ID) || !h.hears(ps[1].ID, a.ID) {
		t.Error("unmute did not restore")
	}

	_, err := h.hub.SetMuted("s", actorOf(mod), hp.ID, true)
	wantForbidden(t, err, ActionMuteOthers)
	_, err = h.hub.SetMuted("s", actorOf(ps[1]), a.ID, true)
	wantForbidden(t, err, ActionMuteOthers)
	_, err = h.hub.SetMuted("s", actorOf(ps[1]), ps[1].ID, true)
	wantForbidden(t, err, ActionMuteOthers)
	_, err = h.hub.SetMuted("s", actorOf(hp), "p-nobody", true)
	wantErr(t, err, ErrNotFound)
	// A host may mute the host (itself).
	ok(h.hub.SetMuted("s", actorOf(hp), hp.ID, true))(t)
}

func TestRequestUnmute(t *testing.T) {
	h := newHarness(t)
	hp, ps := h.crowd(2)
	v := h.version("s")
	ok(h.hub.RequestUnmute("s", actorOf(hp), ps[0].ID))(t)
	if e := h.Last(); !reflect.DeepEqual(e, Event{Session: "s", Version: v + 1, Kind: EventUnmuteRequested, Participant: ps[0], Actor: hp.ID}) {
		t.Errorf("event = %+v", e)
	}
	_, err := h.hub.RequestUnmute("s", actorOf(ps[1]), ps[0].ID)
	wantForbidden(t, err, ActionRequestUnmute)
	_, err = h.hub.RequestUnmute("s", actorOf(hp), "p-nobody")
	wantErr(t, err, ErrNotFound)
}

func TestDeafen(t *testing.T) {
	h := newHarness(t)
	_, ps := h.crowd(2)
	a := ps[0]
	v := h.version("s")
	ok(h.hub.SetDeafened("s", actorOf(a), true))(t)
	e := h.Last()
	if e.Kind != EventUpdated || e.Change != ChangeDeafened || e.Actor != a.ID || !e.Participant.Deafened || e.Version != v+1 {
		t.Errorf("event = %+v", e)
	}
	_, aud := ok2(t)(h.hub.audiences("s"))
	if hears, listening := aud[a.ID]; listening {
		t.Errorf("deafened hears %v", hears)
	}
	if !slices.Contains(aud[ps[1].ID], a.ID) {
		t.Error("others stopped hearing the deafened")
	}
	if got := ok(h.hub.SetDeafened("s", actorOf(a), true))(t); got != v+1 {
		t.Error("deafening the deaf was a change")
	}
	ok(h.hub.SetDeafened("s", actorOf(a), false))(t)
	if !h.hears(a.ID, ps[1].ID) {
		t.Error("undeafen did not restore")
	}
	_, err := h.hub.SetDeafened("s", Actor{Role: RoleHost}, true)
	wantErr(t, err, ErrInvalid)
}

func TestRemove(t *testing.T) {
	h := newHarness(t)
	hp, ps := h.crowd(3)
	mod := h.join("s", "mod", RoleModerator).Participant
	mod2 := h.join("s", "mod2", RoleModerator).Participant
	a := ps[0]
	n := h.hub.Participants()

	v := h.version("s")
	ok(h.hub.Remove("s", actorOf(mod), a.ID, "spam"))(t)
	if e := h.Last(); !reflect.DeepEqual(e, Event{Session: "s", Version: v + 1, Kind: EventRemoved, Participant: a, Reason: "spam", Actor: mod.ID}) {
		t.Errorf("event = %+v", e)
	}
	_, err := h.hub.Participant("s", a.ID)
	wantErr(t, err, ErrNotFound)
	if h.hub.Participants() != n-1 {
		t.Errorf("Participants() = %d, want %d", h.hub.Participants(), n-1)
	}
	_, err = h.hub.Join("s", Identity{UserID: a.UserID, Role: RoleHost})
	wantErr(t, err, ErrRemoved)
	_, err = h.hub.Remove("s", actorOf(mod), a.ID, "")
	wantErr(t, err, ErrNotFound)

	_, err = h.hub.Remove("s", actorOf(mod), hp.ID, "")
	wantForbidden(t, err, ActionRemove)
	_, err = h.hub.Remove("s", Actor{Role: RoleHost}, hp.ID, "")
	wantForbidden(t, err, ActionRemove)
	_, err = h.hub.Remove("s", actorOf(ps[1]), ps[2].ID, "")
	wantForbidden(t, err, ActionRemove)
	_, err = h.hub.Remove("s", actorOf(mod), mod.ID, "")
	wantErr(t, err, ErrInvalid)
	_, err = h.hub.Remove("s", actorOf(hp), ps[1].ID, strings.Repeat("x", MaxReasonRunes+1))
	wantErr(t, err, ErrInvalid)
	ok(h.hub.Remove("s", actorOf(hp), ps[1].ID, strings.Repeat("é", MaxReasonRunes)))(t)
	ok(h.hub.Remove("s", actorOf(mod), mod2.ID, ""))(t) // equal roles

	// The ban outlives everyone leaving for a moment, and ends with the
	// session.
	for _, u := range []string{"host", "mod", ps[2].UserID} {
		p := h.mustByUser("s", u)
		if err := h.hub.Leave("s", p.ID, p.Epoch); err != nil {
			t.Fatal(err)
		}
	}
	_, err = h.hub.Join("s", Identity{UserID: a.UserID})
	wantErr(t, err, ErrRemoved)
	if st := ok(h.hub.Stats("s"))(t); st.Removals != 3 {
		t.Errorf("Removals = %d, want 3", st.Removals)
	}
	h.expire()
	h.join("s", a.UserID, RoleParticipant)
}

func TestSetRole(t *testing.T) {
	h := newHarness(t)
	hp, ps := h.crowd(3)
	a, b := ps[0], ps[1]

	// Before: a participant may not move others.
	_, err := h.hub.Move("s", actorOf(a), b.ID, MainRoom)
	wantForbidden(t, err, ActionMoveOthers)

	v := h.version("s")
	ok(h.hub.SetRole("s", actorOf(hp), a.ID, RoleModerator))(t)
	want := ok(h.hub.Participant("s", a.ID))(t)
	if want.Role != RoleModerator {
		t.Fatalf("after promote: %+v", want)
	}
	if e := h.Last(); !reflect.DeepEqual(e, Event{Session: "s", Version: v + 1, Kind: EventUpdated, Participant: want, Change: ChangeRole, Actor: hp.ID}) {
		t.Errorf("event = %+v", e)
	}
	// The current role counts at once.
	rs := h.rooms(actorOf(a), 1, 0)
	ok(h.hub.Move("s", actorOf(a), b.ID, rs[0].ID))(t)
	if got := ok(h.hub.SetRole("s", actorOf(hp), a.ID, RoleModerator))(t); got != h.version("s") {
		t.Error("setting the same role returned another version")
	}

	for _, c := range []struct {
		name   string
		actor  Actor
		target string
		role   Role
		want   error
	}{
		{"moderator promotes", actorOf(a), b.ID, RoleModerator, ErrForbidden},
		{"moderator demotes host", actorOf(a), hp.ID, RoleParticipant, ErrForbidden},
		{"host demotes itself", actorOf(hp), hp.ID, RoleModerator, ErrForbidden},
		{"integration host on host", Actor{Role: RoleHost}, hp.ID, RoleParticipant, ErrForbidden},
		{"participant promotes itself", actorOf(b), b.ID, RoleModerator, ErrForbidden},
		{"to host", actorOf(hp), b.ID, RoleHost, ErrInvalid},
		{"to nothing", actorOf(hp), b.ID, "", ErrInvalid},
		{"unknown target", actorOf(hp), "p-nobody", RoleModerator, ErrNotFound},
	} {
		_, err := h.hub.SetRole("s", c.actor, c.target, c.role)
		wantErr(t, err, c.want)
		if c.want == ErrForbidden {
			wantForbidden(t, err, ActionPromote)
		}
	}

	// Demote; the demoted may no longer act as staff, and keeps the room.
	ok(h.hub.SetRole("s", Actor{Role: RoleHost}, a.ID, RoleParticipant))(t)
	_, err = h.hub.CloseRoom("s", actorOf(a), rs[0].ID)
	wantForbidden(t, err, ActionCloseBreakouts)
	// The set role outlives a leave: a moderator token does not undo it.
	p := ok(h.hub.Participant("s", a.ID))(t)
	if err := h.hub.Leave("s", p.ID, p.Epoch); err != nil {
		t.Fatal(err)
	}
	if r := h.join("s", a.UserID, RoleModerator).Participant.Role; r != RoleParticipant {
		t.Errorf("demoted user rejoined as %s", r)
	}
	if p := ok(h.hub.Participant("s", hp.ID))(t); p.Role != RoleHost {
		t.Errorf("host is %s", p.Role)
	}
}

// TestHierarchy: a moderator acting on the host, and a participant acting
// on anyone, is refused with ErrForbidden naming the action; nothing
// changes.
func TestHierarchy(t *testing.T) {
	h := newHarness(t)
	hp, ps := h.crowd(2)
	mod := h.join("s", "mod", RoleModerator).Participant
	ok(h.hub.SetHand("s", actorOf(hp), hp.ID, true))(t)
	ok(h.hub.SetHand("s", actorOf(mod), mod.ID, true))(t)
	v := h.version("s")
	for _, c := range []struct {
		name   string
		action Action
		op     func(a Actor, target string) error
	}{
		{"mute", ActionMuteOthers, func(a Actor, target string) error {
			_, err := h.hub.SetMuted("s", a, target, true)
			return err
		}},
		{"remove", ActionRemove, func(a Actor, target string) error {
			_, err := h.hub.Remove("s", a, target, "")
			return err
		}},
		{"move", ActionMoveOthers, func(a Actor, target string) error {
			_, err := h.hub.Move("s", a, target, MainRoom)
			return err
		}},
		{"demote", ActionPromote, func(a Actor, target string) error {
			_, err := h.hub.SetRole("s", a, target, RoleParticipant)
			return err
		}},
		{"lower hand", ActionLowerHands, func(a Actor, target string) error {
			_, err := h.hub.SetHand("s", a, target, false)
			return err
		}},
	} {
		wantForbidden(t, c.op(actorOf(mod), hp.ID), c.action)
		wantForbidden(t, c.op(Actor{Role: RoleModerator}, hp.ID), c.action)
		wantForbidden(t, c.op(actorOf(ps[0]), mod.ID), c.action)
		wantForbidden(t, c.op(actorOf(ps[0]), ps[1].ID), c.action)
	}
	if h.version("s") != v {
		t.Error("a refused operation changed the session")
	}
}

// TestParticipantForbidden: a participant calling each staff operation
// gets ErrForbidden naming the action, and nothing changes. So do an
// integration with no role and one with an unknown role.
func TestParticipantForbidden(t *testing.T) {
	h := newHarness(t)
	hp, ps := h.crowd(3)
	rs := h.rooms(actorOf(hp), 1, 0)
	p, other := ps[0], ps[1].ID
	ops := []struct {
		action Action
		op     func(a Actor) error
	}{
		{ActionCreateBreakouts, func(a Actor) error { _, _, err := h.hub.CreateBreakouts("s", a, []RoomSpec{{}}); return err }},
		{ActionAssign, func(a Actor) error {
			_, _, err := h.hub.Assign("s", a, Assignment{Mode: AssignBalanced})
			return err
		}},
		{ActionSelfSelect, func(a Actor) error { _, err := h.hub.SetSelfSelect("s", a, true); return err }},
		{ActionMoveOthers, func(a Actor) error { _, err := h.hub.Move("s", a, other, rs[0].ID); return err }},
		{ActionCloseBreakouts, func(a Actor) error { _, err := h.hub.CloseRoom("s", a, rs[0].ID); return err }},
		{ActionCloseBreakouts, func(a Actor) error { _, err := h.hub.CloseAllRooms("s", a); return err }},
		{ActionBroadcast, func(a Actor) error { _, err := h.hub.Broadcast("s", a, "hello"); return err }},
		{ActionMuteOthers, func(a Actor) error { _, err := h.hub.SetMuted("s", a, other, true); return err }},
		{ActionRequestUnmute, func(a Actor) error { _, err := h.hub.RequestUnmute("s", a, other); return err }},
		{ActionRemove, func(a Actor) error { _, err := h.hub.Remove("s", a, ps[2].ID, ""); return err }},
		{ActionPromote, func(a Actor) error { _, err := h.hub.SetRole("s", a, other, RoleModerator); return err }},
		{ActionLowerHands, func(a Actor) error { _, err := h.hub.SetHand("s", a, other, false); return err }},
		{ActionEndSession, func(a Actor) error { _, err := h.hub.EndSession("s", a); return err }},
	}
	v := h.version("s")
	for _, c := range ops {
		for _, a := range []Actor{actorOf(p), {Role: RoleParticipant}, {}, {Role: "none"}} {
			wantForbidden(t, c.op(a), c.action)
		}
	}
	// The moderator may do all but promote and end.
	mod := h.join("s", "mod", RoleModerator).Participant
	v = h.version("s")
	for _, c := range ops {
		err := c.op(actorOf(mod))
		if c.action == ActionPromote || c.action == ActionEndSession {
			wantForbidden(t, err, c.action)
		} else if err != nil {
			t.Errorf("moderator %s: %v", c.action, err)
		}
	}
	if h.version("s") == v {
		t.Error("the moderator changed nothing")
	}
}

func TestBroadcastAndAlert(t *testing.T) {
	h := newHarness(t)
	hp, ps := h.crowd(2)
	rs := h.rooms(actorOf(hp), 1, 0)
	ok(h.hub.Move("s", actorOf(hp), ps[0].ID, rs[0].ID))(t)

	v := h.version("s")
	ok(h.hub.Broadcast("s", actorOf(hp), "  five minutes left \n"))(t)
	if e := h.Last(); !reflect.DeepEqual(e, Event{Session: "s", Version: v + 1, Kind: EventBroadcast, Message: "five minutes left", Actor: hp.ID}) {
		t.Errorf("event = %+v", e)
	}
	ok(h.hub.Broadcast("s", Actor{Role: RoleHost}, strings.Repeat("é", MaxMessageRunes)))(t)
	for _, text := range []string{"", "   ", strings.Repeat("x", MaxMessageRunes+1), "\xff"} {
		_, err := h.hub.Broadcast("s", actorOf(hp), text)
		wantErr(t, err, ErrInvalid)
	}

	v = h.version("s")
	p := ok(h.hub.Participant("s", ps[0].ID))(t)
	ok(h.hub.Alert("s", actorOf(p), "help"))(t)
	if e := h.Last(); !reflect.DeepEqual(e, Event{Session: "s", Version: v + 1, Kind: EventAlert, Participant: p, Room: rs[0].ID, Message: "help", Actor: p.ID}) {
		t.Errorf("event = %+v", e)
	}
	ok(h.hub.Alert("s", actorOf(ps[1]), ""))(t)
	if e := h.Last(); e.Room != MainRoom || e.Message != "" {
		t.Errorf("empty alert event = %+v", e)
	}
	_, err := h.hub.Alert("s", actorOf(p), strings.Repeat("x", MaxMessageRunes+1))
	wantErr(t, err, ErrInvalid)
	_, err = h.hub.Alert("s", Actor{Role: RoleHost}, "x")
	wantErr(t, err, ErrInvalid)
	_, err = h.hub.Alert("s", Actor{ParticipantID: "p-nobody"}, "x")
	wantErr(t, err, ErrNotFound)
}
