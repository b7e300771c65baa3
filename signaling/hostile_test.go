package signaling_test

// Hostile clients. Each finding of the outside attack on the server is
// replayed here as it was written (the exact messages and bodies), together
// with the bounds of every command field. Every test asserts that the server
// stays up, answers with the code PROTOCOL.md documents, changes nothing,
// and leaks nothing: goroutines, records and PeerConnections return to
// their baseline.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sanctuary-sfu/sanctuary/auth"
	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// The two request bodies of findings 1 and 2: a billion rooms (the server
// ran out of memory allocating them) and the largest int64 (makeslice
// panicked).
const (
	billionRooms = `{"count":1000000000}`
	maxIntRooms  = `{"count":9223372036854775807}`
)

// joinRaw joins a raw client as user with role in session and returns it
// with its participant id. The client never answers the offer.
func (h *harness) joinRaw(user, role, session string) (*rawClient, string) {
	h.t.Helper()
	c := h.raw()
	c.sendJSON(signaling.Join{Envelope: signaling.Envelope{Type: signaling.TypeJoin, ID: "join"},
		Token: h.token(user, role, session, time.Hour), Session: session})
	m := c.answer("join")
	if m["type"] != signaling.TypeWelcome {
		h.t.Fatalf("join of %s: %v", user, m)
	}
	return c, m["participantId"].(string)
}

// answer reads until the answer to request id (ok, error, welcome, pong…)
// arrives, skipping events and anything else without that id; it fails the
// test after 10 s.
func (c *rawClient) answer(id string) map[string]any {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, raw, err := c.ws.ReadMessage()
		if err != nil {
			c.t.Fatalf("waiting for the answer to %q: %v", id, err)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			c.t.Fatalf("server sent invalid JSON: %s", raw)
		}
		if m["id"] == id {
			return m
		}
	}
}

// request sends one message with the given id and returns the code of its
// answer: the error code, or the answer's type when it is no error.
func (c *rawClient) request(id, msg string) string {
	c.t.Helper()
	c.send(msg)
	m := c.answer(id)
	if m["type"] == signaling.TypeError {
		return m["code"].(string)
	}
	return m["type"].(string)
}

func version(t *testing.T, h *harness, session string) uint64 {
	t.Helper()
	snap, err := h.srv.Hub().Snapshot(session)
	if err != nil {
		t.Fatal(err)
	}
	return snap.Version
}

// Findings 1 and 2 over REST: a billion rooms, or the largest int64, asked
// for by a participant, by a host, and for a session that does not exist.
// Nothing is allocated before the permission and the bounds are checked.
func TestHostileBreakoutCountOverREST(t *testing.T) {
	h := newHarness(t, 3, nil)
	base := h.apiURL()
	hub := h.srv.Hub()
	if _, err := hub.Join("calm", rooms.Identity{UserID: "host", Role: rooms.RoleHost}); err != nil {
		t.Fatal(err)
	}
	if _, err := hub.Join("calm", rooms.Identity{UserID: "p1"}); err != nil {
		t.Fatal(err)
	}
	v0 := version(t, h, "calm")

	cases := []struct {
		who, session, token string
		status              int
		code                string
	}{
		{"a participant of the session", "calm", h.token("p1", auth.RoleParticipant, "calm", time.Hour), 403, signaling.CodeForbidden},
		{"the host of the session", "calm", h.token("host", auth.RoleHost, "calm", time.Hour), 400, signaling.CodeInvalid},
		{"a participant, session x does not exist", "x", h.token("p1", auth.RoleParticipant, "", time.Hour), 403, signaling.CodeNotAMember},
		{"a participant scoped to x, which does not exist", "x", h.token("p1", auth.RoleParticipant, "x", time.Hour), 404, signaling.CodeNotFound},
		{"an integration host scoped to x", "x", h.token("backend", auth.RoleHost, "x", time.Hour), 404, signaling.CodeNotFound},
	}
	for _, tc := range cases {
		for _, body := range []string{billionRooms, maxIntRooms} {
			status, m := restCall(t, "POST", base+tc.session+"/breakouts", tc.token, body)
			if status != tc.status || m["code"] != tc.code {
				t.Errorf("%s, %s: %d %v, want %d %s", tc.who, body, status, m, tc.status, tc.code)
			}
		}
	}
	// The server is up and the session unchanged.
	if status, m := restCall(t, "GET", base+"calm", h.token("host", auth.RoleHost, "calm", time.Hour), ""); status != 200 ||
		m["version"] != float64(v0) || len(m["rooms"].([]any)) != 0 {
		t.Errorf("after the attack: %d %v, want version %d and no rooms", status, m, v0)
	}
}

