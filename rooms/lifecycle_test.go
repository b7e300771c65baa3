package rooms

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestEndSession(t *testing.T) {
	h := newHarnessWith(t, Options{EndedTTL: time.Hour})
	hp, ps := h.crowd(3)
	mod := h.join("s", "mod", RoleModerator).Participant
	rs := h.rooms(actorOf(hp), 2, 0)
	h.assign(actorOf(hp), Assignment{Mode: AssignBalanced})
	ok(h.hub.Move("s", actorOf(hp), ps[0].ID, rs[1].ID))(t)
	ok(h.hub.Remove("s", actorOf(hp), ps[2].ID, ""))(t)
	h.join("s", ps[1].UserID, RoleParticipant) // a takeover is not a join
	h.hub.Tick(h.now())

	_, err := h.hub.EndSession("s", actorOf(mod))
	wantForbidden(t, err, ActionEndSession)
	v := h.version("s")
	ok(h.hub.EndSession("s", actorOf(hp)))(t)
	if e := h.Last(); !reflect.DeepEqual(e, Event{Session: "s", Version: v + 1, Kind: EventSessionEnded, Actor: hp.ID}) {
		t.Errorf("event = %+v", e)
	}
	if h.hub.Participants() != 0 {
		t.Errorf("Participants() = %d after the end", h.hub.Participants())
	}
	snap := ok(h.hub.Snapshot("s"))(t)
	if !snap.Ended || len(snap.Participants) != 0 || len(snap.Rooms) != 0 || snap.Version != v+1 {
		t.Errorf("snapshot = %+v", snap)
	}
	if _, aud := ok2(t)(h.hub.audiences("s")); len(aud) != 0 {
		t.Errorf("audiences = %v", aud)
	}

	// Every join and every operation: ErrEnded.
	_, err = h.hub.Join("s", Identity{UserID: "newcomer"})
	wantErr(t, err, ErrEnded)
	_, err = h.hub.Join("s", Identity{UserID: "host", Role: RoleHost})
	wantErr(t, err, ErrEnded)
	a := actorOf(hp)
	for name, op := range map[string]func() error{
		"SetState": func() error { return h.hub.SetState("s", hp.ID, hp.Epoch, StateConnected) },
		"Leave":    func() error { return h.hub.Leave("s", hp.ID, hp.Epoch) },
		"CreateBreakouts": func() error {
			_, _, err := h.hub.CreateBreakouts("s", Actor{Role: RoleHost}, []RoomSpec{{}})
			return err
		},
		"Assign": func() error {
			_, _, err := h.hub.Assign("s", a, Assignment{Mode: AssignBalanced})
			return err
		},
		"SetSelfSelect": func() error { _, err := h.hub.SetSelfSelect("s", a, true); return err },
		"Move":          func() error { _, err := h.hub.Move("s", a, ps[0].ID, MainRoom); return err },
		"CloseRoom":     func() error { _, err := h.hub.CloseRoom("s", a, rs[0].ID); return err },
		"CloseAllRooms": func() error { _, err := h.hub.CloseAllRooms("s", a); return err },
		"Broadcast":     func() error { _, err := h.hub.Broadcast("s", a, "x"); return err },
		"SetMuted":      func() error { _, err := h.hub.SetMuted("s", a, ps[0].ID, true); return err },
		"RequestUnmute": func() error { _, err := h.hub.RequestUnmute("s", a, ps[0].ID); return err },
		"Remove":        func() error { _, err := h.hub.Remove("s", a, ps[0].ID, ""); return err },
		"SetRole":       func() error { _, err := h.hub.SetRole("s", a, ps[0].ID, RoleModerator); return err },
		"SetHand":       func() error { _, err := h.hub.SetHand("s", a, hp.ID, true); return err },
		"SetDeafened":   func() error { _, err := h.hub.SetDeafened("s", a, true); return err },
		"Alert":         func() error { _, err := h.hub.Alert("s", a, ""); return err },
		"EndSession":    func() error { _, err := h.hub.EndSession("s", Actor{Role: RoleHost}); return err },
	} {
		if err := op(); err == nil {
			t.Errorf("%s after the end: no error", name)
		} else {
			wantErr(t, err, ErrEnded)
		}
	}
	if h.version("s") != v+1 {
		t.Error("the ended session changed")
	}

	st := ok(h.hub.Stats("s"))(t)
	want := SessionStats{
		Session: "s", Created: snap.Created, Ended: st.Ended,
		PeakParticipants: 5, // host, 3, moderator
		TotalJoins:       5,
		BreakoutsCreated: 2,
		Moves:            4, // three assigned, one moved
		Removals:         1,
		Version:          v + 1,
	}
	if st != want || st.Ended.IsZero() {
		t.Errorf("stats = %+v\nwant    %+v", st, want)
	}

	// Kept EndedTTL, then deleted; a Join then starts a new session.
	if got := h.hub.Tick(st.Ended.Add(time.Hour - time.Second)); len(got) != 0 {
		t.Errorf("Tick before EndedTTL changed %v", got)
	}
	if got := h.hub.Tick(st.Ended.Add(time.Hour)); !slices.Equal(got, []string{"s"}) {
		t.Errorf("Tick after EndedTTL changed %v", got)
	}
	_, err = h.hub.Stats("s")
	wantErr(t, err, ErrNotFound)
	if res := h.join("s", "newcomer", RoleParticipant); res.Snapshot.Version != 1 || res.Snapshot.Ended {
		t.Errorf("new session = %+v", res.Snapshot)
	}
}

