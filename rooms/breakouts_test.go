package rooms

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var roomIDPattern = regexp.MustCompile(`^r-[a-z2-7]{8}$`)

// crowd joins a host "host" and n participants "u00", "u01", ... to
// session "s", all connected, and returns their records.
func (h *harness) crowd(n int) (hostP Participant, ps []Participant) {
	h.t.Helper()
	hostP = h.join("s", "host", RoleHost).Participant
	h.setState("s", hostP, StateConnected)
	for i := range n {
		p := h.join("s", fmt.Sprintf("u%02d", i), RoleParticipant).Participant
		h.setState("s", p, StateConnected)
		p.State = StateConnected
		ps = append(ps, p)
	}
	return h.mustByUser("s", "host"), ps
}

// rooms creates n breakout rooms by actor a with the given capacity.
func (h *harness) rooms(a Actor, n, capacity int) []Room {
	h.t.Helper()
	specs := make([]RoomSpec, n)
	for i := range specs {
		specs[i].Capacity = capacity
	}
	rs, _, err := h.hub.CreateBreakouts("s", a, specs)
	if err != nil {
		h.t.Fatal(err)
	}
	return rs
}

// roomOf returns the room participant pid is in now.
func (h *harness) roomOf(pid string) string {
	h.t.Helper()
	return ok(h.hub.Participant("s", pid))(h.t).Room
}

// members returns the present members of each room of session "s".
func (h *harness) members() map[string][]string {
	h.t.Helper()
	out := map[string][]string{}
	for _, p := range ok(h.hub.Snapshot("s"))(h.t).Participants {
		out[p.Room] = append(out[p.Room], p.ID)
	}
	for _, ids := range out {
		slices.Sort(ids)
	}
	return out
}

// wantRoomAudiences checks that every listener hears exactly the others of
// its room.
func (h *harness) wantRoomAudiences() {
	h.t.Helper()
	byRoom := h.members()
	_, aud := ok2(h.t)(h.hub.audiences("s"))
	for room, ids := range byRoom {
		for _, id := range ids {
			want := slices.DeleteFunc(slices.Clone(ids), func(o string) bool { return o == id })
			if !slices.Equal(aud[id], want) {
				h.t.Errorf("%s in %s hears %v, want %v", id, room, aud[id], want)
			}
		}
	}
}

// ok2 unpacks a (version, audiences, error) triple, failing on error.
func ok2(t *testing.T) func(uint64, map[string][]string, error) (uint64, map[string][]string) {
	return func(v uint64, aud map[string][]string, err error) (uint64, map[string][]string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v, aud
	}
}

func TestCreateBreakouts(t *testing.T) {
	h := newHarnessWith(t, Options{WarnBefore: 10 * time.Second})
	hp, _ := h.crowd(2)
	v := h.version("s")
	rs, v2, err := h.hub.CreateBreakouts("s", actorOf(hp), []RoomSpec{
		{Name: "  Grief  ", Capacity: 4, Duration: time.Minute},
		{},
		{Duration: 5 * time.Second},
	})
	if err != nil || v2 != v+1 {
		t.Fatalf("CreateBreakouts = %v, %d, %v", rs, v2, err)
	}
	now := rs[0].CreatedAt
	want := []Room{
		{ID: rs[0].ID, Name: "Grief", Capacity: 4, CreatedAt: now, EndsAt: now.Add(time.Minute), WarnAt: now.Add(50 * time.Second)},
		{ID: rs[1].ID, Name: "Room 2", CreatedAt: now},
		{ID: rs[2].ID, Name: "Room 3", CreatedAt: now, EndsAt: now.Add(5 * time.Second), WarnAt: now},
	}
	if !reflect.DeepEqual(rs, want) {
		t.Errorf("rooms = %+v\nwant    %+v", rs, want)
	}
	for _, r := range rs {
		if !roomIDPattern.MatchString(r.ID) {
			t.Errorf("room id %q does not match %s", r.ID, roomIDPattern)
		}
	}
	if e := h.Last(); !reflect.DeepEqual(e, Event{Session: "s", Version: v + 1, Kind: EventBreakoutsCreated, Rooms: want, Actor: hp.ID}) {
		t.Errorf("event = %+v", e)
	}
	if snap := ok(h.hub.Snapshot("s"))(t); !reflect.DeepEqual(snap.Rooms, want) {
		t.Errorf("snapshot rooms = %+v", snap.Rooms)
	}
	// Default names keep counting across calls; nobody moved.
	more := h.rooms(actorOf(hp), 1, 0)
	if more[0].Name != "Room 4" {
		t.Errorf("fourth room named %q", more[0].Name)
	}
	if m := h.members(); len(m) != 1 || len(m[MainRoom]) != 3 {
		t.Errorf("members = %v", m)
	}

	for _, c := range []struct {
		name  string
		specs []RoomSpec
	}{
		{"none", nil},
		{"51", make([]RoomSpec, MaxRoomsPerCall+1)},
		{"long name", []RoomSpec{{Name: strings.Repeat("é", MaxRoomNameRunes+1)}}},
		{"bad utf8", []RoomSpec{{Name: "\xff"}}},
		{"negative capacity", []RoomSpec{{Capacity: -1}}},
		{"negative duration", []RoomSpec{{}, {Duration: -time.Second}}},
	} {
		v := h.version("s")
		_, _, err := h.hub.CreateBreakouts("s", actorOf(hp), c.specs)
		wantErr(t, err, ErrInvalid)
		if h.version("s") != v {
			t.Errorf("%s: version changed", c.name)
		}
	}
	if _, _, err := h.hub.CreateBreakouts("s", actorOf(hp), make([]RoomSpec, MaxRoomsPerCall)); err != nil {
		t.Errorf("50 rooms: %v", err)
	}
	name64 := strings.Repeat("é", MaxRoomNameRunes)
	if rs, _, err := h.hub.CreateBreakouts("s", actorOf(hp), []RoomSpec{{Name: name64}}); err != nil || rs[0].Name != name64 {
		t.Errorf("64-rune name: %v", err)
	}
}

