package rooms

import (
	"errors"
	"fmt"
	"sync"
	"testing"
)

func TestParticipantByUser(t *testing.T) {
	h := newHarness(t)
	a := h.join("s", "ua", RoleHost).Participant
	b := h.join("s", "ub", RoleParticipant).Participant
	h.join("other", "uc", RoleParticipant)

	check := func(name, session, user string, want Participant) {
		t.Helper()
		got, err := h.hub.ParticipantByUser(session, user)
		if err != nil {
			t.Fatalf("%s: ParticipantByUser(%q, %q): %v", name, session, user, err)
		}
		if got != want {
			t.Fatalf("%s: got %+v\nwant %+v", name, got, want)
		}
	}
	check("first", "s", "ua", a)
	check("second", "s", "ub", b)

	for _, tc := range []struct{ name, session, user string }{
		{"unknown user", "s", "nobody"},
		{"user of another session", "s", "uc"},
		{"unknown session", "nowhere", "ua"},
		{"empty ids", "", ""},
	} {
		_, err := h.hub.ParticipantByUser(tc.session, tc.user)
		wantErr(t, err, ErrNotFound)
	}

	// The record as it is now: state, room, takeover.
	h.setState("s", b, StateReconnecting)
	b.State = StateReconnecting
	check("reconnecting keeps the record", "s", "ub", b)

	h.setRoom("s", b.ID, "breakout-1")
	b.Room = "breakout-1"
	check("room after a move", "s", "ub", b)

	b2 := h.join("s", "ub", RoleParticipant).Participant
	if b2.ID != b.ID || b2.Epoch != b.Epoch+1 || b2.Room != "breakout-1" {
		t.Fatalf("takeover gave %+v", b2)
	}
	check("after takeover", "s", "ub", b2)

	// Leaving removes the record; the session lives on for the others.
	if err := h.hub.Leave("s", b2.ID, b2.Epoch); err != nil {
		t.Fatal(err)
	}
	_, err := h.hub.ParticipantByUser("s", "ub")
	wantErr(t, err, ErrNotFound)
	check("others stay", "s", "ua", a)

	// A rejoin gets the record back, with the same id, in the main room.
	b3 := h.join("s", "ub", RoleParticipant).Participant
	if b3.ID != b.ID || b3.Room != MainRoom {
		t.Fatalf("rejoin gave %+v", b3)
	}
	check("after rejoin", "s", "ub", b3)

	// The last leave leaves the session idle; the user is gone all the same.
	if err := h.hub.Leave("other", h.mustByUser("other", "uc").ID, 1); err != nil {
		t.Fatal(err)
	}
	_, err = h.hub.ParticipantByUser("other", "uc")
	wantErr(t, err, ErrNotFound)
}

// TestParticipantByUserConcurrent looks users up while they join, take over
// and leave (run with -race): every answer is a whole record of that user,
// or ErrNotFound.
func TestParticipantByUserConcurrent(t *testing.T) {
	h := newHarness(t)
	const users, rounds = 4, 50
	var wg sync.WaitGroup
	for u := range users {
		user := fmt.Sprintf("u%d", u)
		wg.Go(func() {
			for range rounds {
				res, err := h.hub.Join("s", Identity{UserID: user})
				if err != nil {
					t.Error(err)
					return
				}
				_ = h.hub.Leave("s", res.Participant.ID, res.Participant.Epoch)
			}
		})
		wg.Go(func() {
			for range rounds * 2 {
				p, err := h.hub.ParticipantByUser("s", user)
				if err != nil {
					if !errors.Is(err, ErrNotFound) {
						t.Error(err)
						return
					}
					continue
				}
				if p.UserID != user || !idPattern.MatchString(p.ID) || p.Room != MainRoom || p.Epoch == 0 {
					t.Errorf("ParticipantByUser(%q) = %+v", user, p)
					return
				}
			}
		})
	}
	wg.Wait()
}

// mustByUser returns the record of user in session and fails the test on error.
func (h *harness) mustByUser(session, user string) Participant {
	h.t.Helper()
	p, err := h.hub.ParticipantByUser(session, user)
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}