// Findings 1 and 2 over the websocket, 20 times each, by a participant and
// by the host: each message gets its error, the sockets stay open, the
// session is unchanged, and once the clients leave nothing is left behind
// (the panic of finding 2 used to leave a record in joining, an open
// PeerConnection and its goroutines per message).
func TestHostileBreakoutCountOverWebsocket(t *testing.T) {
	h := newHarness(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	baseline := h.usage()
	host, _ := h.joinRaw("host", auth.RoleHost, "calm")
	part, _ := h.joinRaw("p1", auth.RoleParticipant, "calm")
	v0 := version(t, h, "calm")

	for i := range 20 {
		for _, body := range []string{billionRooms, maxIntRooms} {
			msg := func(id string) string { return `{"type":"breakouts.create","id":"` + id + `",` + body[1:] }
			id := fmt.Sprintf("p%d", i)
			if code := part.request(id, msg(id)); code != signaling.CodeForbidden {
				t.Fatalf("participant, %s: %s, want %s", body, code, signaling.CodeForbidden)
			}
			id = fmt.Sprintf("h%d", i)
			if code := host.request(id, msg(id)); code != signaling.CodeInvalid {
				t.Fatalf("host, %s: %s, want %s", body, code, signaling.CodeInvalid)
			}
		}
	}
	if v := version(t, h, "calm"); v != v0 {
		t.Errorf("session version %d after refused commands, want %d", v, v0)
	}
	for _, c := range []*rawClient{host, part} {
		if code := c.request("bye", `{"type":"leave","id":"bye"}`); code != signaling.TypeOK {
			t.Errorf("leave: %s", code)
		}
	}
	h.waitBaseline(ctx, baseline)
}

// Every field of every command is bounded: each out-of-range value gets its
// documented code, and none changes the session.
func TestHostileCommandFieldLimits(t *testing.T) {
	h := newHarness(t, 3, func(c *signaling.Config) { c.Burst = 200 })
	host, _ := h.joinRaw("host", auth.RoleHost, "limits")
	_, pid := h.joinRaw("p1", auth.RoleParticipant, "limits")
	long := func(n int) string { return strings.Repeat("é", n) }
	rooms51 := `[` + strings.TrimSuffix(strings.Repeat(`{"name":"a"},`, 51), ",") + `]`
	cases := []struct{ name, fields, code string }{
		{"count 0", `"type":"breakouts.create","count":0`, signaling.CodeInvalid},
		{"count -1", `"type":"breakouts.create","count":-1`, signaling.CodeInvalid},
		{"count 51", `"type":"breakouts.create","count":51`, signaling.CodeInvalid},
		{"count 1e30", `"type":"breakouts.create","count":1e30`, signaling.CodeBadMessage},
		{"count not a number", `"type":"breakouts.create","count":"three"`, signaling.CodeBadMessage},
		{"51 rooms listed", `"type":"breakouts.create","rooms":` + rooms51, signaling.CodeInvalid},
		{"capacity -1", `"type":"breakouts.create","count":2,"capacity":-1`, signaling.CodeInvalid},
		{"capacity 10001", `"type":"breakouts.create","count":2,"capacity":10001`, signaling.CodeInvalid},
		{"capacity max int64", `"type":"breakouts.create","count":2,"capacity":9223372036854775807`, signaling.CodeInvalid},
		{"durationSec -1", `"type":"breakouts.create","count":2,"durationSec":-1`, signaling.CodeInvalid},
		{"durationSec a day and a second", `"type":"breakouts.create","count":2,"durationSec":86401`, signaling.CodeInvalid},
		{"durationSec max int64", `"type":"breakouts.create","count":2,"durationSec":9223372036854775807`, signaling.CodeInvalid},
		{"listed room durationSec max int64", `"type":"breakouts.create","rooms":[{"durationSec":9223372036854775807}]`, signaling.CodeInvalid},
		{"room name of 65 characters", `"type":"breakouts.create","rooms":[{"name":"` + long(65) + `"}]`, signaling.CodeInvalid},
		{"assign mode unknown", `"type":"breakouts.assign","mode":"sideways"`, signaling.CodeInvalid},
		{"manual assignment of nobody", `"type":"breakouts.assign","mode":"manual"`, signaling.CodeInvalid},
		{"manual assignment to no room", `"type":"breakouts.assign","mode":"manual","assignments":{"` + pid + `":"r-nope"}`, signaling.CodeNotFound},
		{"move to no room", `"type":"move","participantId":"` + pid + `","room":"r-nope"`, signaling.CodeNotFound},
		{"move of nobody", `"type":"move","participantId":"` + strings.Repeat("p", 10000) + `","room":"main"`, signaling.CodeNotFound},
		{"broadcast of 501 characters", `"type":"broadcast","message":"` + long(501) + `"`, signaling.CodeInvalid},
		{"alert of 501 characters", `"type":"alert","message":"` + long(501) + `"`, signaling.CodeInvalid},
		{"remove with a reason of 201 characters", `"type":"remove","participantId":"` + pid + `","reason":"` + long(201) + `"`, signaling.CodeInvalid},
		{"role unknown", `"type":"role","participantId":"` + pid + `","role":"god"`, signaling.CodeInvalid},
		{"reaction of 9 characters", `"type":"react","emoji":"` + long(9) + `"`, signaling.CodeInvalid},
		{"mute of nobody", `"type":"mute","participantId":"p-nobody"`, signaling.CodeNotFound},
		{"unknown command", `"type":"breakouts.explode"`, signaling.CodeUnknownType},
		{"a field of the wrong type", `"type":"mute","participantId":42`, signaling.CodeBadMessage},
	}
	v0 := version(t, h, "limits")
	for i, tc := range cases {
		id := fmt.Sprintf("c%d", i)
		if code := host.request(id, `{"id":"`+id+`",`+tc.fields+`}`); code != tc.code {
			t.Errorf("%s: %s, want %s", tc.name, code, tc.code)
		}
	}
	if v := version(t, h, "limits"); v != v0 {
		t.Errorf("session version %d after refused commands, want %d", v, v0)
	}

	// At most rooms.MaxOpenRooms rooms are open at once.
	for i := range rooms.MaxOpenRooms / rooms.MaxRoomsPerCall {
		id := fmt.Sprintf("fill%d", i)
		if code := host.request(id, fmt.Sprintf(`{"type":"breakouts.create","id":"%s","count":%d}`, id, rooms.MaxRoomsPerCall)); code != signaling.TypeOK {
			t.Fatalf("creating rooms %d: %s", i, code)
		}
	}
	if code := host.request("over", `{"type":"breakouts.create","id":"over","count":1}`); code != signaling.CodeInvalid {
		t.Errorf("room %d: %s, want %s", rooms.MaxOpenRooms+1, code, signaling.CodeInvalid)
	}
	// A message over the size limit is discarded; the socket goes on.
	host.send(`{"type":"ping","id":"` + strings.Repeat("x", signaling.DefaultMaxMessageBytes) + `"}`)
	host.next(signaling.TypeError, signaling.CodeTooLarge)
	if code := host.request("alive", `{"type":"ping","id":"alive"}`); code != signaling.TypePong {
		t.Errorf("ping after the limits: %s", code)
	}
}

// A panic in a message handler (provoked by a command that exists only in
// the test binary) is answered internal with the request's id, closes only
// that socket, and its cleanup runs: 20 such messages leave no record, no
// PeerConnection and no goroutine behind, and the session goes on.
func TestHostilePanicIsContained(t *testing.T) {
	h := newHarness(t, 3, func(c *signaling.Config) { c.ReconnectGrace = 50 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	baseline := h.usage()
	host, _ := h.joinRaw("host", auth.RoleHost, "calm")
	for i := range 20 {
		c, _ := h.joinRaw(fmt.Sprintf("user-%d", i), auth.RoleParticipant, "calm")
		c.send(`{"type":"test.panic","id":"boom"}`)
		if m := c.answer("boom"); m["type"] != signaling.TypeError || m["code"] != signaling.CodeInternal {
			t.Fatalf("panic %d: answered %v, want error internal", i, m)
		}
		if !c.closed() {
			t.Fatalf("panic %d: the socket stayed open", i)
		}
	}
	if code := host.request("alive", `{"type":"ping","id":"alive"}`); code != signaling.TypePong {
		t.Errorf("the host after 20 panics: %s", code)
	}
	eventually(ctx, t, "the 20 records leave after the grace period", func() bool {
		snap, err := h.srv.Hub().Snapshot("calm")
		return err == nil && len(snap.Participants) == 1
	})
	if code := host.request("bye", `{"type":"leave","id":"bye"}`); code != signaling.TypeOK {
		t.Errorf("leave: %s", code)
	}
	h.waitBaseline(ctx, baseline)
}

// Finding 3: a joined client that is slow to answer the offer (a person
// deciding whether to allow the microphone) is not cut at the join
// deadline. It keeps its socket while it answers the server's pings; then
// the media deadline, not the join deadline, ends it, with connect_timeout.
func TestHostileSlowJoinerIsNotCutAtTheJoinDeadline(t *testing.T) {
	// As in the finding, the server's pings come later than the join
	// deadline: nothing but the join itself can have lifted it.
	const authTimeout = 100 * time.Millisecond
	h := newHarness(t, 3, func(c *signaling.Config) {
		c.AuthTimeout = authTimeout
		c.PingInterval = 4 * authTimeout
		c.ConnectTimeout = 3 * time.Second
		c.ReconnectGrace = time.Hour
	})
	ws, _, err := websocket.DefaultDialer.Dial(h.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var pings atomic.Int64
	ws.SetPingHandler(func(data string) error {
		pings.Add(1)
		return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	opened := time.Now()
	if err := ws.WriteJSON(signaling.Join{Envelope: signaling.Envelope{Type: signaling.TypeJoin, ID: "join"},
		Token: h.token("slow", auth.RoleParticipant, "calm", time.Hour), Session: "calm"}); err != nil {
		t.Fatal(err)
	}
	type msg struct {
		typ, code string
		err       error
		at        time.Time
	}
	msgs := make(chan msg, 64)
	go func() {
		for {
			var m map[string]any
			if err := ws.ReadJSON(&m); err != nil {
				msgs <- msg{err: err, at: time.Now()}
				return
			}
			code, _ := m["code"].(string)
			msgs <- msg{typ: m["type"].(string), code: code, at: time.Now()}
		}
	}()
	// 3 pings, 4 join deadlines apart, span 12 of them at least.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var seen []string
	for pings.Load() < 3 {
		select {
		case m := <-msgs:
			if m.err != nil || m.typ == signaling.TypeError {
				t.Fatalf("after %v and %d pings the socket got %s %s %v; seen %v",
					m.at.Sub(opened), pings.Load(), m.typ, m.code, m.err, seen)
			}
			seen = append(seen, m.typ)
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("no pings")
		}
	}
	if time.Since(opened) < authTimeout {
		t.Fatalf("3 pings in %v: the test proves nothing", time.Since(opened))
	}
	// The media deadline ends it, with its own code, and the socket closes.
	for m := range msgs {
		if m.err != nil {
			t.Fatalf("the socket ended without connect_timeout: %v (seen %v)", m.err, seen)
		}
		seen = append(seen, m.typ)
		if m.typ == signaling.TypeError {
			if m.code != signaling.CodeConnectTimeout {
				t.Fatalf("error %s, want %s", m.code, signaling.CodeConnectTimeout)
			}
			break
		}
	}
	if m := <-msgs; m.err == nil {
		t.Errorf("after connect_timeout the socket sent %s instead of closing", m.typ)
	}
	// The record waits for a reconnect, as after any drop.
	eventually(ctx, t, "the record is reconnecting", func() bool {
		snap, err := h.srv.Hub().Snapshot("calm")
		return err == nil && len(snap.Participants) == 1 && snap.Participants[0].State == rooms.StateReconnecting
	})
}

// Concurrent commands from many sockets while their peers leave: a stress of
// the outbox's ordering (finding 6). Every socket sees its events with
// versions in order, each once, with no gap, up to its close.
func TestHostileEventsNeverSkipAVersion(t *testing.T) {
	h := newHarness(t, 3, func(c *signaling.Config) { c.Burst = 500; c.Rate = 500 })
	const n = 12
	type watcher struct {
		ws       *websocket.Conn
		versions []uint64
		snaps    int
	}
	ws := make([]*watcher, n)
	var wg sync.WaitGroup
	for i := range n {
		c, _, err := websocket.DefaultDialer.Dial(h.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		role := auth.RoleParticipant
		if i == 0 {
			role = auth.RoleHost
		}
		if err := c.WriteJSON(signaling.Join{Envelope: signaling.Envelope{Type: signaling.TypeJoin, ID: "join"},
			Token: h.token(fmt.Sprintf("u%d", i), role, "order", time.Hour), Session: "order", Batch: i%2 == 0}); err != nil {
			t.Fatal(err)
		}
		w := &watcher{ws: c}
		ws[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, raw, err := c.ReadMessage()
				if err != nil {
					return
				}
				for _, m := range unbatch(t, raw) {
					switch m["type"] {
					case signaling.TypeWelcome:
						w.versions = append(w.versions, uint64(m["snapshot"].(map[string]any)["version"].(float64)))
					case signaling.TypeSnapshot:
						w.snaps++
						w.versions = append(w.versions, 0, uint64(m["snapshot"].(map[string]any)["version"].(float64)))
					case signaling.TypeEvent:
						w.versions = append(w.versions, uint64(m["version"].(float64)))
					}
				}
			}
		}()
	}
	// Everyone raises and lowers its hand 100 times as fast as it can, then
	// leaves; the last ones to leave see the most events.
	var senders sync.WaitGroup
	for i, w := range ws {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for j := range 100 {
				_ = w.ws.WriteJSON(map[string]any{"type": "hand", "id": fmt.Sprint(j), "enabled": j%2 == 0})
			}
			if i%3 == 0 {
				_ = w.ws.WriteJSON(map[string]any{"type": "leave", "id": "bye"})
			}
		}()
	}
	senders.Wait()
	for _, w := range ws {
		_ = w.ws.WriteJSON(map[string]any{"type": "leave", "id": "bye"})
	}
	wg.Wait()
	for i, w := range ws {
		if len(w.versions) == 0 {
			t.Errorf("socket %d: no welcome", i)
			continue
		}
		for j := 1; j < len(w.versions); j++ {
			if w.versions[j] == 0 { // a resync: the snapshot's version follows
				j++
				continue
			}
			if w.versions[j] != w.versions[j-1]+1 {
				t.Fatalf("socket %d: version %d after %d", i, w.versions[j], w.versions[j-1])
			}
		}
	}
}

// unbatch returns the messages of one frame: the frame itself, or the
// messages of a batch. Invalid JSON is reported to t.
func unbatch(t *testing.T, raw []byte) []map[string]any {
	out, err := unbatchFrame(raw)
	if err != nil {
		t.Error(err)
	}
	return out
}

func unbatchFrame(raw []byte) ([]map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("invalid JSON from the server: %.200s", raw)
	}
	if m["type"] != signaling.TypeBatch {
		return []map[string]any{m}, nil
	}
	var out []map[string]any
	for _, one := range m["messages"].([]any) {
		out = append(out, one.(map[string]any))
	}
	return out, nil
}