// TestMove: moves by staff, visits, the no-op, unknown targets and rooms.
func TestMove(t *testing.T) {
	h := newHarness(t)
	hp, ps := h.crowd(3)
	rs := h.rooms(actorOf(hp), 2, 0)
	a, b := ps[0], ps[1]

	v := h.version("s")
	if got := ok(h.hub.Move("s", actorOf(hp), a.ID, rs[0].ID))(t); got != v+1 {
		t.Errorf("Move returned version %d, want %d", got, v+1)
	}
	want := ok(h.hub.Participant("s", a.ID))(t)
	if want.Room != rs[0].ID || want.Role != RoleParticipant {
		t.Errorf("after move: %+v", want)
	}
	if e := h.Last(); !reflect.DeepEqual(e, Event{Session: "s", Version: v + 1, Kind: EventMoved, Participant: want, FromRoom: MainRoom, Actor: hp.ID}) {
		t.Errorf("event = %+v", e)
	}
	// Into the room one is in: success, no version.
	if got := ok(h.hub.Move("s", actorOf(hp), a.ID, rs[0].ID))(t); got != v+1 || h.version("s") != v+1 {
		t.Errorf("no-op move returned %d, version %d", got, h.version("s"))
	}
	// A visit: the host moves itself and stays host.
	ok(h.hub.Move("s", actorOf(hp), hp.ID, rs[0].ID))(t)
	if p := ok(h.hub.Participant("s", hp.ID))(t); p.Room != rs[0].ID || p.Role != RoleHost {
		t.Errorf("host after visit: %+v", p)
	}
	h.wantRoomAudiences()
	// A moderator visits and moves others; an integration moves too.
	m := h.join("s", "mod", RoleModerator).Participant
	ok(h.hub.Move("s", actorOf(m), m.ID, rs[1].ID))(t)
	ok(h.hub.Move("s", actorOf(m), b.ID, rs[1].ID))(t)
	ok(h.hub.Move("s", Actor{Role: RoleHost}, ps[2].ID, rs[1].ID))(t)
	if e := h.Last(); e.Actor != "" || e.Participant.ID != ps[2].ID {
		t.Errorf("integration move event = %+v", e)
	}
	if p := ok(h.hub.Participant("s", m.ID))(t); p.Role != RoleModerator || p.Room != rs[1].ID {
		t.Errorf("moderator after visit: %+v", p)
	}
	// The moderator may not move the host.
	_, err := h.hub.Move("s", actorOf(m), hp.ID, MainRoom)
	wantForbidden(t, err, ActionMoveOthers)

	v = h.version("s")
	_, err = h.hub.Move("s", actorOf(hp), "p-nobody", MainRoom)
	wantErr(t, err, ErrNotFound)
	_, err = h.hub.Move("s", actorOf(hp), a.ID, "r-nowhere")
	wantErr(t, err, ErrNotFound)
	_, err = h.hub.Move("s", Actor{ParticipantID: "p-nobody"}, a.ID, MainRoom)
	wantErr(t, err, ErrNotFound)
	_, err = h.hub.Move("nope", actorOf(hp), a.ID, MainRoom)
	wantErr(t, err, ErrNotFound)
	if h.version("s") != v {
		t.Error("a failed move changed the session")
	}
}

