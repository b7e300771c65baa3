package signaling

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/sfu"
)

// TestSyncAudiencesFollowsTheSession drives a session through breakouts,
// moves, an assignment, a mute, a deafen, a leave, its end and a new
// incarnation, feeding its router with syncAudiences after each change as
// the server does (changes only, or everything when the router needs it),
// and checks after each that every peer's slots hold only participants it
// may hear under Hub.Routing, as many as it may hear up to K.
//
// Its peers are real PeerConnections that never negotiate: selection fills
// slots whether or not media flows.
func TestSyncAudiencesFollowsTheSession(t *testing.T) {
	e, err := sfu.NewEngine(sfu.Config{LoopbackOnly: true, SelectInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	cfg := Config{Engine: e, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	cfg.defaults()
	// NewServer without its timer goroutine; the hub deletes sessions at
	// the first Tick after they empty or end.
	s := &Server{cfg: cfg, log: cfg.Logger, sessions: map[string]*session{}, conns: map[*conn]struct{}{},
		stopping: make(chan struct{})}
	s.hub = rooms.NewHub(rooms.Options{OnEvent: s.onEvent, IdleTTL: time.Nanosecond, EndedTTL: time.Nanosecond})
	sess, err := s.acquire("s")
	if err != nil {
		t.Fatal(err)
	}
	defer s.release(sess)

	peers := map[string]*sfu.Peer{} // by participant id
	join := func(user string, role rooms.Role) rooms.Participant {
		t.Helper()
		res, err := s.hub.Join("s", rooms.Identity{UserID: user, Role: role})
		if err != nil {
			t.Fatal(err)
		}
		sess.observe(res.Snapshot.Created)
		if peers[res.Participant.ID] == nil {
			p, err := sess.router.AddPeer(res.Participant.ID, sfu.PeerHandlers{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Close() })
			peers[res.Participant.ID] = p
		}
		return res.Participant
	}
	sync := func(what string) {
		t.Helper()
		s.syncAudiences(sess)
		v, rt, err := s.hub.Routing("s")
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !sess.routed || sess.routeCursor.Version() != v {
			t.Fatalf("%s: the router was given version %d (accepted %v), the session is at %d",
				what, sess.routeCursor.Version(), sess.routed, v)
		}
		for id, p := range peers {
			audible := 0
			for other := range peers {
				if other != id && rt.Speak[other] != "" && rt.Speak[other] == rt.Hear[id] {
					audible++
				}
			}
			filled := 0
			for i, src := range p.Slots() {
				if src == "" {
					continue
				}
				filled++
				if src == id || rt.Speak[src] == "" || rt.Speak[src] != rt.Hear[id] {
					t.Fatalf("%s: %s (hears %q) has %s (heard in %q) in slot %d",
						what, id, rt.Hear[id], src, rt.Speak[src], i)
				}
			}
			if want := min(audible, s.cfg.Slots); filled != want {
				t.Fatalf("%s: %s hears %d sources, want %d", what, id, filled, want)
			}
		}
	}

	host := join("host", rooms.RoleHost)
	hostActor := rooms.Actor{ParticipantID: host.ID}
	var ps []rooms.Participant
	for i := range 8 {
		ps = append(ps, join(fmt.Sprint("u", i), rooms.RoleParticipant))
	}
	sync("everyone in the main room")
	rs, _, err := s.hub.CreateBreakouts("s", hostActor, []rooms.RoomSpec{{}, {}, {}})
	if err != nil {
		t.Fatal(err)
	}
	sync("rooms opened")
	if _, _, err := s.hub.Assign("s", hostActor, rooms.Assignment{Mode: rooms.AssignBalanced}); err != nil {
		t.Fatal(err)
	}
	sync("assigned")
	if _, err := s.hub.Move("s", hostActor, ps[0].ID, rs[2].ID); err != nil {
		t.Fatal(err)
	}
	sync("one moved")
	if _, err := s.hub.Move("s", hostActor, host.ID, rs[0].ID); err != nil {
		t.Fatal(err)
	}
	sync("the host visits")
	if _, err := s.hub.SetMuted("s", hostActor, ps[1].ID, true); err != nil {
		t.Fatal(err)
	}
	sync("one muted")
	if _, err := s.hub.SetDeafened("s", rooms.Actor{ParticipantID: ps[2].ID}, true); err != nil {
		t.Fatal(err)
	}
	sync("one deafened")
	if err := s.hub.Leave("s", ps[3].ID, ps[3].Epoch); err != nil {
		t.Fatal(err)
	}
	sync("one left")
	join("u3", rooms.RoleParticipant)
	sync("it came back")
	sync("nothing changed")
	if _, err := s.hub.CloseAllRooms("s", hostActor); err != nil {
		t.Fatal(err)
	}
	sync("rooms closed")

	// The session ends; the Hub forgets it; a join begins a new
	// incarnation, with versions from 0 again, on the same router.
	if _, err := s.hub.EndSession("s", hostActor); err != nil {
		t.Fatal(err)
	}
	sync("session ended")
	s.hub.Tick(time.Now().Add(time.Hour))
	s.syncAudiences(sess) // the session is gone: nothing to apply
	host = join("host", rooms.RoleHost)
	join("u0", rooms.RoleParticipant)
	join("u1", rooms.RoleParticipant)
	sync("a new incarnation")
}
