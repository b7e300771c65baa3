package signaling_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/sanctuary-sfu/sanctuary/auth"
	"github.com/sanctuary-sfu/sanctuary/cmd/sanctuary-bots/bots"
	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// Host commands race with joins, leaves and takeovers of real clients. The
// host sees every version exactly once and in order; at the end every
// participant is in exactly one existing room, there is one record per
// user, and the host and a moderator kept their roles through every move,
// visit, close and takeover.
func TestE2EHostCommandsRaceWithJoinsLeavesAndTakeovers(t *testing.T) {
	if testing.Short() {
		t.Skip("media end-to-end test")
	}
	h := newHarness(t, 3, func(c *signaling.Config) { c.Rate = 500; c.Burst = 500 })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const session = "race"
	host, ctl := h.dialAs(ctx, session, 100, auth.RoleHost, false)
	waitConnected(ctx, t, host)
	welcomeVersion := uint64(0)
	for _, m := range ctl.seen() {
		if m["type"] == signaling.TypeWelcome {
			welcomeVersion = uint64(m["snapshot"].(map[string]any)["version"].(float64))
		}
	}

	// Churn: users join, leave, take themselves over; the moderator too.
	var wg sync.WaitGroup
	churn := func(user, role string, idx int, rounds int) {
		defer wg.Done()
		rnd := rand.New(rand.NewPCG(uint64(idx), 7))
		var live *bots.Bot
		for range rounds {
			b, err := bots.Dial(ctx, bots.Config{
				URL: h.url, Token: h.token(user, role, session, time.Hour), Session: session,
				Index: idx, RunID: h.runID, API: h.api,
			})
			if err == nil && rnd.IntN(3) == 0 { // sometimes leave at once
				_ = b.Close()
				b = nil
			}
			if live != nil && rnd.IntN(2) == 0 {
				_ = live.Close() // already replaced by b, or a plain leave
				live = nil
			}
			if b != nil {
				if live != nil {
					_ = live.Close()
				}
				live = b
			}
		}
		if live == nil { // end with the user present
			if b, err := bots.Dial(ctx, bots.Config{URL: h.url, Token: h.token(user, role, session, time.Hour),
				Session: session, Index: idx, RunID: h.runID, API: h.api}); err == nil {
				live = b
			}
		}
		h.mu.Lock()
		h.bots = append(h.bots, live)
		h.mu.Unlock()
	}
	for i := range 6 {
		wg.Add(1)
		go churn(fmt.Sprintf("user-%d", i), auth.RoleParticipant, i, 12)
	}
	wg.Add(1)
	go churn("mod", auth.RoleModerator, 50, 12)

	// Meanwhile the host creates, assigns, moves (others and itself), closes.
	rnd := rand.New(rand.NewPCG(3, 4))
	for i := range 150 {
		snap, err := h.srv.Hub().Snapshot(session)
		if err != nil {
			t.Fatal(err)
		}
		var cmd map[string]any
		switch op := rnd.IntN(10); {
		case len(snap.Rooms) == 0 || op == 0:
			cmd = map[string]any{"type": signaling.CmdCreateBreakouts, "count": 1 + rnd.IntN(3)}
		case op <= 2:
			cmd = map[string]any{"type": signaling.CmdAssign, "mode": []string{"balanced", "random"}[rnd.IntN(2)], "includeStaff": rnd.IntN(2) == 0}
		case op <= 6:
			p := snap.Participants[rnd.IntN(len(snap.Participants))]
			room := snap.Rooms[rnd.IntN(len(snap.Rooms))].ID
			if rnd.IntN(4) == 0 {
				room = rooms.MainRoom
			}
			cmd = map[string]any{"type": signaling.CmdMove, "participantId": p.ID, "room": room}
		case op == 7:
			cmd = map[string]any{"type": signaling.CmdCloseBreakouts, "room": snap.Rooms[rnd.IntN(len(snap.Rooms))].ID}
		default:
			cmd = map[string]any{"type": signaling.CmdCloseBreakouts}
		}
		m := ctl.do(cmd)
		// Racing with churn, a target may be gone (not_found); nothing else
		// may fail.
		if m["type"] == signaling.TypeError && m["code"] != signaling.CodeNotFound {
			t.Fatalf("command %d %v: %v", i, cmd, m)
		}
	}
	wg.Wait()

	// The host saw every version once, in order.
	eventually(ctx, t, "the host has seen the last version", func() bool {
		snap, _ := h.srv.Hub().Snapshot(session)
		last := uint64(0)
		for _, m := range ctl.seen() {
			if m["type"] == signaling.TypeEvent {
				last = uint64(m["version"].(float64))
			}
		}
		return last == snap.Version
	})
	next := welcomeVersion + 1
	for _, m := range ctl.seen() {
		if m["type"] != signaling.TypeEvent {
			continue
		}
		if v := uint64(m["version"].(float64)); v != next {
			t.Fatalf("host got version %d, want %d: versions must grow by one, each seen once", v, next)
		}
		next++
	}

	snap, err := h.srv.Hub().Snapshot(session)
	if err != nil {
		t.Fatal(err)
	}
	open := map[string]bool{rooms.MainRoom: true}
	for _, r := range snap.Rooms {
		open[r.ID] = true
	}
	users := map[string]int{}
	for _, p := range snap.Participants {
		users[p.UserID]++
		if !open[p.Room] {
			t.Errorf("%s is in room %q, which is not open", p.UserID, p.Room)
		}
		want := rooms.RoleParticipant
		switch p.UserID {
		case "host-100":
			want = rooms.RoleHost
		case "mod":
			want = rooms.RoleModerator
		}
		if p.Role != want {
			t.Errorf("%s has role %q, want %q", p.UserID, p.Role, want)
		}
	}
	for u, n := range users {
		if n != 1 {
			t.Errorf("user %s has %d records", u, n)
		}
	}
	if users["host-100"] != 1 || users["mod"] != 1 {
		t.Errorf("host or moderator missing at the end: %v", users)
	}
	settle, cancelSettle := context.WithTimeout(ctx, 30*time.Second)
	defer cancelSettle()
	// A record that is reconnecting has no PeerConnection until its grace
	// ends; every other present record has exactly one.
	withPeer := func() int64 {
		snap, _ := h.srv.Hub().Snapshot(session)
		n := int64(0)
		for _, p := range snap.Participants {
			if p.State != rooms.StateReconnecting {
				n++
			}
		}
		return n
	}
	for h.engine.Stats().Peers != withPeer() {
		select {
		case <-settle.Done():
			snap, _ = h.srv.Hub().Snapshot(session)
			var states []string
			for _, p := range snap.Participants {
				states = append(states, p.UserID+":"+string(p.State))
			}
			t.Fatalf("%d PeerConnections open for %d present participants %v", h.engine.Stats().Peers, withPeer(), states)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
