package signaling_test

// Resume, ICE restart and takeover ordering: a websocket cut is not an
// audio cut, a resumed client gets exactly the events it missed, and every
// join gets exactly one answer.

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sanctuary-sfu/sanctuary/auth"
	"github.com/sanctuary-sfu/sanctuary/cmd/sanctuary-bots/bots"
	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// msgLog records the types of the messages a bot received after mark.
type msgLog struct {
	mu     sync.Mutex
	marked bool
	after  []map[string]any
}

func (l *msgLog) onMessage(_ string, raw []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.marked {
		return
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	l.after = append(l.after, m)
}

func (l *msgLog) mark() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.marked, l.after = true, nil
}

func (l *msgLog) seen() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]map[string]any(nil), l.after...)
}

func (h *harness) dialLogged(ctx context.Context, session string, i int, log *msgLog) *bots.Bot {
	h.t.Helper()
	b, err := bots.Dial(ctx, bots.Config{
		URL: h.url, Token: h.token(fmt.Sprintf("bot-%d", i), auth.RoleParticipant, session, time.Hour),
		Session: session, Index: i, RunID: h.runID, Speak: true, Level: 30, API: h.api, OnMessage: log.onMessage,
	})
	if err != nil {
		h.t.Fatalf("bot %d: %v", i, err)
	}
	h.mu.Lock()
	h.bots = append(h.bots, b)
	h.mu.Unlock()
	return b
}

func (h *harness) state(session, pid string) rooms.State {
	p, err := h.srv.Hub().Participant(session, pid)
	if err != nil {
		return ""
	}
	return p.State
}

// A participant's websocket is cut: its PeerConnection keeps carrying audio
// both ways while the socket is down, and a resume on a new socket keeps
// that PeerConnection (no offer, no new PeerConnection on either side) and
// delivers exactly the events missed, in order, without a snapshot.
func TestE2EResumeKeepsAudioAndReplaysMissedEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("media end-to-end test")
	}
	h := newHarness(t, 3, func(c *signaling.Config) { c.ReconnectGrace = time.Minute })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := h.usage()

	var logA msgLog
	a := h.dialLogged(ctx, "resume", 0, &logA)
	b := h.dial(ctx, "resume", 1, true, 30)
	c := h.dial(ctx, "resume", 2, true, 30)
	waitConnected(ctx, t, a, b, c)
	eventually(ctx, t, "everyone hears everyone", func() bool {
		for _, x := range []*bots.Bot{a, b, c} {
			got := x.Stats().ReceivedBySource
			for _, y := range []*bots.Bot{a, b, c} {
				if x != y && got[y.Index()] < 10 {
					return false
				}
			}
		}
		return true
	})
	peers := h.engine.Stats().Peers

	a.Cut()
	eventually(ctx, t, "the server sees a's socket gone", func() bool {
		return h.state("resume", a.ParticipantID()) == rooms.StateReconnecting
	})
	// While a's socket is down: a and b still hear each other.
	fromB, fromA := a.Stats().ReceivedBySource[1], b.Stats().ReceivedBySource[0]
	eventually(ctx, t, "audio flows both ways while the websocket is down", func() bool {
		return a.Stats().ReceivedBySource[1] >= fromB+25 && b.Stats().ReceivedBySource[0] >= fromA+25
	})
	// And the session changes: a misses these events (and the one that
	// said it was reconnecting).
	missedFrom := a.Stats().Version
	for _, raise := range []bool{true, false, true} {
		if _, err := h.srv.Hub().SetHand("resume", rooms.Actor{ParticipantID: c.ParticipantID(), Role: rooms.RoleParticipant},
			c.ParticipantID(), raise); err != nil {
			t.Fatal(err)
		}
	}

	logA.mark()
	if err := a.Resume(ctx); err != nil {
		t.Fatalf("resume: %v", err)
	}
	eventually(ctx, t, "a is connected again and has every version", func() bool {
		return h.state("resume", a.ParticipantID()) == rooms.StateConnected &&
			a.Stats().Version == version(t, h, "resume")
	})
	st := a.Stats()
	if st.Resumes != 1 || st.VersionGaps != 0 || st.Renegotiations != 0 {
		t.Errorf("resumes %d, version gaps %d, renegotiations %d; want 1, 0, 0", st.Resumes, st.VersionGaps, st.Renegotiations)
	}
	if got := h.engine.Stats().Peers; got != peers {
		t.Errorf("PeerConnections %d after the resume, %d before: the resume made a new one", got, peers)
	}
	msgs := logA.seen()
	if len(msgs) == 0 || msgs[0]["type"] != signaling.TypeWelcome || msgs[0]["id"] != "resume" ||
		msgs[0]["resumed"] != true || msgs[0]["snapshot"] != nil {
		t.Fatalf("first message after the resume: %v; want a welcome with resumed and no snapshot", msgs[:min(1, len(msgs))])
	}
	var versions []uint64
	for _, m := range msgs[1:] {
		switch m["type"] {
		case signaling.TypeOffer:
			t.Errorf("an offer after a resume: %v", m)
		case signaling.TypeEvent:
			versions = append(versions, uint64(m["version"].(float64)))
		}
	}
	if len(versions) < 4 || versions[0] != missedFrom+1 {
		// Its own reconnecting, the three hands, its takeover.
		t.Errorf("events after the resume: versions %v, want them to start at %d", versions, missedFrom+1)
	}
	for i := 1; i < len(versions); i++ {
		if versions[i] != versions[i-1]+1 {
			t.Errorf("events after the resume out of order or doubled: %v", versions)
			break
		}
	}
	// And audio still flows on the kept PeerConnection.
	fromB, fromA = a.Stats().ReceivedBySource[1], b.Stats().ReceivedBySource[0]
	eventually(ctx, t, "audio flows after the resume", func() bool {
		return a.Stats().ReceivedBySource[1] >= fromB+10 && b.Stats().ReceivedBySource[0] >= fromA+10
	})
	for _, x := range []*bots.Bot{a, b, c} {
		if f := x.Stats().Foreign; f != 0 {
			t.Errorf("bot %d heard %d foreign packets", x.Index(), f)
		}
	}

	for _, x := range []*bots.Bot{a, b, c} {
		_ = x.Close()
	}
	h.waitBaseline(ctx, base)
}