func TestStats(t *testing.T) {
	h := newHarness(t)
	hp, ps := h.crowd(4)
	st := ok(h.hub.Stats("s"))(t)
	if st.PeakParticipants != 5 || st.TotalJoins != 5 || st.Moves != 0 || !st.Ended.IsZero() || st.Version != h.version("s") {
		t.Errorf("stats = %+v", st)
	}
	for _, p := range ps[:3] {
		if err := h.hub.Leave("s", p.ID, p.Epoch); err != nil {
			t.Fatal(err)
		}
	}
	h.join("s", ps[0].UserID, RoleParticipant) // a rejoin is a join
	h.join("s", ps[0].UserID, RoleParticipant) // a takeover is not
	rs := h.rooms(actorOf(hp), 2, 0)
	h.assign(actorOf(hp), Assignment{Mode: AssignBalanced}) // two moves
	ok(h.hub.CloseAllRooms("s", actorOf(hp)))(t)            // two more
	st = ok(h.hub.Stats("s"))(t)
	if st.PeakParticipants != 5 || st.TotalJoins != 6 || st.BreakoutsCreated != len(rs) || st.Moves != 4 || st.Removals != 0 {
		t.Errorf("stats = %+v", st)
	}
	_, err := h.hub.Stats("nope")
	wantErr(t, err, ErrNotFound)
}

// An idle session that nobody ended is told to OnExpire once, with its
// statistics, when Tick deletes it; an ended one is not (its end was an
// event already).
func TestOnExpireTellsIdleDeletionsOnly(t *testing.T) {
	var expired []SessionStats
	h := newHarnessWith(t, Options{OnExpire: func(st SessionStats) { expired = append(expired, st) }})
	idle := h.join("idle", "u", RoleHost).Participant
	h.join("idle", "v", RoleParticipant)
	ended := h.join("ended", "w", RoleHost).Participant
	if err := h.hub.Leave("idle", idle.ID, idle.Epoch); err != nil {
		t.Fatal(err)
	}
	v := ok(h.hub.ParticipantByUser("idle", "v"))(t)
	if err := h.hub.Leave("idle", v.ID, v.Epoch); err != nil {
		t.Fatal(err)
	}
	if _, err := h.hub.EndSession("ended", Actor{ParticipantID: ended.ID}); err != nil {
		t.Fatal(err)
	}
	at := h.now().Add(DefaultIdleTTL)
	if changed := h.hub.Tick(at); !slices.Equal(changed, []string{"idle"}) {
		t.Fatalf("Tick after IdleTTL changed %v, want [idle]", changed)
	}
	if len(expired) != 1 || expired[0].Session != "idle" || expired[0].TotalJoins != 2 || expired[0].PeakParticipants != 2 ||
		!expired[0].Ended.Equal(at) {
		t.Fatalf("expired %+v, want idle's statistics ended at %v", expired, at)
	}
	h.hub.Tick(at.Add(DefaultEndedTTL)) // deletes the ended session: no OnExpire
	h.hub.Tick(at.Add(2 * DefaultEndedTTL))
	if len(expired) != 1 || h.hub.Sessions() != 0 {
		t.Errorf("after the ended session's deletion: expired %d, sessions %d; want 1, 0", len(expired), h.hub.Sessions())
	}
}
