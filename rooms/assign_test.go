package rooms

import (
	"maps"
	"slices"
	"testing"
)

// sizes returns the number of members of each room in rs, in order.
func (h *harness) sizes(rs []Room) []int {
	h.t.Helper()
	m := h.members()
	out := make([]int, len(rs))
	for i, r := range rs {
		out[i] = len(m[r.ID])
	}
	return out
}

// assign runs Assign on session "s" and fails the test on error.
func (h *harness) assign(a Actor, as Assignment) map[string]string {
	h.t.Helper()
	moves, _, err := h.hub.Assign("s", a, as)
	if err != nil {
		h.t.Fatal(err)
	}
	return moves
}

// TestAssignBalanced: 12 participants, 3 rooms: round-robin in join order,
// 4/4/4, one event, and each hears exactly its 3 room-mates.
func TestAssignBalanced(t *testing.T) {
	h := newHarness(t)
	hp, ps := h.crowd(12)
	rs := h.rooms(actorOf(hp), 3, 0)
	v := h.version("s")

	moves, got, err := h.hub.Assign("s", actorOf(hp), Assignment{Mode: AssignBalanced})
	if err != nil || got != v+1 || h.version("s") != v+1 {
		t.Fatalf("Assign = %v, %d, %v; version %d", moves, got, err, h.version("s"))
	}
	want := map[string]string{}
	for i, p := range ps {
		want[p.ID] = rs[i%3].ID
	}
	if !maps.Equal(moves, want) {
		t.Errorf("moves = %v\nwant    %v", moves, want)
	}
	e := h.Last()
	if e.Kind != EventAssigned || e.Actor != hp.ID || len(e.Moves) != 12 {
		t.Fatalf("event = %+v", e)
	}
	for i, p := range e.Moves {
		if p.ID != ps[i].ID || p.Room != want[p.ID] || p.Role != RoleParticipant {
			t.Errorf("event move %d = %+v", i, p)
		}
	}
	if s := h.sizes(rs); !slices.Equal(s, []int{4, 4, 4}) {
		t.Errorf("sizes = %v", s)
	}
	if h.roomOf(hp.ID) != MainRoom {
		t.Error("the host was assigned without IncludeStaff")
	}
	h.wantRoomAudiences()
	_, aud := ok2(t)(h.hub.audiences("s"))
	for _, p := range ps {
		if len(aud[p.ID]) != 3 {
			t.Errorf("%s hears %d, want 3", p.ID, len(aud[p.ID]))
		}
	}
	if len(aud[hp.ID]) != 0 {
		t.Errorf("the host alone in main hears %v", aud[hp.ID])
	}
	// Again: everyone is where balanced puts them; no change.
	moves, got, err = h.hub.Assign("s", actorOf(hp), Assignment{Mode: AssignBalanced})
	if err != nil || len(moves) != 0 || moves == nil || got != v+1 {
		t.Errorf("second Assign = %v, %d, %v", moves, got, err)
	}
}

func TestAssignRandom(t *testing.T) {
	for _, n := range []int{12, 13, 2} {
		h := newHarness(t)
		hp, _ := h.crowd(n)
		rs := h.rooms(actorOf(hp), 3, 0)
		moves := h.assign(actorOf(hp), Assignment{Mode: AssignRandom})
		if len(moves) != n {
			t.Errorf("%d people: %d moves", n, len(moves))
		}
		s := h.sizes(rs)
		if slices.Max(s)-slices.Min(s) > 1 || s[0]+s[1]+s[2] != n {
			t.Errorf("%d people: sizes %v", n, s)
		}
		h.wantRoomAudiences()
	}
}