// A resume whose events are no longer kept gets a snapshot in its welcome
// instead, and still keeps its PeerConnection.
func TestE2EResumeAfterLongAbsenceGetsSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("media end-to-end test")
	}
	h := newHarness(t, 3, func(c *signaling.Config) { c.ReconnectGrace = time.Minute })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var logA msgLog
	a := h.dialLogged(ctx, "absent", 0, &logA)
	b := h.dial(ctx, "absent", 1, true, 30)
	waitConnected(ctx, t, a, b)
	a.Cut()
	eventually(ctx, t, "the server sees a's socket gone", func() bool {
		return h.state("absent", a.ParticipantID()) == rooms.StateReconnecting
	})
	actor := rooms.Actor{ParticipantID: b.ParticipantID(), Role: rooms.RoleParticipant}
	for i := range 600 { // more than the session keeps
		if _, err := h.srv.Hub().SetHand("absent", actor, b.ParticipantID(), i%2 == 0); err != nil {
			t.Fatal(err)
		}
	}
	logA.mark()
	if err := a.Resume(ctx); err != nil {
		t.Fatalf("resume: %v", err)
	}
	msgs := logA.seen()
	if len(msgs) == 0 || msgs[0]["resumed"] != true || msgs[0]["snapshot"] == nil {
		t.Fatalf("welcome of a resume after 600 events: %v; want resumed with a snapshot", msgs[:min(1, len(msgs))])
	}
	eventually(ctx, t, "a has every version", func() bool { return a.Stats().Version == version(t, h, "absent") })
	if st := a.Stats(); st.VersionGaps != 0 || st.Renegotiations != 0 {
		t.Errorf("version gaps %d, renegotiations %d", st.VersionGaps, st.Renegotiations)
	}
}

