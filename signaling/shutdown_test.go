package signaling_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sanctuary-sfu/sanctuary/auth"
	"github.com/sanctuary-sfu/sanctuary/cmd/sanctuary-bots/bots"
	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// Graceful shutdown: every socket is told shutting_down and closed, new
// sockets are refused the same way, audio goes on while the records wait
// for their clients to reconnect elsewhere, and Shutdown returns once every
// record has left, with nothing left behind.
func TestE2EShutdownDrains(t *testing.T) {
	if testing.Short() {
		t.Skip("media end-to-end test")
	}
	h := newHarness(t, 3, func(c *signaling.Config) { c.ReconnectGrace = 3 * time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := h.usage()

	var told [2]atomic.Bool
	dial := func(i int) *bots.Bot {
		b, err := bots.Dial(ctx, bots.Config{
			URL: h.url, Token: h.token(fmt.Sprint("bot-", i), auth.RoleParticipant, "drain", time.Hour), Session: "drain",
			Index: i, RunID: h.runID, Speak: true, Level: 30, API: h.api,
			OnMessage: func(typ string, raw []byte) {
				if typ == signaling.TypeError && containsCode(raw, signaling.CodeShuttingDown) {
					told[i].Store(true)
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b := dial(0), dial(1)
	defer a.Close()
	defer b.Close()
	waitConnected(ctx, t, a, b)

	done := make(chan error, 1)
	go func() { done <- h.srv.Shutdown(ctx) }()
	for _, x := range []*bots.Bot{a, b} {
		select {
		case <-x.Done():
		case <-ctx.Done():
			t.Fatal("a socket stayed open after Shutdown began")
		}
	}
	if !told[0].Load() || !told[1].Load() {
		t.Errorf("told shutting_down: %v %v", told[0].Load(), told[1].Load())
	}
	// A new socket is refused with the same code.
	c := h.raw()
	c.next(signaling.TypeError, signaling.CodeShuttingDown)
	// Media goes on through the drain.
	fromB := a.Stats().ReceivedBySource[1]
	eventually(ctx, t, "audio during the drain", func() bool { return a.Stats().ReceivedBySource[1] >= fromB+10 })
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Shutdown: %v, want nil (every record left within the grace period)", err)
		}
	case <-ctx.Done():
		t.Fatal("Shutdown did not return")
	}
	if p := h.engine.Stats().Peers; p != 0 {
		t.Errorf("%d PeerConnections after Shutdown", p)
	}
	_ = a.Close()
	_ = b.Close()
	h.waitBaseline(ctx, base)
}

// A drain that does not finish in time ends at the deadline with
// everything closed.
func TestShutdownDeadline(t *testing.T) {
	h := newHarness(t, 3, func(c *signaling.Config) { c.ReconnectGrace = time.Hour })
	_, _ = h.joinRaw("stays", auth.RoleParticipant, "late")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := h.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v, want the deadline", err)
	}
	if p := h.engine.Stats().Peers; p != 0 {
		t.Errorf("%d PeerConnections after Shutdown", p)
	}
}

// One address may open MaxSocketsPerIP websockets at once, at SocketRate
// per second (bursts of SocketBurst): beyond, 429 too_many_connections
// with Retry-After.
func TestSocketsPerAddress(t *testing.T) {
	h := newHarness(t, 3, func(c *signaling.Config) { c.MaxSocketsPerIP, c.SocketRate, c.SocketBurst = 2, 1e-3, 3 })
	var open []*websocket.Conn
	t.Cleanup(func() {
		for _, ws := range open {
			_ = ws.Close()
		}
	})
	// dial returns "" when the socket opened, else the Retry-After of the 429.
	dial := func() string {
		t.Helper()
		ws, resp, err := websocket.DefaultDialer.Dial(h.url, nil)
		if err == nil {
			open = append(open, ws)
			return ""
		}
		if resp == nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("refusal: %v %v", resp, err)
		}
		return resp.Header.Get("Retry-After")
	}
	if dial() != "" || dial() != "" {
		t.Fatal("the first two sockets were refused")
	}
	if dial() == "" {
		t.Fatal("a third socket open at once was taken")
	}
	_ = open[0].Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	eventually(ctx, t, "a closed socket frees its place for the burst's third", func() bool { return dial() == "" })
	for _, ws := range open {
		_ = ws.Close()
	}
	// Nothing open now, but the burst is spent: refused for the rate
	// (Retry-After 1000 s at 1e-3/s), not for the count (1 s).
	eventually(ctx, t, "a fourth socket is refused for the rate", func() bool { return dial() == "1000" })
	if h.srv.Stats().RefusedSockets < 2 {
		t.Errorf("refusals counted: %d", h.srv.Stats().RefusedSockets)
	}
}

// Joins beyond the participants of a session, or of the server, are
// refused with session_full and server_full; the socket stays open.
func TestJoinBoundsOverTheWebsocket(t *testing.T) {
	h := newHarness(t, 3, func(c *signaling.Config) { c.MaxSessionParticipants, c.MaxParticipants = 2, 3 })
	h.joinRaw("u1", auth.RoleParticipant, "small")
	h.joinRaw("u2", auth.RoleParticipant, "small")
	c := h.raw()
	join := func(id, user, session string) string {
		b := fmt.Sprintf(`{"type":"join","id":%q,"token":%q,"session":%q}`, id, h.token(user, auth.RoleParticipant, session, time.Hour), session)
		return c.request(id, b)
	}
	if code := join("j1", "u3", "small"); code != signaling.CodeSessionFull {
		t.Errorf("third in a session of 2: %s", code)
	}
	if code := join("j2", "u3", "other"); code != signaling.TypeWelcome {
		t.Errorf("the same socket joining another session: %s", code)
	}
	d := h.raw()
	b := fmt.Sprintf(`{"type":"join","id":"j3","token":%q,"session":"other"}`, h.token("u4", auth.RoleParticipant, "other", time.Hour))
	if code := d.request("j3", b); code != signaling.CodeServerFull {
		t.Errorf("fourth on a server of 3: %s", code)
	}
}

func containsCode(raw []byte, code string) bool {
	return strings.Contains(string(raw), `"code":"`+code+`"`)
}