func TestAssignGroups(t *testing.T) {
	h := newHarness(t)
	hp, ps := h.crowd(12)
	rs := h.rooms(actorOf(hp), 3, 0)
	groups := [][]string{{ps[0].ID, ps[5].ID, ps[11].ID}, {ps[3].ID, ps[4].ID}}
	moves := h.assign(actorOf(hp), Assignment{Mode: AssignGroups, Groups: groups})
	if len(moves) != 12 || len(h.Last().Moves) != 12 {
		t.Fatalf("moves = %v", moves)
	}
	for _, g := range groups {
		for _, id := range g {
			if moves[id] != moves[g[0]] {
				t.Errorf("group %v split: %v", g, moves)
			}
		}
	}
	if moves[ps[0].ID] != rs[0].ID || moves[ps[3].ID] != rs[1].ID {
		t.Errorf("groups went to %s and %s, want the emptiest rooms in order", moves[ps[0].ID], moves[ps[3].ID])
	}
	if s := h.sizes(rs); !slices.Equal(s, []int{4, 4, 4}) {
		t.Errorf("sizes = %v", s)
	}

	mod := h.join("s", "mod", RoleModerator).Participant
	v := h.version("s")
	for _, c := range []struct {
		name   string
		actor  Actor
		groups [][]string
		want   error
	}{
		{"unknown id", actorOf(hp), [][]string{{ps[0].ID, "p-nobody"}}, ErrNotFound},
		{"twice", actorOf(hp), [][]string{{ps[0].ID}, {ps[1].ID, ps[0].ID}}, ErrInvalid},
		{"empty group", actorOf(hp), [][]string{{}}, ErrInvalid},
		{"host by moderator", actorOf(mod), [][]string{{hp.ID, ps[0].ID}}, ErrForbidden},
		{"by participant", actorOf(ps[1]), [][]string{{ps[0].ID}}, ErrForbidden},
	} {
		_, _, err := h.hub.Assign("s", c.actor, Assignment{Mode: AssignGroups, Groups: c.groups})
		wantErr(t, err, c.want)
	}
	if h.version("s") != v {
		t.Error("a failed assignment changed the session")
	}
	// A group that fits nowhere stays where it is.
	h2 := newHarness(t)
	hp2, ps2 := h2.crowd(4)
	rs2 := h2.rooms(actorOf(hp2), 2, 2)
	moves = h2.assign(actorOf(hp2), Assignment{Mode: AssignGroups, Groups: [][]string{{ps2[0].ID, ps2[1].ID, ps2[2].ID}}})
	if len(moves) != 1 || moves[ps2[3].ID] != rs2[0].ID {
		t.Errorf("oversized group: moves %v", moves)
	}
}

func TestAssignManual(t *testing.T) {
	h := newHarness(t)
	hp, ps := h.crowd(4)
	rs := h.rooms(actorOf(hp), 2, 1)
	v := h.version("s")
	moves := h.assign(actorOf(hp), Assignment{Mode: AssignManual, Manual: map[string]string{
		ps[0].ID: rs[0].ID, ps[1].ID: rs[1].ID, ps[2].ID: MainRoom,
	}})
	if !maps.Equal(moves, map[string]string{ps[0].ID: rs[0].ID, ps[1].ID: rs[1].ID}) || h.version("s") != v+1 {
		t.Fatalf("moves = %v", moves)
	}
	// A swap between two full rooms fits.
	h.assign(actorOf(hp), Assignment{Mode: AssignManual, Manual: map[string]string{
		ps[0].ID: rs[1].ID, ps[1].ID: rs[0].ID,
	}})
	if h.roomOf(ps[0].ID) != rs[1].ID || h.roomOf(ps[1].ID) != rs[0].ID {
		t.Error("swap did not happen")
	}
	v = h.version("s")
	for _, c := range []struct {
		name   string
		manual map[string]string
		want   error
	}{
		{"full", map[string]string{ps[2].ID: rs[0].ID, ps[3].ID: MainRoom}, ErrRoomFull},
		{"two into one", map[string]string{ps[0].ID: MainRoom, ps[2].ID: rs[1].ID, ps[3].ID: rs[1].ID}, ErrRoomFull},
		{"unknown participant", map[string]string{"p-nobody": rs[0].ID}, ErrNotFound},
		{"unknown room", map[string]string{ps[2].ID: "r-nowhere"}, ErrNotFound},
		{"empty", map[string]string{}, ErrInvalid},
	} {
		_, _, err := h.hub.Assign("s", actorOf(hp), Assignment{Mode: AssignManual, Manual: c.manual})
		wantErr(t, err, c.want)
	}
	if h.version("s") != v || h.roomOf(ps[0].ID) != rs[1].ID {
		t.Error("a failed manual assignment changed the session")
	}
	// Moderators may not place the host; the host may place itself.
	mod := h.join("s", "mod", RoleModerator).Participant
	_, _, err := h.hub.Assign("s", actorOf(mod), Assignment{Mode: AssignManual, Manual: map[string]string{hp.ID: MainRoom}})
	wantForbidden(t, err, ActionAssign)
	h.assign(actorOf(hp), Assignment{Mode: AssignManual, Manual: map[string]string{hp.ID: rs[0].ID, ps[1].ID: MainRoom}})
	if p := ok(h.hub.Participant("s", hp.ID))(t); p.Room != rs[0].ID || p.Role != RoleHost {
		t.Errorf("host after manual assign: %+v", p)
	}
}