// TestSelfSelect: a participant moves itself only while self-selection is
// on, within capacity.
func TestSelfSelect(t *testing.T) {
	h := newHarness(t)
	hp, ps := h.crowd(3)
	rs := h.rooms(actorOf(hp), 1, 2)
	p := ps[0]

	_, err := h.hub.Move("s", actorOf(p), p.ID, rs[0].ID)
	wantForbidden(t, err, ActionMoveSelf)
	_, err = h.hub.SetSelfSelect("s", actorOf(p), true)
	wantForbidden(t, err, ActionSelfSelect)

	v := h.version("s")
	ok(h.hub.SetSelfSelect("s", actorOf(hp), true))(t)
	if e := h.Last(); !reflect.DeepEqual(e, Event{Session: "s", Version: v + 1, Kind: EventSelfSelect, SelfSelect: true, Actor: hp.ID}) {
		t.Errorf("event = %+v", e)
	}
	if got := ok(h.hub.SetSelfSelect("s", actorOf(hp), true))(t); got != v+1 {
		t.Error("setting self-select again was a change")
	}
	if !ok(h.hub.Snapshot("s"))(t).SelfSelect {
		t.Error("snapshot: SelfSelect false")
	}
	for _, q := range ps[:2] {
		ok(h.hub.Move("s", actorOf(q), q.ID, rs[0].ID))(t)
	}
	// Full: capacity 2.
	_, err = h.hub.Move("s", actorOf(ps[2]), ps[2].ID, rs[0].ID)
	wantErr(t, err, ErrRoomFull)
	// Still no moving others, and back to main is fine.
	_, err = h.hub.Move("s", actorOf(ps[0]), ps[2].ID, rs[0].ID)
	wantForbidden(t, err, ActionMoveOthers)
	ok(h.hub.Move("s", actorOf(ps[0]), ps[0].ID, MainRoom))(t)
	ok(h.hub.Move("s", actorOf(ps[2]), ps[2].ID, rs[0].ID))(t)
	// A visit into a full room is refused as well.
	_, err = h.hub.Move("s", actorOf(hp), hp.ID, rs[0].ID)
	wantErr(t, err, ErrRoomFull)

	ok(h.hub.SetSelfSelect("s", actorOf(hp), false))(t)
	_, err = h.hub.Move("s", actorOf(ps[2]), ps[2].ID, MainRoom)
	wantForbidden(t, err, ActionMoveSelf)
}

// TestCloseRooms: closing one room, then all, brings everyone back to main,
// where everyone hears everyone.
func TestCloseRooms(t *testing.T) {
	h := newHarness(t)
	hp, ps := h.crowd(6)
	rs := h.rooms(actorOf(hp), 3, 0)
	ok(h.hub.Move("s", actorOf(hp), hp.ID, rs[2].ID))(t)
	moves, _, err := h.hub.Assign("s", actorOf(hp), Assignment{Mode: AssignBalanced})
	if err != nil || len(moves) != 6 {
		t.Fatalf("Assign = %v, %v", moves, err)
	}

	// The host in room 3 counts: 7 people make 3/2/2.
	if got := countRooms(h.members()); !maps.Equal(got, map[string]int{rs[0].ID: 3, rs[1].ID: 2, rs[2].ID: 2}) {
		t.Fatalf("sizes = %v", got)
	}
	v := h.version("s")
	ok(h.hub.CloseRoom("s", actorOf(hp), rs[0].ID))(t)
	e := h.Last()
	if e.Kind != EventRoomsClosed || e.Version != v+1 || e.Actor != hp.ID || !reflect.DeepEqual(e.Rooms, rs[:1]) || len(e.Moves) != 3 {
		t.Fatalf("close event = %+v", e)
	}
	for _, p := range e.Moves {
		if p.Room != MainRoom || p.Role != RoleParticipant || h.roomOf(p.ID) != MainRoom {
			t.Errorf("moved back: %+v", p)
		}
	}
	if snap := ok(h.hub.Snapshot("s"))(t); !reflect.DeepEqual(snap.Rooms, rs[1:]) {
		t.Errorf("open rooms = %v", snap.Rooms)
	}
	_, err = h.hub.CloseRoom("s", actorOf(hp), rs[0].ID)
	wantErr(t, err, ErrNotFound)
	_, err = h.hub.CloseRoom("s", actorOf(hp), MainRoom)
	wantErr(t, err, ErrInvalid)
	_, err = h.hub.CloseRoom("s", actorOf(ps[0]), rs[1].ID)
	wantForbidden(t, err, ActionCloseBreakouts)
	_, err = h.hub.Move("s", actorOf(hp), ps[0].ID, rs[0].ID)
	wantErr(t, err, ErrNotFound)
	h.wantRoomAudiences()

	v = h.version("s")
	ok(h.hub.CloseAllRooms("s", actorOf(hp)))(t)
	e = h.Last()
	if e.Kind != EventRoomsClosed || e.Version != v+1 || !reflect.DeepEqual(e.Rooms, rs[1:]) || len(e.Moves) != 4 {
		t.Fatalf("close-all event = %+v", e)
	}
	if p := ok(h.hub.Participant("s", hp.ID))(t); p.Role != RoleHost || p.Room != MainRoom {
		t.Errorf("host after close: %+v", p)
	}
	snap := ok(h.hub.Snapshot("s"))(t)
	if len(snap.Rooms) != 0 {
		t.Errorf("rooms after close all: %v", snap.Rooms)
	}
	all := []string{hp.ID}
	for _, p := range ps {
		all = append(all, p.ID)
	}
	slices.Sort(all)
	_, aud := ok2(t)(h.hub.audiences("s"))
	for _, id := range all {
		want := slices.DeleteFunc(slices.Clone(all), func(o string) bool { return o == id })
		if !slices.Equal(aud[id], want) {
			t.Errorf("%s hears %v, want everyone else", id, aud[id])
		}
	}
	// Nothing open: no change.
	if got := ok(h.hub.CloseAllRooms("s", actorOf(hp)))(t); got != v+1 {
		t.Error("closing no rooms was a change")
	}
	if !maps.Equal(map[string]int{MainRoom: 7}, countRooms(h.members())) {
		t.Errorf("members = %v", h.members())
	}
}

