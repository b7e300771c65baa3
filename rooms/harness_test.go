package rooms

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testStoreEnv names the environment variable that runs this package's
// tests on a Hub with a Store: "memory" (a MemoryStore per Hub) runs every
// test through the Store seam: each change written and read back by
// version, events delivered after the write. Unset: no Store, the default.
const testStoreEnv = "ROOMS_TEST_STORE"

// newTestHub is NewHub with the Store testStoreEnv asks for.
func newTestHub(o Options) *Hub {
	switch v := os.Getenv(testStoreEnv); v {
	case "":
	case "memory":
		o.Store = NewMemoryStore()
	default:
		panic(testStoreEnv + "=" + v + ": want memory or nothing")
	}
	return NewHub(o)
}

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
	return newHarnessWith(t, Options{})
}

// newHarnessWith is newHarness with o's timer settings (WarnBefore,
// IdleTTL, EndedTTL); its OnEvent and Now are the harness's.
func newHarnessWith(t *testing.T, o Options) *harness {
	t.Helper()
	h := &harness{t: t}
	o.OnEvent = func(e Event) {
		h.mu.Lock()
		h.events = append(h.events, e)
		h.mu.Unlock()
	}
	o.Now = h.now
	h.hub = newTestHub(o)
	return h
}

// now reads the fake clock, which advances one second per reading.
func (h *harness) now() time.Time {
	return t0.Add(time.Duration(h.ticks.Add(1)) * time.Second)
}

// advance moves the fake clock forward by d (whole seconds).
func (h *harness) advance(d time.Duration) {
	h.ticks.Add(int64(d / time.Second))
}

// expire runs Tick far enough in the future that every idle or ended
// session is deleted.
func (h *harness) expire() {
	h.t.Helper()
	h.advance(DefaultEndedTTL + DefaultIdleTTL)
	h.hub.Tick(h.now())
}

// actorOf is the Actor of participant p.
func actorOf(p Participant) Actor { return Actor{ParticipantID: p.ID} }

// ok takes a (value, error) result and returns a function that fails the
// test on the error and otherwise returns the value:
// v := ok(h.hub.Move(...))(t).
func ok[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
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

// setRoom puts participant pid in room, which need not be an open breakout
// room: it reaches into the session, for audience tables.
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
