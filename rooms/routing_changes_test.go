package rooms

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"strconv"
	"testing"
)

// routingReader reads a session's Routing through RoutingChanges into maps
// of its own, as the signaling server feeds its router.
type routingReader struct {
	cursor RoutingCursor
	rt     Routing
}

// read applies what changed since the reader's cursor and returns whether
// it started over and how many entries it got.
func (r *routingReader) read(t *testing.T, h *Hub, session string) (full bool, n int) {
	t.Helper()
	next, changes, full, err := h.RoutingChanges(session, r.cursor)
	if err != nil {
		t.Fatal(err)
	}
	if full || r.rt.Hear == nil {
		r.rt = Routing{Hear: map[string]string{}, Speak: map[string]string{}}
	}
	for _, c := range changes {
		if full && !c.Hears && !c.Speaks {
			t.Fatalf("a full read lists %s, which is in neither map", c.ID)
		}
		set := func(m map[string]string, room string, ok bool) {
			if ok {
				m[c.ID] = room
			} else {
				delete(m, c.ID)
			}
		}
		set(r.rt.Hear, c.Hear, c.Hears)
		set(r.rt.Speak, c.Speak, c.Speaks)
	}
	r.cursor = next
	return full, len(changes)
}

// check fails the test unless the reader's maps are Routing's and its
// cursor is at the session's version.
func (r *routingReader) check(t *testing.T, h *Hub, session, what string) {
	t.Helper()
	v, want, err := h.Routing(session)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(r.rt.Hear, want.Hear) || !maps.Equal(r.rt.Speak, want.Speak) {
		t.Fatalf("%s: read %v\nRouting is %v", what, r.rt, want)
	}
	if r.cursor.Version() != v {
		t.Fatalf("%s: cursor at version %d, the session is at %d", what, r.cursor.Version(), v)
	}
}

// TestRoutingChangesFollowRouting drives a session through random joins,
// leaves, takeovers, moves, assignments, mutes, deafens, removals, rooms
// opened and closed, and a session ended and begun anew, while three
// readers read it through RoutingChanges at random moments: after every
// read, a reader's maps are exactly Routing's.
func TestRoutingChangesFollowRouting(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			runRoutingModel(t, rand.New(rand.NewPCG(seed, 7)), 400)
		})
	}
}

func runRoutingModel(t *testing.T, rng *rand.Rand, steps int) {
	h := newHarness(t)
	const session = "s"
	users := make([]string, 12)
	for i := range users {
		users[i] = "u" + strconv.Itoa(i)
	}
	var host Participant
	in := map[string]Participant{} // present, by user id
	join := func(u string) {
		role := RoleParticipant
		if u == users[0] {
			role = RoleHost
		}
		res, err := h.hub.Join(session, Identity{UserID: u, Role: role})
		if err != nil {
			return // removed: banned until the session ends
		}
		in[u] = res.Participant
		if u == users[0] {
			host = res.Participant
		}
	}
	begin := func() {
		clear(in)
		join(users[0])
		for _, u := range users[1:] {
			if rng.IntN(3) > 0 {
				join(u)
			}
		}
	}
	begin()
	readers := make([]routingReader, 3)
	hostActor := func() Actor { return Actor{ParticipantID: host.ID} }
	pick := func() (string, Participant, bool) {
		u := users[1+rng.IntN(len(users)-1)]
		p, ok := in[u]
		return u, p, ok
	}
	rooms := func() []string {
		snap, err := h.hub.Snapshot(session)
		if err != nil {
			t.Fatal(err)
		}
		ids := []string{MainRoom}
		for _, r := range snap.Rooms {
			ids = append(ids, r.ID)
		}
		return ids
	}
	for step := range steps {
		// Errors are part of the game (a room full, a participant gone):
		// what matters is that readers follow whatever happened.
		switch n := rng.IntN(20); {
		case n < 3:
			u, _, _ := pick()
			join(u) // a new record, a return, or a takeover
		case n < 5:
			if u, p, ok := pick(); ok {
				if h.hub.Leave(session, p.ID, p.Epoch) == nil {
					delete(in, u)
				}
			}
		case n < 9:
			if _, p, ok := pick(); ok {
				rs := rooms()
				_, _ = h.hub.Move(session, hostActor(), p.ID, rs[rng.IntN(len(rs))])
			}
		case n < 10:
			_, _, _ = h.hub.Assign(session, hostActor(), Assignment{Mode: AssignRandom})
		case n < 12:
			if _, p, ok := pick(); ok {
				_, _ = h.hub.SetMuted(session, hostActor(), p.ID, rng.IntN(2) == 0)
			}
		case n < 14:
			if _, p, ok := pick(); ok {
				_, _ = h.hub.SetDeafened(session, Actor{ParticipantID: p.ID}, rng.IntN(2) == 0)
			}
		case n < 15:
			if len(rooms()) < 4 {
				_, _, _ = h.hub.CreateBreakouts(session, hostActor(), []RoomSpec{{}, {}})
			}
		case n < 16:
			if rs := rooms(); len(rs) > 1 {
				_, _ = h.hub.CloseRoom(session, hostActor(), rs[1+rng.IntN(len(rs)-1)])
			}
		case n < 17:
			_, _ = h.hub.CloseAllRooms(session, hostActor())
		case n < 18:
			if u, p, ok := pick(); ok && rng.IntN(4) == 0 {
				if _, err := h.hub.Remove(session, hostActor(), p.ID, ""); err == nil {
					delete(in, u)
				}
			}
		case n < 19 && rng.IntN(10) == 0:
			// The session ends and, once Tick deleted it, begins anew: a
			// new incarnation, whose versions start again at 0.
			if _, err := h.hub.EndSession(session, hostActor()); err != nil {
				t.Fatal(err)
			}
			for i := range readers {
				readers[i].read(t, h.hub, session)
				readers[i].check(t, h.hub, session, fmt.Sprintf("step %d: reader %d after the end", step, i))
			}
			h.expire()
			begin()
			for i := range readers {
				if full, _ := readers[i].read(t, h.hub, session); !full {
					t.Fatalf("step %d: reader %d read a new incarnation as changes", step, i)
				}
			}
		}
		i := rng.IntN(len(readers))
		readers[i].read(t, h.hub, session)
		readers[i].check(t, h.hub, session, fmt.Sprintf("step %d: reader %d", step, i))
	}
}