// TestAssignCapacity: auto modes fill rooms up to capacity; who does not
// fit stays where it is.
func TestAssignCapacity(t *testing.T) {
	for _, mode := range []AssignMode{AssignBalanced, AssignRandom, AssignGroups} {
		h := newHarness(t)
		hp, ps := h.crowd(12)
		rs := h.rooms(actorOf(hp), 3, 3)
		// Two are in room 2 already: they keep their seats.
		ok(h.hub.Move("s", actorOf(hp), ps[10].ID, rs[1].ID))(t)
		ok(h.hub.Move("s", actorOf(hp), ps[11].ID, rs[1].ID))(t)
		moves := h.assign(actorOf(hp), Assignment{Mode: mode})
		if s := h.sizes(rs); !slices.Equal(s, []int{3, 3, 3}) {
			t.Errorf("%s: sizes %v", mode, s)
		}
		if n := len(h.members()[MainRoom]); n != 4 { // the host and three who do not fit
			t.Errorf("%s: %d in main, want 4", mode, n)
		}
		for id, room := range moves {
			if room == MainRoom || h.roomOf(id) != room {
				t.Errorf("%s: move %s → %s", mode, id, room)
			}
		}
		if mode == AssignBalanced {
			for _, p := range ps[7:10] {
				if _, moved := moves[p.ID]; moved {
					t.Errorf("balanced: %s (late in join order) moved", p.UserID)
				}
			}
		}
	}
}

func TestAssignIncludeStaff(t *testing.T) {
	h := newHarness(t)
	hp, ps := h.crowd(9)
	m1 := h.join("s", "m1", RoleModerator).Participant
	m2 := h.join("s", "m2", RoleModerator).Participant
	rs := h.rooms(actorOf(hp), 3, 0)

	// A moderator including staff moves moderators, never the host.
	moves := h.assign(actorOf(m1), Assignment{Mode: AssignBalanced, IncludeStaff: true})
	if len(moves) != 11 || moves[hp.ID] != "" || moves[m1.ID] == "" || moves[m2.ID] == "" {
		t.Errorf("moderator's assignment: %v", moves)
	}
	ok(h.hub.CloseAllRooms("s", actorOf(hp)))(t)
	rs = h.rooms(actorOf(hp), 3, 0)

	moves = h.assign(actorOf(hp), Assignment{Mode: AssignBalanced, IncludeStaff: true})
	if len(moves) != 12 {
		t.Errorf("host's assignment: %d moves", len(moves))
	}
	if s := h.sizes(rs); !slices.Equal(s, []int{4, 4, 4}) {
		t.Errorf("sizes = %v", s)
	}
	for id, role := range map[string]Role{hp.ID: RoleHost, m1.ID: RoleModerator, m2.ID: RoleModerator, ps[0].ID: RoleParticipant} {
		if p := ok(h.hub.Participant("s", id))(t); p.Role != role || p.Room == MainRoom {
			t.Errorf("after assign: %+v", p)
		}
	}
	h.wantRoomAudiences()
}