// countRooms maps each room to its number of members.
func countRooms(m map[string][]string) map[string]int {
	out := map[string]int{}
	for r, ids := range m {
		out[r] = len(ids)
	}
	return out
}

// wantForbidden fails unless err wraps ErrForbidden and names action.
func wantForbidden(t *testing.T, err error, action Action) {
	t.Helper()
	if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), string(action)) {
		t.Fatalf("error = %v, want ErrForbidden naming %q", err, action)
	}
}

// Planned rooms open with their people in them in one call: the created
// event, then one assigned event; a plan that cannot be carried out whole
// opens nothing and changes nothing.
func TestCreateBreakoutsWithMembers(t *testing.T) {
	h := newHarness(t)
	hp, ps := h.crowd(5)
	host := Actor{ParticipantID: hp.ID}
	mod := h.join("s", "mod", RoleModerator).Participant
	v := h.version("s")

	for name, c := range map[string]struct {
		a     Actor
		specs []RoomSpec
		want  error
	}{
		"unknown participant":     {host, []RoomSpec{{Name: "A", Members: []string{ps[0].ID, "p-nobody"}}}, ErrNotFound},
		"named twice":             {host, []RoomSpec{{Members: []string{ps[0].ID}}, {Members: []string{ps[0].ID}}}, ErrInvalid},
		"over capacity":           {host, []RoomSpec{{Capacity: 1, Members: []string{ps[0].ID, ps[1].ID}}}, ErrRoomFull},
		"a participant assigning": {Actor{ParticipantID: ps[4].ID}, []RoomSpec{{Members: []string{ps[0].ID}}}, ErrForbidden},
		"moving the host":         {Actor{ParticipantID: mod.ID}, []RoomSpec{{Members: []string{hp.ID}}}, ErrForbidden},
	} {
		_, _, err := h.hub.CreateBreakouts("s", c.a, c.specs)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	snap := ok(h.hub.Snapshot("s"))(t)
	if snap.Version != v || len(snap.Rooms) != 0 {
		t.Fatalf("refused plans changed the session: version %d (was %d), %d rooms", snap.Version, v, len(snap.Rooms))
	}

	created, v2, err := h.hub.CreateBreakouts("s", host, []RoomSpec{
		{Name: "Willow", Capacity: 2, Members: []string{ps[0].ID, ps[1].ID}},
		{Name: "Oak", Members: []string{ps[2].ID}},
		{Name: "Elm"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if v2 != v+2 {
		t.Errorf("version %d, want %d: created, then assigned", v2, v+2)
	}
	ev := h.Events()
	createdEv, assigned := ev[len(ev)-2], ev[len(ev)-1]
	if createdEv.Kind != EventBreakoutsCreated || len(createdEv.Rooms) != 3 || assigned.Kind != EventAssigned ||
		len(assigned.Moves) != 3 || assigned.Actor != hp.ID {
		t.Fatalf("events: %+v then %+v", createdEv, assigned)
	}
	want := map[string]string{ps[0].ID: created[0].ID, ps[1].ID: created[0].ID, ps[2].ID: created[1].ID,
		ps[3].ID: MainRoom, ps[4].ID: MainRoom, hp.ID: MainRoom}
	for _, p := range ok(h.hub.Snapshot("s"))(t).Participants {
		if r, named := want[p.ID]; named && p.Room != r {
			t.Errorf("%s in %s, want %s", p.ID, p.Room, r)
		}
	}
}
