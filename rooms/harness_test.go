package rooms

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// t0 is the fake clock's first reading.
var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// harness is a Hub with a fake clock and an event recorder.
type harness struct {
	t   *testing.T
	hub *Hub

	ticks atomic.Int64 // fake clock: t0 + ticks seconds, one tick per reading

	mu     sync.Mutex
	events []Event // in delivery order
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t}
	h.hub = NewHub(Options{
		OnEvent: func(e Event) {
			h.mu.Lock()
			h.events = append(h.events, e)
			h.mu.Unlock()
		},
		Now: func() time.Time { return t0.Add(time.Duration(h.ticks.Add(1)) * time.Second) },
	})
	return h
}

// Events returns a copy of the events recorded so far.
func (h *harness) Events() []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Event(nil), h.events...)
}

// Last returns the last recorded event; it fails the test when there is none.
func (h *harness) Last() Event {
	h.t.Helper()
	ev := h.Events()
	if len(ev) == 0 {
		h.t.Fatal("no event recorded")
	}
	return ev[len(ev)-1]
}

// join joins user with role to session and fails the test on error.
func (h *harness) join(session, user string, role Role) JoinResult {
	h.t.Helper()
	res, err := h.hub.Join(session, Identity{UserID: user, Alias: "alias-" + user, Role: role})
	if err != nil {
		h.t.Fatalf("Join(%q, %q): %v", session, user, err)
	}
	return res
}

// setState sets the state of p and fails the test on error.
func (h *harness) setState(session string, p Participant, s State) {
	h.t.Helper()
	if err := h.hub.SetState(session, p.ID, p.Epoch, s); err != nil {
		h.t.Fatalf("SetState(%q, %q, %d, %q): %v", session, p.ID, p.Epoch, s, err)
	}
}

// setRoom puts participant pid in room, as the breakout code will. It
// reaches into the session because this version has no API to move.
func (h *harness) setRoom(session, pid, room string) {
	h.t.Helper()
	s, err := h.hub.lockSession(session)
	if err != nil {
		h.t.Fatal(err)
	}
	defer s.mu.Unlock()
	m := s.byID[pid]
	if m == nil || !m.present {
		h.t.Fatalf("setRoom: no participant %q", pid)
	}
	m.p.Room = room
}

// version returns the session's current version.
func (h *harness) version(session string) uint64 {
	h.t.Helper()
	snap, err := h.hub.Snapshot(session)
	if err != nil {
		h.t.Fatal(err)
	}
	return snap.Version
}

// wantErr fails the test unless errors.Is(err, want).
func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want one wrapping %v", err, want)
	}
}
