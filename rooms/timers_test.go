package rooms

import (
	"slices"
	"testing"
	"time"
)

// TestRoomTimers: with WarnBefore 3 s, a 10 s room warns once at 7 s and
// closes at 10 s; a room whose end comes before a Tick saw its warning
// closes without one; a room without timer stays.
func TestRoomTimers(t *testing.T) {
	h := newHarnessWith(t, Options{WarnBefore: 3 * time.Second})
	hp, ps := h.crowd(4)
	h2 := h.join("other", "x", RoleHost).Participant // another session, no timers
	rs := ok3(t)(h.hub.CreateBreakouts("s", actorOf(hp), []RoomSpec{
		{Duration: 10 * time.Second}, {Duration: 20 * time.Second}, {},
	}))
	h.assign(actorOf(hp), Assignment{Mode: AssignBalanced}) // 2/1/1
	at := func(d time.Duration) time.Time { return rs[0].CreatedAt.Add(d) }
	if !rs[0].WarnAt.Equal(at(7*time.Second)) || !rs[1].EndsAt.Equal(at(20*time.Second)) || !rs[2].WarnAt.IsZero() {
		t.Fatalf("rooms = %+v", rs)
	}

	n := len(h.Events())
	if got := h.hub.Tick(at(7*time.Second - time.Nanosecond)); len(got) != 0 || len(h.Events()) != n {
		t.Fatalf("early Tick changed %v", got)
	}
	v := h.version("s")
	if got := h.hub.Tick(at(7 * time.Second)); !slices.Equal(got, []string{"s"}) {
		t.Fatalf("warning Tick changed %v", got)
	}
	warned := rs[0]
	warned.Warned = true
	e := h.Last()
	if e.Kind != EventRoomWarning || e.Version != v+1 || e.Actor != "" || len(e.Rooms) != 1 || e.Rooms[0] != warned {
		t.Fatalf("warning = %+v", e)
	}
	if snap := ok(h.hub.Snapshot("s"))(t); !snap.Rooms[0].Warned {
		t.Error("snapshot: room not Warned")
	}
	// Once only.
	if got := h.hub.Tick(at(9 * time.Second)); len(got) != 0 || h.version("s") != v+1 {
		t.Fatalf("second warning: %v", got)
	}

	// At 10 s room 1 closes, with Actor "", its two members back in main.
	h.hub.Tick(at(10 * time.Second))
	e = h.Last()
	if e.Kind != EventRoomsClosed || e.Version != v+2 || e.Actor != "" || len(e.Rooms) != 1 || e.Rooms[0].ID != rs[0].ID || len(e.Moves) != 2 {
		t.Fatalf("close = %+v", e)
	}
	for _, p := range e.Moves {
		if p.Room != MainRoom || h.roomOf(p.ID) != MainRoom {
			t.Errorf("not back in main: %+v", p)
		}
	}
	// Room 2 is past its end before any Tick saw its warning time: closed
	// with no warning. Room 3 stays; the other session never changed.
	if got := h.hub.Tick(at(time.Hour)); !slices.Equal(got, []string{"s"}) {
		t.Fatalf("Tick changed %v", got)
	}
	e = h.Last()
	if e.Kind != EventRoomsClosed || e.Version != v+3 || e.Rooms[0].ID != rs[1].ID || len(e.Moves) != 1 {
		t.Fatalf("second close = %+v", e)
	}
	snap := ok(h.hub.Snapshot("s"))(t)
	if len(snap.Rooms) != 1 || snap.Rooms[0].ID != rs[2].ID {
		t.Errorf("open rooms = %+v", snap.Rooms)
	}
	if h.roomOf(ps[2].ID) != rs[2].ID {
		t.Error("a member of the untimed room moved")
	}
	if p := ok(h.hub.Participant("other", h2.ID))(t); p.Room != MainRoom || h.version("other") != 1 {
		t.Error("the other session changed")
	}
	h.wantRoomAudiences()
}

