package rooms

import (
	"slices"
	"testing"
	"time"
)

// TestScheduleCloseAllFires: a close of all rooms in 30 s stores the
// deadline (one event, in the snapshot), Tick does nothing a nanosecond
// before it and at it closes every room with Actor "": one EventRoomsClosed,
// everyone back in main, the deadline cleared.
func TestScheduleCloseAllFires(t *testing.T) {
	h := newHarness(t)
	hp, ps := h.crowd(4)
	rs := h.rooms(actorOf(hp), 2, 0)
	h.assign(actorOf(hp), Assignment{Mode: AssignBalanced}) // 2/2, the host in main
	v := h.version("s")
	n := len(h.Events())

	before := h.ticks.Load()
	deadline, v1, err := h.hub.ScheduleCloseAll("s", actorOf(hp), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// One clock reading: the next whole second, plus 30 s.
	if want := t0.Add(time.Duration(before+1)*time.Second + 30*time.Second); !deadline.Equal(want) || v1 != v+1 {
		t.Fatalf("deadline, version = %v, %d; want %v, %d", deadline, v1, want, v+1)
	}
	if ev := h.Events()[n:]; len(ev) != 1 || ev[0].Kind != EventRoomsClosing || ev[0].Version != v+1 ||
		!ev[0].ClosingAt.Equal(deadline) || ev[0].Actor != hp.ID || len(ev[0].Rooms) != 0 {
		t.Fatalf("events = %+v", ev)
	}
	if snap := ok(h.hub.Snapshot("s"))(t); !snap.ClosingAt.Equal(deadline) || len(snap.Rooms) != 2 {
		t.Fatalf("snapshot: closingAt %v, %d rooms", snap.ClosingAt, len(snap.Rooms))
	}

	if got := h.hub.Tick(deadline.Add(-time.Nanosecond)); len(got) != 0 || h.version("s") != v+1 {
		t.Fatalf("early Tick changed %v", got)
	}
	if got := h.hub.Tick(deadline); !slices.Equal(got, []string{"s"}) {
		t.Fatalf("Tick at the deadline changed %v", got)
	}
	ev := h.Events()[n+1:]
	if len(ev) != 1 {
		t.Fatalf("%d events at the deadline, want 1: %+v", len(ev), ev)
	}
	e := ev[0]
	if e.Kind != EventRoomsClosed || e.Version != v+2 || e.Actor != "" || len(e.Rooms) != 2 ||
		e.Rooms[0].ID != rs[0].ID || e.Rooms[1].ID != rs[1].ID || len(e.Moves) != len(ps) {
		t.Fatalf("close = %+v", e)
	}
	for _, p := range e.Moves {
		if p.Room != MainRoom || h.roomOf(p.ID) != MainRoom {
			t.Errorf("not back in main: %+v", p)
		}
	}
	snap := ok(h.hub.Snapshot("s"))(t)
	if !snap.ClosingAt.IsZero() || len(snap.Rooms) != 0 {
		t.Errorf("after the close: closingAt %v, rooms %+v", snap.ClosingAt, snap.Rooms)
	}
	if got := h.hub.Tick(deadline.Add(time.Minute)); len(got) != 0 {
		t.Errorf("a later Tick changed %v", got)
	}
	h.wantRoomAudiences()
}

// TestScheduleCloseAllWithNobodyThere: the rooms close at the deadline
// although the host who asked, and everyone else, left before it.
func TestScheduleCloseAllWithNobodyThere(t *testing.T) {
	h := newHarness(t)
	hp, ps := h.crowd(2)
	rs := h.rooms(actorOf(hp), 1, 0)
	h.assign(actorOf(hp), Assignment{Mode: AssignBalanced})
	deadline, _, err := h.hub.ScheduleCloseAll("s", actorOf(hp), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append([]Participant{hp}, ps...) {
		if err := h.hub.Leave("s", p.ID, p.Epoch); err != nil {
			t.Fatal(err)
		}
	}
	v := h.version("s")
	if got := h.hub.Tick(deadline); !slices.Equal(got, []string{"s"}) {
		t.Fatalf("Tick changed %v", got)
	}
	e := h.Last()
	if e.Kind != EventRoomsClosed || e.Version != v+1 || e.Actor != "" || len(e.Rooms) != 1 || e.Rooms[0].ID != rs[0].ID || len(e.Moves) != 0 {
		t.Fatalf("close = %+v", e)
	}
	if snap := ok(h.hub.Snapshot("s"))(t); len(snap.Rooms) != 0 || !snap.ClosingAt.IsZero() {
		t.Errorf("snapshot = %+v", snap)
	}
}

// TestCloseAllBoundsAndPermission: delays outside 0..MaxCloseAllDelay are
// invalid, a participant may neither schedule nor cancel, a moderator and a
// host integration may; nothing to count down to or to cancel is
// ErrNotFound; none of the refusals changes anything.
func TestCloseAllBoundsAndPermission(t *testing.T) {
	h := newHarness(t)
	hp, ps := h.crowd(2)
	mod := h.join("s", "mod", RoleModerator).Participant
	host := actorOf(hp)

	refuse := func(what string, err, want error) {
		t.Helper()
		n := len(h.Events())
		wantErr(t, err, want)
		if len(h.Events()) != n {
			t.Fatalf("%s: emitted %+v", what, h.Events()[n:])
		}
		if snap := ok(h.hub.Snapshot("s"))(t); !snap.ClosingAt.IsZero() {
			t.Fatalf("%s: closingAt %v", what, snap.ClosingAt)
		}
	}
	// No room open: a countdown is refused, an immediate close is a no-op.
	_, _, err := h.hub.ScheduleCloseAll("s", host, time.Second)
	refuse("schedule with no room", err, ErrNotFound)
	v := h.version("s")
	if _, got, err := h.hub.ScheduleCloseAll("s", host, 0); err != nil || got != v {
		t.Fatalf("immediate close of no room: version %d, %v; want %d, nil", got, err, v)
	}
	_, err = h.hub.CancelCloseAll("s", host)
	refuse("cancel with nothing pending", err, ErrNotFound)

	h.rooms(host, 1, 0)
	for _, d := range []time.Duration{-time.Nanosecond, MaxCloseAllDelay + time.Nanosecond, -MaxCloseAllDelay} {
		_, _, err := h.hub.ScheduleCloseAll("s", host, d)
		refuse("delay "+d.String(), err, ErrInvalid)
	}
	_, _, err = h.hub.ScheduleCloseAll("s", actorOf(ps[0]), time.Second)
	refuse("participant schedules", err, ErrForbidden)
	_, _, err = h.hub.ScheduleCloseAll("s", actorOf(ps[0]), 0)
	refuse("participant closes now", err, ErrForbidden)
	_, _, err = h.hub.ScheduleCloseAll("s", Actor{Role: RoleParticipant}, time.Second)
	refuse("participant integration schedules", err, ErrForbidden)

	// The longest delay is accepted; a moderator may schedule, and
	// scheduling again replaces the deadline.
	d1, _, err := h.hub.ScheduleCloseAll("s", actorOf(mod), MaxCloseAllDelay)
	if err != nil {
		t.Fatal(err)
	}
	d2, _, err := h.hub.ScheduleCloseAll("s", Actor{Role: RoleHost}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if e := h.Last(); e.Kind != EventRoomsClosing || !e.ClosingAt.Equal(d2) || e.Actor != "" || !d2.Before(d1) {
		t.Fatalf("rescheduled: %+v (first deadline %v)", e, d1)
	}
	// A participant may not cancel; the deadline stays.
	n := len(h.Events())
	_, err = h.hub.CancelCloseAll("s", actorOf(ps[1]))
	wantErr(t, err, ErrForbidden)
	if snap := ok(h.hub.Snapshot("s"))(t); !snap.ClosingAt.Equal(d2) || len(h.Events()) != n {
		t.Fatalf("a refused cancel changed the deadline to %v", snap.ClosingAt)
	}
	// A moderator may.
	v = h.version("s")
	if got, err := h.hub.CancelCloseAll("s", actorOf(mod)); err != nil || got != v+1 {
		t.Fatalf("cancel: %d, %v", got, err)
	}
}

// TestCancelCloseAll: a cancelled countdown closes nothing at its deadline;
// the rooms stay with their own timers, and a second cancel (too late, or
// twice) is ErrNotFound.
func TestCancelCloseAll(t *testing.T) {
	h := newHarness(t)
	hp, _ := h.crowd(2)
	h.rooms(actorOf(hp), 2, 0)
	h.assign(actorOf(hp), Assignment{Mode: AssignBalanced})
	deadline, _, err := h.hub.ScheduleCloseAll("s", actorOf(hp), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	v := h.version("s")
	if got, err := h.hub.CancelCloseAll("s", actorOf(hp)); err != nil || got != v+1 {
		t.Fatalf("cancel: %d, %v", got, err)
	}
	if e := h.Last(); e.Kind != EventRoomsClosingCancelled || e.Version != v+1 || e.Actor != hp.ID || !e.ClosingAt.IsZero() {
		t.Fatalf("cancel event = %+v", e)
	}
	if snap := ok(h.hub.Snapshot("s"))(t); !snap.ClosingAt.IsZero() || len(snap.Rooms) != 2 {
		t.Fatalf("after cancel: closingAt %v, %d rooms", snap.ClosingAt, len(snap.Rooms))
	}
	if got := h.hub.Tick(deadline.Add(time.Hour)); len(got) != 0 || h.version("s") != v+1 {
		t.Fatalf("Tick after a cancel changed %v", got)
	}
	_, err = h.hub.CancelCloseAll("s", actorOf(hp))
	wantErr(t, err, ErrNotFound)

	// Fired already: the cancel comes too late.
	deadline, _, err = h.hub.ScheduleCloseAll("s", actorOf(hp), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	h.hub.Tick(deadline)
	_, err = h.hub.CancelCloseAll("s", actorOf(hp))
	wantErr(t, err, ErrNotFound)
	if snap := ok(h.hub.Snapshot("s"))(t); len(snap.Rooms) != 0 {
		t.Errorf("rooms still open: %+v", snap.Rooms)
	}
}

// TestCloseAllPendingRules: a room opened during the countdown closes at
// the same deadline; a room whose own end comes first closes then, alone;
// a room's own warning is not sent while the deadline comes before its end;
// an immediate close, closing the last room by hand, and ending the session
// each clear the deadline.
func TestCloseAllPendingRules(t *testing.T) {
	h := newHarnessWith(t, Options{WarnBefore: 60 * time.Second})
	hp, _ := h.crowd(3)
	host := actorOf(hp)
	early := ok3(t)(h.hub.CreateBreakouts("s", host, []RoomSpec{{Duration: 10 * time.Second}, {Duration: 100 * time.Second}}))
	deadline, _, err := h.hub.ScheduleCloseAll("s", host, 50*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	late := ok3(t)(h.hub.CreateBreakouts("s", host, []RoomSpec{{}}))[0] // opened during the countdown
	h.assign(host, Assignment{Mode: AssignBalanced})

	// The 10 s room ends on its own timer, before the deadline (no warning
	// either: it was due at once, and a Tick finds it ended).
	h.hub.Tick(early[0].EndsAt)
	if e := h.Last(); e.Kind != EventRoomsClosed || len(e.Rooms) != 1 || e.Rooms[0].ID != early[0].ID {
		t.Fatalf("own timer: %+v", e)
	}
	// The 100 s room would warn at 40 s, but the deadline (≈ 50 s) comes
	// first: no warning.
	if !early[1].WarnAt.Before(deadline) || !deadline.Before(early[1].EndsAt) {
		t.Fatalf("test setup: warn %v, deadline %v, end %v", early[1].WarnAt, deadline, early[1].EndsAt)
	}
	v := h.version("s")
	if got := h.hub.Tick(early[1].WarnAt); len(got) != 0 || h.version("s") != v {
		t.Fatalf("warned although the deadline comes first: %+v", h.Last())
	}
	// At the deadline the 100 s room and the late room close together.
	h.hub.Tick(deadline)
	e := h.Last()
	if e.Kind != EventRoomsClosed || e.Version != v+1 || len(e.Rooms) != 2 || e.Rooms[0].ID != early[1].ID || e.Rooms[1].ID != late.ID {
		t.Fatalf("deadline close = %+v", e)
	}

	// A room created after the rooms closed knows nothing of that deadline.
	rs := h.rooms(host, 2, 0)
	if snap := ok(h.hub.Snapshot("s"))(t); !snap.ClosingAt.IsZero() {
		t.Fatalf("closingAt %v outlived its rooms", snap.ClosingAt)
	}
	// Closing the last room by hand clears a pending deadline.
	deadline, _, err = h.hub.ScheduleCloseAll("s", host, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ok(h.hub.CloseRoom("s", host, rs[0].ID))(t)
	if snap := ok(h.hub.Snapshot("s"))(t); !snap.ClosingAt.Equal(deadline) {
		t.Fatalf("closing one of two rooms changed the deadline to %v", snap.ClosingAt)
	}
	ok(h.hub.CloseRoom("s", host, rs[1].ID))(t)
	if snap := ok(h.hub.Snapshot("s"))(t); !snap.ClosingAt.IsZero() {
		t.Fatalf("closingAt %v with no room open", snap.ClosingAt)
	}
	v = h.version("s")
	if got := h.hub.Tick(deadline); len(got) != 0 || h.version("s") != v {
		t.Fatalf("a cleared deadline fired: %v", got)
	}

	// A delay of 0 while a countdown runs closes now and clears it.
	h.rooms(host, 1, 0)
	if _, _, err := h.hub.ScheduleCloseAll("s", host, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.hub.ScheduleCloseAll("s", host, 0); err != nil {
		t.Fatal(err)
	}
	if e := h.Last(); e.Kind != EventRoomsClosed || e.Actor != hp.ID || len(e.Rooms) != 1 {
		t.Fatalf("immediate close = %+v", e)
	}
	if snap := ok(h.hub.Snapshot("s"))(t); !snap.ClosingAt.IsZero() || len(snap.Rooms) != 0 {
		t.Fatalf("after an immediate close: %+v", snap)
	}

	// Ending the session clears it too.
	h.rooms(host, 1, 0)
	if _, _, err := h.hub.ScheduleCloseAll("s", host, time.Minute); err != nil {
		t.Fatal(err)
	}
	ok(h.hub.EndSession("s", host))(t)
	if snap := ok(h.hub.Snapshot("s"))(t); !snap.ClosingAt.IsZero() {
		t.Fatalf("ended session: closingAt %v", snap.ClosingAt)
	}
}
