package rooms

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestConcurrentJoinRace: two connections of one user join a fresh session
// at the same instant, 50 times. Every round ends with one record, two
// distinct epochs, and exactly one result that created the record.
func TestConcurrentJoinRace(t *testing.T) {
	const rounds = 50
	h := newHarness(t)
	for round := range rounds {
		session := fmt.Sprintf("race-%d", round)
		var (
			start   = make(chan struct{})
			wg      sync.WaitGroup
			results [2]JoinResult
			errs    [2]error
		)
		for i := range results {
			wg.Go(func() {
				<-start
				results[i], errs[i] = h.hub.Join(session, Identity{UserID: "u", Role: RoleHost})
			})
		}
		close(start)
		wg.Wait()

		for _, err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		a, b := results[0], results[1]
		if a.Replaced == b.Replaced {
			t.Fatalf("round %d: Replaced = %v, %v; want exactly one false", round, a.Replaced, b.Replaced)
		}
		if a.Replaced {
			a, b = b, a // a created the record, b took it over
		}
		if a.Participant.ID != b.Participant.ID || a.Participant.Epoch == b.Participant.Epoch ||
			b.PrevEpoch != a.Participant.Epoch || b.Participant.Role != RoleHost {
			t.Fatalf("round %d: results %+v and %+v", round, a, b)
		}
		snap, err := h.hub.Snapshot(session)
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.Participants) != 1 || snap.Version != 2 || snap.Participants[0].Epoch != b.Participant.Epoch {
			t.Fatalf("round %d: snapshot %+v", round, snap)
		}
	}
	if h.hub.Participants() != rounds || h.hub.Sessions() != rounds {
		t.Fatalf("Participants, Sessions = %d, %d; want %d, %d", h.hub.Participants(), h.hub.Sessions(), rounds, rounds)
	}
}

// TestEventsInVersionOrder: under concurrent joins, takeovers, state changes
// and leaves over a few sessions, each session's events arrive with versions
// 1, 2, 3, ... and replaying them gives the final snapshot.
func TestEventsInVersionOrder(t *testing.T) {
	const (
		sessions = 3
		workers  = 8
		loops    = 40
	)
	h := newHarness(t)
	for s := range sessions { // an anchor keeps each session alive
		h.join(fmt.Sprint("s", s), "anchor", RoleHost)
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range loops {
				session := fmt.Sprint("s", (w+i)%sessions)
				user := fmt.Sprint("u", w%4) // workers share users: takeovers
				res, err := h.hub.Join(session, Identity{UserID: user})
				if err != nil {
					t.Error(err)
					return
				}
				p := res.Participant
				_ = h.hub.SetState(session, p.ID, p.Epoch, StateConnected) // may be stale
				if i%3 == 0 {
					_ = h.hub.Leave(session, p.ID, p.Epoch) // may be stale or gone
				}
				_, _, _ = h.hub.audiences(session)
			}
		})
	}
	wg.Wait()

	replayed := map[string]map[string]Participant{}
	last := map[string]uint64{}
	for _, e := range h.Events() {
		if e.Version != last[e.Session]+1 {
			t.Fatalf("session %s: event version %d after %d", e.Session, e.Version, last[e.Session])
		}
		last[e.Session] = e.Version
		if replayed[e.Session] == nil {
			replayed[e.Session] = map[string]Participant{}
		}
		if e.Kind == EventLeft {
			delete(replayed[e.Session], e.Participant.ID)
		} else {
			replayed[e.Session][e.Participant.ID] = e.Participant
		}
	}
	total := 0
	for s := range sessions {
		session := fmt.Sprint("s", s)
		snap, err := h.hub.Snapshot(session)
		if err != nil {
			t.Fatal(err)
		}
		if snap.Version != last[session] {
			t.Errorf("%s: snapshot version %d, last event %d", session, snap.Version, last[session])
		}
		if len(snap.Participants) != len(replayed[session]) {
			t.Errorf("%s: snapshot has %d participants, replay %d", session, len(snap.Participants), len(replayed[session]))
		}
		for _, p := range snap.Participants {
			if replayed[session][p.ID] != p {
				t.Errorf("%s: snapshot %+v, replay %+v", session, p, replayed[session][p.ID])
			}
		}
		total += len(snap.Participants)
	}
	if h.hub.Participants() != total {
		t.Errorf("Participants() = %d, snapshots hold %d", h.hub.Participants(), total)
	}
}

// TestChurnDeletesAndRecreates: users join and leave one session so often
// that Tick (with an IdleTTL shorter than a clock reading) deletes it and
// it is created again while others race for it. Each incarnation's events
// run 1, 2, 3, ...; a new one starts only after the previous one emptied;
// the counters end at zero.
func TestChurnDeletesAndRecreates(t *testing.T) {
	const (
		workers = 6
		loops   = 200
	)
	h := newHarnessWith(t, Options{IdleTTL: time.Nanosecond})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range loops {
				res, err := h.hub.Join("churn", Identity{UserID: fmt.Sprint("u", w)})
				if err != nil {
					t.Error(err)
					return
				}
				if err := h.hub.Leave("churn", res.Participant.ID, res.Participant.Epoch); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	done := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() { // readers and Tick race the deletions
		for {
			select {
			case <-done:
				return
			default:
			}
			h.hub.Tick(h.now())
			if _, err := h.hub.Snapshot("churn"); err != nil && !errors.Is(err, ErrNotFound) {
				t.Error(err)
			}
			if _, _, err := h.hub.audiences("churn"); err != nil && !errors.Is(err, ErrNotFound) {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	close(done)
	readers.Wait()
	h.hub.Tick(h.now())

	var version uint64
	present, incarnations := 0, 0
	for i, e := range h.Events() {
		switch {
		case e.Version == version+1:
		case e.Version == 1 && present == 0:
		default:
			t.Fatalf("event %d: version %d after %d with %d present", i, e.Version, version, present)
		}
		if e.Version == 1 {
			incarnations++
		}
		version = e.Version
		switch e.Kind {
		case EventJoined:
			present++
		case EventLeft:
			present--
		}
	}
	if present != 0 || h.hub.Sessions() != 0 || h.hub.Participants() != 0 {
		t.Fatalf("present %d, Sessions %d, Participants %d; want 0", present, h.hub.Sessions(), h.hub.Participants())
	}
	t.Logf("%d incarnations", incarnations)
}