// ok3 unpacks CreateBreakouts' results, failing on error.
func ok3(t *testing.T) func([]Room, uint64, error) []Room {
	return func(rs []Room, _ uint64, err error) []Room {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
}

// TestIdleExpiry: a session nobody is in is kept, with its state, for
// IdleTTL, and then deleted by Tick.
func TestIdleExpiry(t *testing.T) {
	h := newHarnessWith(t, Options{IdleTTL: time.Minute})
	hp, ps := h.crowd(2)
	rs := h.rooms(actorOf(hp), 1, 0)
	ok(h.hub.Remove("s", actorOf(hp), ps[1].ID, ""))(t)
	for _, p := range []Participant{hp, ps[0]} {
		if err := h.hub.Leave("s", p.ID, p.Epoch); err != nil {
			t.Fatal(err)
		}
	}
	v := h.version("s")
	idle := h.now() // about when the last one left

	// Back within IdleTTL: same incarnation, rooms, ban, host user.
	if got := h.hub.Tick(idle.Add(50 * time.Second)); len(got) != 0 {
		t.Fatalf("Tick within IdleTTL changed %v", got)
	}
	res := h.join("s", "host", RoleParticipant)
	if res.Participant.Role != RoleHost || res.Snapshot.Version != v+1 || len(res.Snapshot.Rooms) != 1 || res.Snapshot.Rooms[0] != rs[0] {
		t.Errorf("rejoin = %+v", res)
	}
	_, err := h.hub.Join("s", Identity{UserID: ps[1].UserID})
	wantErr(t, err, ErrRemoved)
	if err := h.hub.Leave("s", res.Participant.ID, res.Participant.Epoch); err != nil {
		t.Fatal(err)
	}

	// A reconnecting participant is present: no expiry.
	p := h.join("s", "u00", RoleParticipant).Participant
	h.setState("s", p, StateReconnecting)
	if got := h.hub.Tick(h.now().Add(time.Hour)); len(got) != 0 {
		t.Fatalf("Tick expired a session with a reconnecting participant: %v", got)
	}
	if err := h.hub.Leave("s", p.ID, p.Epoch); err != nil {
		t.Fatal(err)
	}
	left := h.now()
	if got := h.hub.Tick(left.Add(time.Minute)); !slices.Equal(got, []string{"s"}) {
		t.Fatalf("Tick after IdleTTL changed %v", got)
	}
	_, err = h.hub.Snapshot("s")
	wantErr(t, err, ErrNotFound)
	_, err = h.hub.Stats("s")
	wantErr(t, err, ErrNotFound)
	if h.hub.Sessions() != 0 {
		t.Errorf("Sessions() = %d", h.hub.Sessions())
	}
	// A new incarnation: no ban, no host user, version 1.
	res = h.join("s", ps[1].UserID, RoleHost)
	if res.Snapshot.Version != 1 || res.Participant.Role != RoleHost || len(res.Snapshot.Rooms) != 0 {
		t.Errorf("new incarnation = %+v", res)
	}
}

// TestTickDefaults: the zero Options keep an idle session 5 minutes and
// warn 60 s before a room's end.
func TestTickDefaults(t *testing.T) {
	h := newHarness(t)
	p := h.join("s", "h", RoleHost).Participant
	rs := ok3(t)(h.hub.CreateBreakouts("s", actorOf(p), []RoomSpec{{Duration: 10 * time.Minute}, {Duration: 30 * time.Second}}))
	if !rs[0].WarnAt.Equal(rs[0].EndsAt.Add(-time.Minute)) || !rs[1].WarnAt.Equal(rs[1].CreatedAt) {
		t.Errorf("WarnAt = %v, %v", rs[0].WarnAt, rs[1].WarnAt)
	}
	if err := h.hub.Leave("s", p.ID, p.Epoch); err != nil {
		t.Fatal(err)
	}
	left := h.now() // one clock reading (a second) after the leave
	h.hub.Tick(left.Add(DefaultIdleTTL - 2*time.Second))
	if h.hub.Sessions() != 1 {
		t.Fatal("deleted before IdleTTL")
	}
	h.hub.Tick(left.Add(DefaultIdleTTL))
	if h.hub.Sessions() != 0 {
		t.Fatal("kept after IdleTTL")
	}
}