// TestRoutingChangesReportsOnlyChanges: a reader gets every participant
// once, then only those a change concerns, and nothing when nothing
// changed.
func TestRoutingChangesReportsOnlyChanges(t *testing.T) {
	h := newHarness(t)
	host := h.join("s", "host", RoleHost).Participant
	var ps []Participant
	for i := range 20 {
		ps = append(ps, h.join("s", "u"+strconv.Itoa(i), RoleParticipant).Participant)
	}
	var r routingReader
	if full, n := r.read(t, h.hub, "s"); !full || n != 21 {
		t.Fatalf("first read: full %v, %d entries; want full, 21", full, n)
	}
	if full, n := r.read(t, h.hub, "s"); full || n != 0 {
		t.Fatalf("read with no change: full %v, %d entries; want none", full, n)
	}
	rooms, _, err := h.hub.CreateBreakouts("s", Actor{ParticipantID: host.ID}, []RoomSpec{{}})
	if err != nil {
		t.Fatal(err)
	}
	if full, n := r.read(t, h.hub, "s"); full || n != 0 {
		t.Fatalf("read after opening a room: full %v, %d entries; want none", full, n)
	}
	ok(h.hub.Move("s", Actor{ParticipantID: host.ID}, ps[3].ID, rooms[0].ID))(t)
	ok(h.hub.SetMuted("s", Actor{ParticipantID: host.ID}, ps[5].ID, true))(t)
	next, changes, full, err := h.hub.RoutingChanges("s", r.cursor)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]RouteChange{}
	for _, c := range changes {
		byID[c.ID] = c
	}
	want := map[string]RouteChange{
		ps[3].ID: {ID: ps[3].ID, Hear: rooms[0].ID, Hears: true, Speak: rooms[0].ID, Speaks: true},
		ps[5].ID: {ID: ps[5].ID, Hear: MainRoom, Hears: true},
	}
	if full || len(changes) != 2 || !maps.Equal(byID, want) {
		t.Fatalf("after a move and a mute: full %v, changes %+v; want %+v", full, changes, want)
	}
	if next.Version() != h.version("s") {
		t.Fatalf("cursor at %d, session at %d", next.Version(), h.version("s"))
	}
	r.cursor = next
	if err := h.hub.Leave("s", ps[3].ID, ps[3].Epoch); err != nil {
		t.Fatal(err)
	}
	_, changes, _, _ = h.hub.RoutingChanges("s", r.cursor)
	if len(changes) != 1 || changes[0] != (RouteChange{ID: ps[3].ID}) {
		t.Fatalf("after a leave: changes %+v; want %s in neither map", changes, ps[3].ID)
	}
}

// TestRoutingChangesAfterReload: a node whose copy of a session is
// replaced by the Store's (another node wrote first) has no record of what
// its readers read: they start over.
func TestRoutingChangesAfterReload(t *testing.T) {
	store, clock := NewMemoryStore(), newFakeClock()
	a, b := newNode(store, clock.now), newNode(store, clock.now)
	host := ok(a.hub.Join("s", Identity{UserID: "host", Role: RoleHost}))(t).Participant
	u := ok(a.hub.Join("s", Identity{UserID: "u", Role: RoleParticipant}))(t).Participant
	rooms, _, err := a.hub.CreateBreakouts("s", Actor{ParticipantID: host.ID}, []RoomSpec{{}})
	if err != nil {
		t.Fatal(err)
	}
	var r routingReader
	r.read(t, b.hub, "s") // b loads the session from the Store
	r.check(t, b.hub, "s", "b's first read")
	// a moves u; b's copy is stale until its next write conflicts.
	ok(a.hub.Move("s", Actor{ParticipantID: host.ID}, u.ID, rooms[0].ID))(t)
	ok(b.hub.SetHand("s", Actor{ParticipantID: host.ID}, host.ID, true))(t)
	if full, _ := r.read(t, b.hub, "s"); !full {
		t.Fatal("a read after b reloaded the session from the Store was not a full one")
	}
	r.check(t, b.hub, "s", "after the reload")
	if r.rt.Hear[u.ID] != rooms[0].ID {
		t.Fatalf("after the reload u hears %q, want %q", r.rt.Hear[u.ID], rooms[0].ID)
	}
}
