package signaling_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sanctuary-sfu/sanctuary/auth"
	"github.com/sanctuary-sfu/sanctuary/cmd/sanctuary-bots/bots"
	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// chatter is one participant with a chat that outlives its sockets.
type chatter struct {
	h       *harness
	session string
	user    string
	role    string
	i       int
	chat    *bots.Chat

	bot *bots.Bot
	ctl *controller
}

// newChatter joins user as role to session with a new Chat.
func (h *harness) newChatter(ctx context.Context, session, user, role string, i int) *chatter {
	h.t.Helper()
	c := &chatter{h: h, session: session, user: user, role: role, i: i, chat: bots.NewChat()}
	c.dial(ctx)
	return c
}

// dial joins a new socket of c's user (a takeover when one is held), with
// c's chat: its join carries chatSince.
func (c *chatter) dial(ctx context.Context) {
	c.h.t.Helper()
	ctl := newController(c.h.t)
	b, err := bots.Dial(ctx, bots.Config{
		URL: c.h.url, Token: c.h.token(c.user, c.role, c.session, time.Hour), Session: c.session,
		Index: c.i, RunID: c.h.runID, API: c.h.api, OnMessage: ctl.onMessage, Chat: c.chat, Alias: c.user,
	})
	if err != nil {
		c.h.t.Fatalf("%s: %v", c.user, err)
	}
	ctl.bot = b
	c.h.mu.Lock()
	c.h.bots = append(c.h.bots, b)
	c.h.mu.Unlock()
	c.bot, c.ctl = b, ctl
}

// rejoin cuts c's socket as a network failure would and joins again.
func (c *chatter) rejoin(ctx context.Context) {
	c.h.t.Helper()
	c.bot.Cut()
	_ = c.bot.Close()
	c.dial(ctx)
}

// send sends a chat message that must be accepted and returns its ref.
func (c *chatter) send(ctx context.Context, to, text string) signaling.ChatRef {
	c.h.t.Helper()
	ref, err := c.chat.Send(ctx, to, text)
	if err != nil {
		c.h.t.Fatalf("%s: chat.send to %q: %v", c.user, to, err)
	}
	return ref
}

// request sends a request with a fresh id and returns the first message
// answering it (of any type).
func (c *chatter) request(ctx context.Context, m map[string]any) map[string]any {
	c.h.t.Helper()
	c.ctl.mu.Lock()
	c.ctl.next++
	id := fmt.Sprintf("req-%d", c.ctl.next)
	c.ctl.mu.Unlock()
	m["id"] = id
	if err := c.bot.Send(m); err != nil {
		c.h.t.Fatal(err)
	}
	var answer map[string]any
	eventually(ctx, c.h.t, "the answer to "+id, func() bool {
		for _, e := range c.ctl.seen() {
			if e["id"] == id {
				answer = e
				return true
			}
		}
		return false
	})
	return answer
}

// wantCode fails unless m is an error with code.
func wantCode(t *testing.T, what string, m map[string]any, code string) {
	t.Helper()
	if m["type"] != signaling.TypeError || m["code"] != code {
		t.Errorf("%s: %v, want error %s", what, m, code)
	}
}

// barrier sends one message to everyone from host and waits until every
// chatter got it: any message queued for them earlier has arrived too.
func barrier(ctx context.Context, t *testing.T, host *chatter, all []*chatter) {
	t.Helper()
	ref := host.send(ctx, rooms.ChatAll, "barrier")
	for _, c := range all {
		eventually(ctx, t, c.user+" gets the barrier", func() bool { return c.chat.Count(ref) > 0 })
	}
}

// wantCounts fails unless c received exactly the messages of want, each
// once, besides the barriers (messages to all from host).
func wantCounts(t *testing.T, c *chatter, want []signaling.ChatRef) {
	t.Helper()
	got := c.chat.Counts()
	for ref, n := range got {
		if ref.Stream == rooms.ChatAll && !slices.Contains(want, ref) {
			if e, _ := c.chat.Message(ref); e.Text == "barrier" {
				delete(got, ref)
				continue
			}
		}
		if n != 1 {
			t.Errorf("%s got %s/%d %d times", c.user, ref.Stream, ref.Seq, n)
		}
	}
	for _, ref := range want {
		if got[ref] == 0 {
			t.Errorf("%s did not get %s/%d", c.user, ref.Stream, ref.Seq)
		}
		delete(got, ref)
	}
	for ref := range got {
		t.Errorf("%s got %s/%d, which is not for it", c.user, ref.Stream, ref.Seq)
	}
}

