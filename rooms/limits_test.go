package rooms

import (
	"errors"
	"fmt"
	"sync"
	"testing"
)

// The bounds on records and sessions refuse new ones with their own error,
// never a takeover, and free a place when someone leaves.
func TestJoinBounds(t *testing.T) {
	h := newTestHub(Options{MaxSessionParticipants: 3, MaxParticipants: 5, MaxSessions: 2})
	join := func(session, user string) (JoinResult, error) {
		return h.Join(session, Identity{UserID: user, Role: RoleParticipant})
	}
	var a JoinResult
	for i := range 3 {
		res, err := join("s1", fmt.Sprint("u", i))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			a = res
		}
	}
	if _, err := join("s1", "u3"); !errors.Is(err, ErrSessionFull) {
		t.Errorf("fourth user of s1: %v, want ErrSessionFull", err)
	}
	if res, err := join("s1", "u0"); err != nil || !res.Replaced {
		t.Errorf("takeover in a full session: %v, replaced %v", err, res.Replaced)
	} else {
		a = res
	}
	for i := range 2 {
		if _, err := join("s2", fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := join("s2", "v2"); !errors.Is(err, ErrServerFull) {
		t.Errorf("sixth record on the hub: %v, want ErrServerFull", err)
	}
	if _, err := join("s3", "w0"); !errors.Is(err, ErrServerFull) {
		t.Errorf("third session: %v, want ErrServerFull", err)
	}
	if h.Participants() != 5 || h.Sessions() != 2 {
		t.Errorf("participants %d sessions %d after refusals, want 5 and 2", h.Participants(), h.Sessions())
	}
	if err := h.Leave("s1", a.Participant.ID, a.Participant.Epoch); err != nil {
		t.Fatal(err)
	}
	if _, err := join("s2", "v2"); err != nil {
		t.Errorf("a join after a leave freed a place: %v", err)
	}
}

// Concurrent joins never overshoot the server-wide bound.
func TestJoinBoundsConcurrent(t *testing.T) {
	h := newTestHub(Options{MaxParticipants: 50, MaxSessionParticipants: -1})
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, full := 0, 0
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := h.Join(fmt.Sprint("s", i%7), Identity{UserID: fmt.Sprint("u", i)})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ErrServerFull):
				full++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ok != 50 || full != 150 || h.Participants() != 50 {
		t.Errorf("joined %d, refused %d, participants %d; want 50, 150, 50", ok, full, h.Participants())
	}
}
