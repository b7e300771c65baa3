package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sanctuary-sfu/sanctuary/auth"
	"github.com/sanctuary-sfu/sanctuary/cmd/sanctuary-bots/bots"
	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/rooms/redisstore/redistest"
)

// TestWebsocketJoinRedirectedToOwner: two servers, each with its
// own engine, on one real redis-server. Session s is owned by A (its
// first write took the lease): a bot that joins it through B is answered
// redirect with A's websocket URL, follows it, and joins on A with media.
// A new session t joined through B is placed on B (A is loaded at least
// as much; on a tie the node asked keeps it), and a bot joining t through
// A is sent to B.
func TestWebsocketJoinRedirectedToOwner(t *testing.T) {
	r := redistest.Start(t)
	a := startServer(t, "-redis", r.URL())
	b := startServer(t, "-redis", r.URL())
	mustJoin(t, a.sig.Hub(), "host", rooms.RoleHost) // A owns s

	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	api, err := bots.NewAPI(true)
	if err != nil {
		t.Fatal(err)
	}
	dial := func(ts *testServer, user, session string) *bots.Bot {
		t.Helper()
		tok, err := auth.Mint([]byte(testSecret), auth.MintOptions{UserID: user, Role: "participant", Session: session, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		bot, err := bots.Dial(ctx, bots.Config{URL: "ws://" + ts.addr + "/ws", Token: tok, Session: session, API: api})
		if err != nil {
			t.Fatalf("%s joining %s through %s: %v", user, session, ts.addr, err)
		}
		t.Cleanup(func() { _ = bot.Close() })
		if err := bot.WaitConnected(ctx); err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		return bot
	}
	// hosted checks that user joined session on want (its websocket and
	// media are there), not on other, after following redirects redirects.
	hosted := func(bot *bots.Bot, user, session string, want, other *testServer, redirects uint64) {
		t.Helper()
		if got := bot.Stats().Redirects; got != redirects {
			t.Errorf("%s: %d redirects, want %d", user, got, redirects)
		}
		if _, err := want.sig.Hub().Participant(session, bot.ParticipantID()); err != nil {
			t.Errorf("%s is not in session %s on its owner: %v", user, session, err)
		}
		joined := "msg=joined session=" + session + " participant=" + bot.ParticipantID()
		if !strings.Contains(want.logs.String(), joined) || strings.Contains(other.logs.String(), joined) {
			t.Errorf("%s did not join on its owner %s only", user, want.addr)
		}
	}

	u1 := dial(b, "u1", "s")
	hosted(u1, "u1", "s", a, b, 1)
	if snap, err := a.sig.Hub().Snapshot("s"); err != nil || len(snap.Participants) != 2 {
		t.Fatalf("session s on A: %+v, %v; want host and u1", snap.Participants, err)
	}

	u2 := dial(b, "u2", "t") // B has no participant, A has two: t goes to B
	hosted(u2, "u2", "t", b, a, 0)
	u3 := dial(a, "u3", "t")
	hosted(u3, "u3", "t", b, a, 1)
	for _, ts := range []*testServer{a, b} {
		if !strings.Contains(ts.logs.String(), "join redirected") {
			t.Errorf("node %s logged no redirect", ts.addr)
		}
	}
}