// Chat reaches exactly the readers of its stream: the sender's room, all
// rooms for the staff's broadcast, a participant's thread with the staff;
// a move changes the room one hears; and chat changes no session version.
func TestE2EChatScopes(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	h := newHarness(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const session = "chat-scopes"
	host := h.newChatter(ctx, session, "host", auth.RoleHost, 0)
	mod := h.newChatter(ctx, session, "mod", auth.RoleModerator, 1)
	a := h.newChatter(ctx, session, "a", auth.RoleParticipant, 2)
	b := h.newChatter(ctx, session, "b", auth.RoleParticipant, 3)
	c := h.newChatter(ctx, session, "c", auth.RoleParticipant, 4)
	all := []*chatter{host, mod, a, b, c}
	host.ctl.must(map[string]any{"type": signaling.CmdCreateBreakouts, "count": 1})
	snap, err := h.srv.Hub().Snapshot(session)
	if err != nil {
		t.Fatal(err)
	}
	breakout := snap.Rooms[0].ID
	host.ctl.must(map[string]any{"type": signaling.CmdMove, "participantId": b.bot.ParticipantID(), "room": breakout})
	eventually(ctx, t, "every record connected: no state change from here on but the test's", func() bool {
		snap, err := h.srv.Hub().Snapshot(session)
		if err != nil {
			return false
		}
		for _, p := range snap.Participants {
			if p.State != rooms.StateConnected {
				return false
			}
		}
		return len(snap.Participants) == len(all)
	})
	version := h.version(session)

	main := rooms.ChatRoomStream(rooms.MainRoom)
	inMain := a.send(ctx, "room", "hello main")
	if inMain != (signaling.ChatRef{Stream: main, Seq: 1}) {
		t.Errorf("first message of main: %+v", inMain)
	}
	inBreakout := b.send(ctx, "", "hello breakout")
	if inBreakout != (signaling.ChatRef{Stream: rooms.ChatRoomStream(breakout), Seq: 1}) {
		t.Errorf("first message of the breakout: %+v", inBreakout)
	}
	toAll := host.send(ctx, rooms.ChatAll, "to everyone")
	help := c.send(ctx, "staff", "<b>help</b> & thanks")
	reply := mod.send(ctx, rooms.ChatStaffStream(c.bot.ParticipantID()), "here")
	if help.Stream != rooms.ChatStaffStream(c.bot.ParticipantID()) || reply != (signaling.ChatRef{Stream: help.Stream, Seq: 2}) {
		t.Errorf("staff thread: %+v then %+v", help, reply)
	}
	for _, tc := range []struct {
		who  *chatter
		to   string
		code string
	}{
		{a, rooms.ChatAll, signaling.CodeForbidden},
		{a, rooms.ChatRoomStream(breakout), signaling.CodeForbidden},
		{a, help.Stream, signaling.CodeForbidden},
		{a, "lobby", signaling.CodeInvalid},
		{host, rooms.ChatStaffStream("p-nobody"), signaling.CodeNotFound},
	} {
		_, err := tc.who.chat.Send(ctx, tc.to, "x")
		if se, ok := err.(*bots.ServerError); !ok || se.Code != tc.code {
			t.Errorf("%s to %q: %v, want %s", tc.who.user, tc.to, err, tc.code)
		}
	}
	wantCode(t, "a reads c's staff thread", a.request(ctx, map[string]any{"type": signaling.CmdChatHistory, "stream": help.Stream}), signaling.CodeForbidden)
	wantCode(t, "b reads main from the breakout", b.request(ctx, map[string]any{"type": signaling.CmdChatHistory, "stream": main}), signaling.CodeForbidden)

	// b comes back to main: it reads main from now on, and its history.
	host.ctl.must(map[string]any{"type": signaling.CmdMove, "participantId": b.bot.ParticipantID(), "room": rooms.MainRoom})
	again := a.send(ctx, "room", "welcome back")
	hist := b.request(ctx, map[string]any{"type": signaling.CmdChatHistory, "stream": "room"})
	if msgs, _ := hist["messages"].([]any); hist["type"] != signaling.TypeChatHistory || hist["stream"] != main || len(msgs) != 2 ||
		msgs[0].(map[string]any)["version"] != float64(version) || msgs[1].(map[string]any)["version"] != float64(version+1) {
		t.Errorf("b's history of main, posted at versions %d and %d: %v", version, version+1, hist)
	}

	barrier(ctx, t, host, all)
	wantCounts(t, host, []signaling.ChatRef{inMain, toAll, help, reply, again})
	wantCounts(t, mod, []signaling.ChatRef{inMain, toAll, help, reply, again})
	wantCounts(t, a, []signaling.ChatRef{inMain, toAll, again})
	wantCounts(t, b, []signaling.ChatRef{inBreakout, toAll, again})
	wantCounts(t, c, []signaling.ChatRef{inMain, toAll, help, reply, again})
	if e, _ := mod.chat.Message(help); e.Text != "<b>help</b> & thanks" || e.From != c.bot.ParticipantID() || e.Alias != "c" || e.At == 0 ||
		e.Version != version {
		t.Errorf("the staff message as the moderator got it: %+v", e)
	}
	if v := h.version(session); v != version+1 { // b's move back to main, and no chat
		t.Errorf("session version %d after chat, want %d", v, version+1)
	}
}

// version returns the session's version now.
func (h *harness) version(session string) uint64 {
	h.t.Helper()
	snap, err := h.srv.Hub().Snapshot(session)
	if err != nil {
		h.t.Fatal(err)
	}
	return snap.Version
}

// A retry of a message after a cut is the same message, delivered once;
// a rejoin with chatSince gets exactly what it missed; and bots whose
// sockets are cut at random while they send still get every message of
// their room exactly once.
func TestE2EChatExactlyOnceAcrossCuts(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	h := newHarness(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const session = "chat-cuts"
	host := h.newChatter(ctx, session, "host", auth.RoleHost, 0)
	s := h.newChatter(ctx, session, "s", auth.RoleParticipant, 1)
	r := h.newChatter(ctx, session, "r", auth.RoleParticipant, 2)
	all := []*chatter{host, s, r}

	// A message sent, then the socket cut: the retry on the new socket
	// with the same client id gets the same answer and delivers nothing.
	id := s.chat.Post("room", "once only")
	var first signaling.ChatRef
	eventually(ctx, t, "r gets s's message", func() bool {
		for ref := range r.chat.Counts() {
			first = ref
			return true
		}
		return false
	})
	s.rejoin(ctx)
	retry := s.request(ctx, map[string]any{"type": signaling.CmdChatSend, "clientMsgId": id, "text": "once only"})
	if retry["type"] != signaling.TypeOK || retry["stream"] != first.Stream || retry["seq"] != float64(first.Seq) {
		t.Errorf("retry: %v, want ok with %+v", retry, first)
	}
	s.chat.Retry() // resends it if the first socket did not see its answer
	if err := s.chat.WaitAnswered(ctx); err != nil {
		t.Fatal(err)
	}

	// While s is away, r and the host post; s's rejoin replays exactly
	// those, and the deletion of one it had seen.
	before := r.send(ctx, "room", "seen by s")
	eventually(ctx, t, "s gets it", func() bool { return s.chat.Count(before) == 1 })
	s.bot.Cut()
	_ = s.bot.Close()
	missed := []signaling.ChatRef{r.send(ctx, "room", "missed 1"), host.send(ctx, rooms.ChatAll, "missed 2"), r.send(ctx, "room", "missed 3")}
	host.ctl.must(map[string]any{"type": signaling.CmdChatDelete, "stream": before.Stream, "seq": before.Seq})
	deleted := r.send(ctx, "room", "to be deleted")
	host.ctl.must(map[string]any{"type": signaling.CmdChatDelete, "stream": deleted.Stream, "seq": deleted.Seq})
	since := s.chat.Since()
	s.dial(ctx)
	eventually(ctx, t, "s gets what it missed", func() bool {
		for _, ref := range append(missed, deleted) {
			if s.chat.Count(ref) == 0 {
				return false
			}
		}
		return true
	})
	if since[before.Stream] != before.Seq {
		t.Errorf("chatSince %v, want %s at %d", since, before.Stream, before.Seq)
	}
	if e, _ := s.chat.Message(deleted); !e.Deleted || e.Text != "" {
		t.Errorf("a message deleted while away replays as %+v, want deleted with no text", e)
	}
	if n := s.chat.Deletions()[before]; n != 1 {
		t.Errorf("the deletion of a message s saw before its cut reached it %d times, want 1", n)
	}
	barrier(ctx, t, host, all)
	want := append([]signaling.ChatRef{first, before, deleted}, missed...)
	wantCounts(t, s, want)
	wantCounts(t, r, want)

	// Cuts while sending: s and r each post five more messages (within
	// their rates), and their sockets are cut right after some of them;
	// each retries, on its new socket, what was not answered.
	plan := map[*chatter][]bool{ // per message: cut right after posting it
		s: {true, false, true, false, true},
		r: {false, true, false, true, false},
	}
	tokens := map[*chatter]string{s: h.token(s.user, s.role, session, time.Hour), r: h.token(r.user, r.role, session, time.Hour)}
	var wg sync.WaitGroup
	for _, c := range []*chatter{s, r} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, cut := range plan[c] {
				c.chat.Post("room", fmt.Sprintf("%s %d", c.user, i))
				if cut {
					c.bot.Cut()
					_ = c.bot.Close()
					ctl := newController(t)
					b, err := bots.Dial(ctx, bots.Config{
						URL: h.url, Token: tokens[c], Session: session,
						Index: c.i, RunID: h.runID, API: h.api, OnMessage: ctl.onMessage, Chat: c.chat,
					})
					if err != nil {
						t.Errorf("%s: rejoin: %v", c.user, err)
						return
					}
					h.mu.Lock()
					h.bots = append(h.bots, b)
					h.mu.Unlock()
					ctl.bot = b
					c.bot, c.ctl = b, ctl // read by this test only after wg.Wait
					c.chat.Retry()
				}
			}
			if err := c.chat.WaitAnswered(ctx); err != nil {
				t.Errorf("%s: %v", c.user, err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	barrier(ctx, t, host, all)
	for _, c := range all {
		want = append(want, slices.Collect(maps.Values(c.chat.Acked()))...)
		if f := c.chat.Failed(); len(f) != 0 {
			t.Errorf("%s: messages refused: %v", c.user, f)
		}
	}
	for _, c := range all {
		wantCounts(t, c, dedupe(want))
	}
}

// A participant whose socket is down while its room chats, and whom the
// host moves before it comes back, gets what its old room said while it
// was there in its replay, and nothing the old room said after.
func TestE2EChatMovedWhileAway(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	h := newHarness(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const session = "chat-moved-away"
	host := h.newChatter(ctx, session, "host", auth.RoleHost, 0)
	a := h.newChatter(ctx, session, "a", auth.RoleParticipant, 1)
	b := h.newChatter(ctx, session, "b", auth.RoleParticipant, 2)
	host.ctl.must(map[string]any{"type": signaling.CmdCreateBreakouts, "count": 1})
	snap, err := h.srv.Hub().Snapshot(session)
	if err != nil {
		t.Fatal(err)
	}
	seen := b.send(ctx, "room", "a hears this")
	eventually(ctx, t, "a gets it", func() bool { return a.chat.Count(seen) == 1 })
	a.bot.Cut()
	_ = a.bot.Close()
	owed := []signaling.ChatRef{b.send(ctx, "room", "while a is away 1"), host.send(ctx, "room", "while a is away 2")}
	host.ctl.must(map[string]any{"type": signaling.CmdMove, "participantId": a.bot.ParticipantID(), "room": snap.Rooms[0].ID})
	after := b.send(ctx, "room", "after a was moved")
	a.dial(ctx)
	barrier(ctx, t, host, []*chatter{host, a, b})
	wantCounts(t, a, append(owed, seen))
	wantCounts(t, b, append(owed, seen, after))
}

// dedupe returns refs without repeats.
func dedupe(refs []signaling.ChatRef) []signaling.ChatRef {
	seen := map[signaling.ChatRef]bool{}
	var out []signaling.ChatRef
	for _, r := range refs {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

// Texts and ids are bounded, a burst over the rate is refused, only the
// staff deletes, and a stream keeps its newest messages: a late joiner's
// replay and history hold exactly those, in order.
func TestE2EChatLimitsDeleteAndHistory(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	h := newHarness(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const session = "chat-limits"
	host := h.newChatter(ctx, session, "host", auth.RoleHost, 0)
	a := h.newChatter(ctx, session, "a", auth.RoleParticipant, 1)

	for _, tc := range []struct {
		what string
		m    map[string]any
		code string
	}{
		{"an empty text", map[string]any{"clientMsgId": "e", "text": "  \n "}, signaling.CodeInvalid},
		{"a text too long", map[string]any{"clientMsgId": "l", "text": strings.Repeat("ü", rooms.MaxChatRunes+1)}, signaling.CodeInvalid},
		{"no client id", map[string]any{"text": "hi"}, signaling.CodeInvalid},
		{"a client id too long", map[string]any{"clientMsgId": strings.Repeat("i", rooms.MaxClientMsgIDBytes+1), "text": "hi"}, signaling.CodeInvalid},
		{"an unknown stream", map[string]any{"clientMsgId": "u", "text": "hi", "to": "everyone"}, signaling.CodeInvalid},
		{"a text of the wrong type", map[string]any{"clientMsgId": "t", "text": 5}, signaling.CodeBadMessage},
	} {
		tc.m["type"] = signaling.CmdChatSend
		wantCode(t, tc.what, a.request(ctx, tc.m), tc.code)
	}
	longest := a.send(ctx, "room", strings.Repeat("ü", rooms.MaxChatRunes))

	// A burst over the rate: the first ones pass, the rest are refused.
	for i := range 3 * rooms.ChatBurst {
		a.chat.Post("room", fmt.Sprint("burst ", i))
	}
	if err := a.chat.WaitAnswered(ctx); err != nil {
		t.Fatal(err)
	}
	refused := a.chat.Failed()
	for id, code := range refused {
		if code != signaling.CodeRateLimited {
			t.Errorf("burst message %s: %s, want %s", id, code, signaling.CodeRateLimited)
		}
	}
	if n := len(a.chat.Acked()); len(refused) == 0 || n < rooms.ChatBurst {
		t.Errorf("a burst of %d: %d accepted, %d refused; want the burst of %d accepted, the rest refused",
			3*rooms.ChatBurst, n, len(refused), rooms.ChatBurst)
	}

	// Delete: refused to a participant, done by the host for everyone.
	wantCode(t, "a participant deletes", a.request(ctx, map[string]any{"type": signaling.CmdChatDelete, "stream": longest.Stream, "seq": longest.Seq}), signaling.CodeForbidden)
	wantCode(t, "the host deletes nothing", host.request(ctx, map[string]any{"type": signaling.CmdChatDelete, "stream": longest.Stream, "seq": 999}), signaling.CodeNotFound)
	if m := host.request(ctx, map[string]any{"type": signaling.CmdChatDelete, "stream": longest.Stream, "seq": longest.Seq}); m["type"] != signaling.TypeOK {
		t.Errorf("the host deletes: %v", m)
	}
	for _, c := range []*chatter{host, a} {
		eventually(ctx, t, c.user+" is told of the deletion", func() bool { return c.chat.Deletions()[longest] == 1 })
	}

	// Fill main far past the bound, from records with no socket (each
	// within its own rate), and let a new participant join.
	hub := h.srv.Hub()
	for i := range rooms.ChatHistoryLen/rooms.ChatBurst + 1 {
		p, err := hub.Join(session, rooms.Identity{UserID: fmt.Sprint("filler-", i)})
		if err != nil {
			t.Fatal(err)
		}
		for j := range rooms.ChatBurst {
			text := fmt.Sprintf("%d/%d %s", i, j, strings.Repeat("<&>", 600))
			if _, err := hub.PostChat(session, rooms.Actor{ParticipantID: p.Participant.ID}, "room", fmt.Sprint(j), text); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, kept, err := hub.ChatHistory(session, rooms.Actor{ParticipantID: a.bot.ParticipantID()}, "room", 0)
	if err != nil {
		t.Fatal(err)
	}
	lastSeq := kept[len(kept)-1].Seq
	late := h.newChatter(ctx, session, "late", auth.RoleParticipant, 2)
	main := rooms.ChatRoomStream(rooms.MainRoom)
	eventually(ctx, t, "the late joiner's replay", func() bool { return late.chat.Since()[main] == lastSeq })
	var replayed []signaling.ChatRef
	for ref, n := range late.chat.Counts() {
		if n != 1 {
			t.Errorf("replay: %+v arrived %d times", ref, n)
		}
		replayed = append(replayed, ref)
	}
	if len(replayed) != rooms.ChatHistoryLen {
		t.Errorf("replay of %d messages, want the %d kept", len(replayed), rooms.ChatHistoryLen)
	}
	for seq := lastSeq - rooms.ChatHistoryLen + 1; seq <= lastSeq; seq++ {
		if late.chat.Count(signaling.ChatRef{Stream: main, Seq: seq}) != 1 {
			t.Errorf("seq %d not replayed once", seq)
		}
	}
	replays := 0
	for _, m := range late.ctl.seen() {
		if m["type"] == signaling.TypeChatReplay {
			replays++
		}
	}
	if replays < 2 {
		t.Errorf("a replay of %d long messages came in %d chat.replay messages, want it split", rooms.ChatHistoryLen, replays)
	}
	hist := late.request(ctx, map[string]any{"type": signaling.CmdChatHistory, "stream": "room", "after": lastSeq - 3})
	msgs, _ := hist["messages"].([]any)
	if len(msgs) != 3 {
		t.Fatalf("history after %d: %v", lastSeq-3, hist)
	}
	for i, m := range msgs {
		e := m.(map[string]any)
		if e["seq"] != float64(lastSeq-2+uint64(i)) || !strings.HasSuffix(e["text"].(string), "<&><&>") {
			t.Errorf("history[%d] = %v", i, e)
		}
	}
}

// rawChat is a participant on bare websockets (no media): it joins, sends
// chat and reads until its socket is cut.
type rawChat struct {
	url     string
	token   string
	session string
}

// join opens a socket and joins with chatSince; the caller reads.
func (r rawChat) join(since map[string]uint64) (*websocket.Conn, error) {
	ws, _, err := websocket.DefaultDialer.Dial(r.url, nil)
	if err != nil {
		return nil, err
	}
	err = ws.WriteJSON(signaling.Join{Envelope: signaling.Envelope{Type: signaling.TypeJoin, ID: "join"},
		Token: r.token, Session: r.session, ChatSince: since})
	if err != nil {
		_ = ws.Close()
		return nil, err
	}
	return ws, nil
}

// A socket's replay and the live chat after it never skip nor repeat a
// message, however the two interleave: a participant whose socket is cut
// again and again, at random moments, while others post, gets every
// message exactly once.
func TestE2EChatReplayRacesLiveChat(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	h := newHarness(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const session, senders = "chat-race", 4
	raw := func(user string) rawChat {
		return rawChat{url: h.url, token: h.token(user, auth.RoleParticipant, session, time.Hour), session: session}
	}

	// The receiver joins first, so that it reads everything from seq 1.
	recv := raw("receiver")
	counts := map[signaling.ChatRef]int{}
	since := map[string]uint64{}
	var cmu sync.Mutex // guards counts and since, written by the reader of the current socket
	count := func(e signaling.ChatEntry) {
		cmu.Lock()
		defer cmu.Unlock()
		ref := signaling.ChatRef{Stream: e.Stream, Seq: e.Seq}
		counts[ref]++
		since[e.Stream] = max(since[e.Stream], e.Seq)
	}
	// read takes the messages of one socket until it fails; welcomed
	// is closed at its welcome.
	read := func(ws *websocket.Conn, welcomed chan<- struct{}) {
		for {
			var m struct {
				signaling.Envelope
				signaling.ChatEntry
				Messages []signaling.ChatEntry `json:"messages"`
			}
			if ws.ReadJSON(&m) != nil {
				return
			}
			switch m.Type {
			case signaling.TypeWelcome:
				if welcomed != nil {
					close(welcomed)
					welcomed = nil
				}
			case signaling.TypeChat:
				count(m.ChatEntry)
			case signaling.TypeChatReplay:
				for _, e := range m.Messages {
					count(e)
				}
			}
		}
	}
	first, err := recv.join(nil)
	if err != nil {
		t.Fatal(err)
	}
	welcomed := make(chan struct{})
	readerDone := make(chan struct{})
	go func(ws *websocket.Conn, done chan struct{}) { defer close(done); read(ws, welcomed) }(first, readerDone)
	<-welcomed

	// The senders post ChatBurst messages each, a few milliseconds apart,
	// and collect the refs of their oks.
	var (
		mu    sync.Mutex
		refs  []signaling.ChatRef
		wg    sync.WaitGroup
		stop  = make(chan struct{})
		conns []*websocket.Conn
	)
	for i := range senders {
		ws, err := raw(fmt.Sprint("sender-", i)).join(nil)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, ws)
		acked := make(chan signaling.ChatRef, rooms.ChatBurst)
		wg.Add(2)
		go func() { // reads its socket: oks, and everything else it is sent
			defer wg.Done()
			for {
				var m struct {
					signaling.Envelope
					signaling.ChatRef
					Code string `json:"code"`
				}
				if ws.ReadJSON(&m) != nil {
					return
				}
				if m.Type == signaling.TypeOK && strings.HasPrefix(m.ID, "c-") {
					acked <- m.ChatRef
				} else if m.Type == signaling.TypeError {
					t.Errorf("sender %d: %s", i, m.Code)
				}
			}
		}()
		go func() {
			defer wg.Done()
			for j := range rooms.ChatBurst {
				_ = ws.WriteJSON(signaling.ChatCommand{Envelope: signaling.Envelope{Type: signaling.CmdChatSend, ID: fmt.Sprint("c-", j)},
					ClientMsgID: fmt.Sprint(j), Text: fmt.Sprintf("%d/%d", i, j)})
				select {
				case ref := <-acked:
					mu.Lock()
					refs = append(refs, ref)
					mu.Unlock()
				case <-stop:
					return
				}
				time.Sleep(time.Duration(rand.IntN(5)) * time.Millisecond) // spreads the posts; not a synchronisation
			}
		}()
	}

	// Meanwhile the receiver's socket is cut at random moments and it
	// joins again with what it has seen, until every message was acked.
	cuts := 0
	for {
		mu.Lock()
		n := len(refs)
		mu.Unlock()
		if n == senders*rooms.ChatBurst || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond) // a random moment to cut at
		_ = first.NetConn().Close()
		<-readerDone
		cuts++
		if first, err = recv.join(since); err != nil { // no reader runs: since is not being written
			t.Fatal(err)
		}
		readerDone = make(chan struct{})
		go func(ws *websocket.Conn, done chan struct{}) { defer close(done); read(ws, nil) }(first, readerDone)
	}
	close(stop)
	replacedLate := 0
	// A last socket reads the rest, live or replayed. A join the server
	// read late from a socket already cut can still take the record over
	// from it (the server tells it replaced and closes it): then it joins
	// again.
	arrived := func() bool {
		cmu.Lock()
		defer cmu.Unlock()
		for _, ref := range refs {
			if counts[ref] == 0 {
				return false
			}
		}
		return true
	}
	for !arrived() {
		_ = first.NetConn().Close()
		<-readerDone
		if first, err = recv.join(since); err != nil { // no reader runs: since is not being written
			t.Fatal(err)
		}
		readerDone = make(chan struct{})
		go func(ws *websocket.Conn, done chan struct{}) { defer close(done); read(ws, nil) }(first, readerDone)
		for !arrived() {
			select {
			case <-readerDone:
				replacedLate++
			case <-ctx.Done():
				t.Fatal("gave up waiting for every acked message to reach the receiver")
			case <-time.After(20 * time.Millisecond):
				continue
			}
			break
		}
	}
	_ = first.Close()
	for _, ws := range conns {
		_ = ws.Close()
	}
	wg.Wait()
	if len(refs) != senders*rooms.ChatBurst {
		t.Fatalf("%d messages acked, want %d", len(refs), senders*rooms.ChatBurst)
	}
	cmu.Lock()
	defer cmu.Unlock()
	for ref, n := range counts {
		if n != 1 {
			t.Errorf("%s/%d arrived %d times", ref.Stream, ref.Seq, n)
		}
	}
	if len(counts) != len(refs) {
		t.Errorf("%d messages arrived, %d were posted", len(counts), len(refs))
	}
	t.Logf("%d messages, %d cuts, %d sockets replaced by a late join", len(refs), cuts, replacedLate)
}