// A join with a resume key that is not its PeerConnection's (a second tab,
// a guess) does not get the PeerConnection: it is welcomed with a snapshot
// and a new offer, and the earlier socket is replaced.
func TestE2EResumeWithWrongKeyNegotiatesAfresh(t *testing.T) {
	if testing.Short() {
		t.Skip("media end-to-end test")
	}
	h := newHarness(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a := h.dial(ctx, "guess", 0, true, 30)
	waitConnected(ctx, t, a)

	c := h.raw()
	c.sendJSON(signaling.Join{Envelope: signaling.Envelope{Type: signaling.TypeJoin, ID: "j"},
		Token: h.token("bot-0", auth.RoleParticipant, "guess", time.Hour), Session: "guess",
		Resume: &signaling.Resume{Key: "not-the-key", Version: 1}})
	w := c.answer("j")
	if w["type"] != signaling.TypeWelcome || w["resumed"] == true || w["snapshot"] == nil {
		t.Fatalf("welcome: %v; want not resumed, with a snapshot", w)
	}
	c.next(signaling.TypeOffer, "")
	select {
	case <-a.Done():
	case <-ctx.Done():
		t.Fatal("the earlier socket was not closed")
	}
	if !a.Stats().Replaced {
		t.Error("the earlier socket was not told replaced")
	}
}

// ICE restart on request: an offer with iceRestart answering the request's
// id, answered on the same PeerConnection; audio flows on; a second answer
// is refused; and a restart before the first answer is not_negotiated.
func TestE2EICERestart(t *testing.T) {
	if testing.Short() {
		t.Skip("media end-to-end test")
	}
	h := newHarness(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var logA msgLog
	a := h.dialLogged(ctx, "restart", 0, &logA)
	b := h.dial(ctx, "restart", 1, true, 30)
	waitConnected(ctx, t, a, b)
	peers := h.engine.Stats().Peers

	logA.mark()
	asked := time.Now()
	if err := a.RestartICE(); err != nil {
		t.Fatal(err)
	}
	eventually(ctx, t, "the restart offer is answered", func() bool {
		return a.Stats().ICERestarts == 1 && h.engine.Stats().ICERestarts == 1
	})
	answered := time.Since(asked)
	fromB, fromA := a.Stats().ReceivedBySource[1], b.Stats().ReceivedBySource[0]
	eventually(ctx, t, "audio flows after the restart", func() bool {
		return a.Stats().ReceivedBySource[1] >= fromB+25 && b.Stats().ReceivedBySource[0] >= fromA+25
	})
	t.Logf("ICE restart: request → restart offer answered %v; → 25 packets each way %v", answered, time.Since(asked))
	var offer map[string]any
	for _, m := range logA.seen() {
		if m["type"] == signaling.TypeOffer {
			offer = m
		}
	}
	if offer == nil || offer["id"] != "ice-restart" || offer["iceRestart"] != true {
		t.Errorf("restart offer: %v; want the request's id and iceRestart", offer)
	}
	if st := a.Stats(); st.Renegotiations != 0 || len(st.LocalErrors) != 0 {
		t.Errorf("renegotiations %d, local errors %v", st.Renegotiations, st.LocalErrors)
	}
	if got := h.engine.Stats().Peers; got != peers {
		t.Errorf("PeerConnections %d, %d before the restart", got, peers)
	}

	// A second answer without a restart pending changes nothing.
	raw, id := h.joinRaw("late", auth.RoleParticipant, "restart")
	_ = id
	if code := raw.request("r1", `{"type":"ice.restart","id":"r1"}`); code != signaling.CodeNotNegotiated {
		t.Errorf("ice.restart before the answer: %s, want %s", code, signaling.CodeNotNegotiated)
	}
}

// Many sockets of one user join at once. Every join gets exactly one answer
// carrying its id (welcome, or replaced when a newer socket won first);
// after `replaced` a socket receives nothing and is closed; exactly one
// socket holds the record at the end.
func TestTakeoverAnswersEveryJoinOnce(t *testing.T) {
	h := newHarness(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := h.usage()
	const n = 40
	token := h.token("many", auth.RoleParticipant, "takeover", time.Hour)

	type result struct {
		msgs   []map[string]any
		closed bool // the server closed the socket
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws, _, err := websocket.DefaultDialer.DialContext(ctx, h.url, nil)
			if err != nil {
				t.Errorf("socket %d: %v", i, err)
				return
			}
			defer ws.Close()
			<-start
			join, _ := json.Marshal(signaling.Join{Envelope: signaling.Envelope{Type: signaling.TypeJoin,
				ID: fmt.Sprint("join-", i)}, Token: token, Session: "takeover"})
			if err := ws.WriteMessage(websocket.TextMessage, join); err != nil {
				t.Errorf("socket %d: %v", i, err)
				return
			}
			// Read until the server closes, or until ten quiet seconds after
			// the whole storm settled (the winner stays open).
			for {
				_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
				_, raw, err := ws.ReadMessage()
				if err != nil {
					results[i].closed = !isTimeout(err)
					return
				}
				var frame map[string]any
				_ = json.Unmarshal(raw, &frame)
				results[i].msgs = append(results[i].msgs, frame)
			}
		}()
	}
	close(start)
	wg.Wait()

	holders := 0
	for i, r := range results {
		id := fmt.Sprint("join-", i)
		answers, replacedAt := 0, -1
		for j, m := range r.msgs {
			if m["id"] == id {
				answers++
				if m["type"] != signaling.TypeWelcome && m["type"] != signaling.TypeReplaced {
					t.Errorf("socket %d: answer to join is %v", i, m)
				}
			}
			if m["type"] == signaling.TypeReplaced && replacedAt < 0 {
				replacedAt = j
			}
		}
		if answers != 1 {
			t.Errorf("socket %d: %d answers to its join, want exactly 1; messages %v", i, answers, types(r.msgs))
		}
		if replacedAt < 0 {
			holders++
			if r.closed {
				t.Errorf("socket %d: closed without replaced: %v", i, types(r.msgs))
			}
			continue
		}
		if replacedAt != len(r.msgs)-1 {
			t.Errorf("socket %d: messages after replaced: %v", i, types(r.msgs))
		}
		if !r.closed {
			t.Errorf("socket %d: not closed after replaced", i)
		}
	}
	if holders != 1 {
		t.Errorf("%d sockets hold the record, want 1", holders)
	}
	snap, err := h.srv.Hub().Snapshot("takeover")
	if err != nil || len(snap.Participants) != 1 {
		t.Errorf("records: %v, %v; want one", snap.Participants, err)
	}
	h.srv.Close()
	h.waitBaseline(ctx, base)
}

func types(msgs []map[string]any) []string {
	var out []string
	for _, m := range msgs {
		s := fmt.Sprint(m["type"])
		if id, ok := m["id"].(string); ok {
			s += "#" + id
		}
		out = append(out, s)
	}
	return out
}

func isTimeout(err error) bool {
	ne, ok := err.(interface{ Timeout() bool })
	return ok && ne.Timeout()
}

// A late join from a socket its client already gave up (its attempt is
// older than one the server took) takes nothing over: it is answered
// `replaced` with its id, and the newer socket keeps the record.
func TestLateJoinOfAClientTakesNothingOver(t *testing.T) {
	h := newHarness(t, 3, nil)
	tok := h.token("late", auth.RoleParticipant, "late", time.Hour)
	join := func(c *rawClient, id string, attempt uint64) map[string]any {
		c.sendJSON(signaling.Join{Envelope: signaling.Envelope{Type: signaling.TypeJoin, ID: id}, Token: tok,
			Session: "late", ClientID: "page-1", Attempt: attempt})
		return c.answer(id)
	}
	newer, older := h.raw(), h.raw()
	if m := join(newer, "j2", 2); m["type"] != signaling.TypeWelcome {
		t.Fatalf("attempt 2: %v", m)
	}
	if m := join(older, "j1", 1); m["type"] != signaling.TypeReplaced {
		t.Fatalf("attempt 1 after attempt 2: %v, want replaced", m)
	}
	if !older.closed() {
		t.Error("the late socket was not closed")
	}
	// The newer socket still holds the record: its commands work.
	if code := newer.request("h", `{"type":"hand","id":"h","enabled":true}`); code != signaling.TypeOK {
		t.Errorf("the newer socket after the late join: %s", code)
	}
	// Another client of the same user (a second tab) does take over.
	other := h.raw()
	other.sendJSON(signaling.Join{Envelope: signaling.Envelope{Type: signaling.TypeJoin, ID: "t"}, Token: tok,
		Session: "late", ClientID: "page-2", Attempt: 1})
	if m := other.answer("t"); m["type"] != signaling.TypeWelcome {
		t.Errorf("another client: %v", m)
	}
	newer.next(signaling.TypeReplaced, "")
}