func TestAssignTargets(t *testing.T) {
	h := newHarness(t)
	hp, ps := h.crowd(4)
	_, _, err := h.hub.Assign("s", actorOf(hp), Assignment{Mode: AssignBalanced})
	wantErr(t, err, ErrInvalid) // no room open
	rs := h.rooms(actorOf(hp), 3, 0)
	moves := h.assign(actorOf(hp), Assignment{Mode: AssignBalanced, Rooms: []string{rs[2].ID, rs[0].ID}})
	want := map[string]string{ps[0].ID: rs[2].ID, ps[1].ID: rs[0].ID, ps[2].ID: rs[2].ID, ps[3].ID: rs[0].ID}
	if !maps.Equal(moves, want) {
		t.Errorf("moves = %v, want %v", moves, want)
	}
	for _, c := range []struct {
		name string
		as   Assignment
		want error
	}{
		{"main as target", Assignment{Mode: AssignBalanced, Rooms: []string{MainRoom}}, ErrInvalid},
		{"repeated target", Assignment{Mode: AssignRandom, Rooms: []string{rs[0].ID, rs[0].ID}}, ErrInvalid},
		{"unknown target", Assignment{Mode: AssignBalanced, Rooms: []string{"r-nowhere"}}, ErrNotFound},
		{"unknown mode", Assignment{Mode: "fair"}, ErrInvalid},
		{"no mode", Assignment{}, ErrInvalid},
		{"groups in balanced", Assignment{Mode: AssignBalanced, Groups: [][]string{{ps[0].ID}}}, ErrInvalid},
		{"manual map in random", Assignment{Mode: AssignRandom, Manual: map[string]string{ps[0].ID: MainRoom}}, ErrInvalid},
		{"rooms in manual", Assignment{Mode: AssignManual, Manual: map[string]string{ps[0].ID: MainRoom}, Rooms: []string{rs[0].ID}}, ErrInvalid},
	} {
		_, _, err := h.hub.Assign("s", actorOf(hp), c.as)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		wantErr(t, err, c.want)
	}
	_, _, err = h.hub.Assign("s", actorOf(ps[0]), Assignment{Mode: AssignBalanced})
	wantForbidden(t, err, ActionAssign)
}

// TestPlaceUnits runs the planner alone: capacity, reservations, ties.
func TestPlaceUnits(t *testing.T) {
	one := func(id, home string) unit { return unit{ids: []string{id}, homes: []string{home}} }
	for _, c := range []struct {
		name  string
		slots []slot
		units []unit
		want  map[string]string
	}{
		{"round robin", []slot{{id: "A"}, {id: "B"}},
			[]unit{one("1", "main"), one("2", "main"), one("3", "main")},
			map[string]string{"1": "A", "2": "B", "3": "A"}},
		{"fixed members count", []slot{{id: "A", count: 2}, {id: "B"}},
			[]unit{one("1", "main"), one("2", "main"), one("3", "main")},
			map[string]string{"1": "B", "2": "B", "3": "A"}},
		{"capacity leaves the last out", []slot{{id: "A", capacity: 1}, {id: "B", capacity: 1}},
			[]unit{one("1", "main"), one("2", "main"), one("3", "main")},
			map[string]string{"1": "A", "2": "B"}},
		{"a seated member keeps a seat", []slot{{id: "A", capacity: 1, reserved: 1}, {id: "B", capacity: 1}},
			[]unit{one("1", "main"), one("2", "main"), one("3", "A")},
			map[string]string{"1": "B", "3": "A"}},
		{"group needs room for all", []slot{{id: "A", capacity: 2}, {id: "B", capacity: 3}},
			[]unit{{ids: []string{"1", "2", "3"}, homes: []string{"main", "main", "main"}}, one("4", "main")},
			map[string]string{"1": "B", "2": "B", "3": "B", "4": "A"}},
		{"group that fits nowhere stays", []slot{{id: "A", capacity: 2, reserved: 1}},
			[]unit{{ids: []string{"1", "2", "3"}, homes: []string{"A", "main", "main"}}, one("4", "main"), one("5", "main")},
			map[string]string{"4": "A"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var slots []*slot
			for i := range c.slots {
				slots = append(slots, &c.slots[i])
			}
			got := placeUnits(slots, c.units)
			if !maps.Equal(got, c.want) {
				t.Errorf("plan = %v, want %v", got, c.want)
			}
			for _, sl := range slots {
				if sl.reserved != 0 || (sl.capacity > 0 && sl.count > sl.capacity) {
					t.Errorf("slot after planning: %+v", *sl)
				}
			}
		})
	}
}
