package rooms

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// chatSetup is a session "s" with a host, a moderator and participants a
// and b, b in a breakout room.
type chatSetup struct {
	h                   *harness
	host, mod           Participant
	a, b                Participant
	room                string // b's breakout room
	hostA, modA, aA, bA Actor
}

func newChatSetup(t *testing.T) *chatSetup {
	t.Helper()
	h := newHarness(t)
	c := &chatSetup{h: h}
	c.host = h.join("s", "host", RoleHost).Participant
	c.mod = h.join("s", "mod", RoleModerator).Participant
	c.a = h.join("s", "a", RoleParticipant).Participant
	c.b = h.join("s", "b", RoleParticipant).Participant
	c.hostA, c.modA, c.aA, c.bA = actorOf(c.host), actorOf(c.mod), actorOf(c.a), actorOf(c.b)
	rs, _ := okPair(h.hub.CreateBreakouts("s", c.hostA, []RoomSpec{{Name: "R"}}))(t)
	c.room = rs[0].ID
	ok(h.hub.Move("s", c.hostA, c.b.ID, c.room))(t)
	return c
}

// okPair is ok for functions with two results before the error.
func okPair[A, B any](a A, b B, err error) func(testing.TB) (A, B) {
	return func(t testing.TB) (A, B) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	}
}

func sortedIDs(ps ...Participant) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	slices.Sort(out)
	return out
}

func sorted(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// Each stream reaches exactly its readers, seqs count per stream, and
// writing where one may not is forbidden, all without a version change.
func TestChatStreamsAndReaders(t *testing.T) {
	c := newChatSetup(t)
	hub := c.h.hub
	v := c.h.version("s")

	cases := []struct {
		name    string
		actor   Actor
		to      string
		stream  string
		seq     uint64
		readers []string
	}{
		{"a to its room", c.aA, "room", ChatRoomStream(MainRoom), 1, sortedIDs(c.host, c.mod, c.a)},
		{"a to its room, by default", c.aA, "", ChatRoomStream(MainRoom), 2, sortedIDs(c.host, c.mod, c.a)},
		{"b to its breakout", c.bA, "room", ChatRoomStream(c.room), 1, sortedIDs(c.b)},
		{"b names its room", c.bA, ChatRoomStream(c.room), ChatRoomStream(c.room), 2, sortedIDs(c.b)},
		{"host to all", c.hostA, ChatAll, ChatAll, 1, sortedIDs(c.host, c.mod, c.a, c.b)},
		{"moderator to all", c.modA, ChatAll, ChatAll, 2, sortedIDs(c.host, c.mod, c.a, c.b)},
		{"b to the staff", c.bA, "staff", ChatStaffStream(c.b.ID), 1, sortedIDs(c.host, c.mod, c.b)},
		{"moderator answers b", c.modA, ChatStaffStream(c.b.ID), ChatStaffStream(c.b.ID), 2, sortedIDs(c.host, c.mod, c.b)},
		{"a to the staff", c.aA, "staff", ChatStaffStream(c.a.ID), 1, sortedIDs(c.host, c.mod, c.a)},
	}
	for i, tc := range cases {
		res, err := hub.PostChat("s", tc.actor, tc.to, fmt.Sprintf("m%d", i), " hello "+tc.name+"\n")
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		m := res.Message
		if m.Stream != tc.stream || m.Seq != tc.seq || m.Version != v || res.Duplicate || m.Text != "hello "+tc.name || m.From != tc.actor.ParticipantID ||
			m.ClientMsgID != fmt.Sprintf("m%d", i) || m.At.IsZero() || m.Alias == "" {
			t.Errorf("%s: %+v, want stream %s seq %d", tc.name, res, tc.stream, tc.seq)
		}
		if got := sorted(res.Readers); !slices.Equal(got, tc.readers) {
			t.Errorf("%s: readers %v, want %v", tc.name, got, tc.readers)
		}
	}

	forbidden := []struct {
		name  string
		actor Actor
		to    string
	}{
		{"a to all", c.aA, ChatAll},
		{"a to the breakout it is not in", c.aA, ChatRoomStream(c.room)},
		{"host to the breakout it is not in", c.hostA, ChatRoomStream(c.room)},
		{"a in b's staff thread", c.aA, ChatStaffStream(c.b.ID)},
	}
	for _, tc := range forbidden {
		_, err := hub.PostChat("s", tc.actor, tc.to, "x-"+tc.name, "hi")
		wantErr(t, err, ErrForbidden)
	}
	_, err := hub.PostChat("s", c.hostA, ChatStaffStream("p-nobody"), "x1", "hi")
	wantErr(t, err, ErrNotFound)
	for _, bad := range []string{"lobby", "room:", "staff:", "all:x", "main"} {
		_, err := hub.PostChat("s", c.aA, bad, "bad-"+bad, "hi")
		wantErr(t, err, ErrInvalid)
	}
	_, err = hub.PostChat("s", Actor{Role: RoleHost}, ChatAll, "x2", "hi")
	wantErr(t, err, ErrInvalid) // an integration has no record to chat from

	if got := c.h.version("s"); got != v {
		t.Errorf("chat changed the session version: %d, want %d", got, v)
	}
}

// History is readable by readers only, and a move changes what one reads.
func TestChatHistoryFollowsTheRoom(t *testing.T) {
	c := newChatSetup(t)
	hub := c.h.hub
	for i := range 3 {
		ok(hub.PostChat("s", c.aA, "room", fmt.Sprint("a", i), fmt.Sprint("main ", i)))(t)
	}
	ok(hub.PostChat("s", c.bA, "room", "b0", "breakout"))(t)

	name, msgs := okPair(hub.ChatHistory("s", c.aA, "room", 1))(t)
	if name != ChatRoomStream(MainRoom) || len(msgs) != 2 || msgs[0].Seq != 2 || msgs[1].Text != "main 2" {
		t.Errorf("a's history after 1: %s %+v", name, msgs)
	}
	_, _, err := hub.ChatHistory("s", c.bA, ChatRoomStream(MainRoom), 0)
	wantErr(t, err, ErrForbidden)
	_, _, err = hub.ChatHistory("s", c.aA, ChatStaffStream(c.b.ID), 0)
	wantErr(t, err, ErrForbidden)
	_, msgs = okPair(hub.ChatHistory("s", c.modA, ChatStaffStream(c.b.ID), 0))(t)
	if msgs == nil || len(msgs) != 0 {
		t.Errorf("an empty stream's history: %#v, want an empty slice", msgs)
	}

	// b comes back to main: it reads main's stream and no longer its room's.
	ok(hub.Move("s", c.hostA, c.b.ID, MainRoom))(t)
	_, msgs = okPair(hub.ChatHistory("s", c.bA, "room", 0))(t)
	if len(msgs) != 3 {
		t.Errorf("b's history of main after its move: %d messages, want 3", len(msgs))
	}
	_, _, err = hub.ChatHistory("s", c.bA, ChatRoomStream(c.room), 0)
	wantErr(t, err, ErrForbidden)
	res := ok(hub.PostChat("s", c.aA, "room", "a3", "welcome back"))(t)
	if got := sorted(res.Readers); !slices.Equal(got, sortedIDs(c.host, c.mod, c.a, c.b)) {
		t.Errorf("readers after b's move: %v", got)
	}
}

// The same client id from the same sender is the same message, wherever
// the sender is now; another sender's same id is another message.
func TestChatDeduplicatesByClientID(t *testing.T) {
	c := newChatSetup(t)
	hub := c.h.hub
	first := ok(hub.PostChat("s", c.aA, "room", "id-1", "once"))(t)
	again := ok(hub.PostChat("s", c.aA, "room", "id-1", "once"))(t)
	if !again.Duplicate || again.Message != first.Message || again.Readers != nil {
		t.Errorf("retry: %+v, want the original %+v as a duplicate with no readers", again, first)
	}
	ok(hub.Move("s", c.hostA, c.a.ID, c.room))(t)
	moved := ok(hub.PostChat("s", c.aA, "room", "id-1", "other text"))(t)
	if !moved.Duplicate || moved.Message != first.Message {
		t.Errorf("retry after a move: %+v, want the original", moved)
	}
	other := ok(hub.PostChat("s", c.bA, "room", "id-1", "mine"))(t)
	if other.Duplicate || other.Message.From != c.b.ID {
		t.Errorf("another sender's id-1: %+v, want a new message", other)
	}
	// A takeover (reconnect) keeps the participant id: still a duplicate.
	c.h.join("s", "a", RoleParticipant)
	if res := ok(hub.PostChat("s", c.aA, "room", "id-1", "once"))(t); !res.Duplicate {
		t.Errorf("retry after a takeover: %+v, want a duplicate", res)
	}
}

// A stream keeps its newest ChatHistoryLen messages, and forgets the client
// ids of the dropped ones.
func TestChatHistoryIsBounded(t *testing.T) {
	h := newHarness(t) // its clock moves a second per reading: never rate limited
	p := h.join("s", "a", RoleParticipant).Participant
	const n = ChatHistoryLen + 5
	for i := 1; i <= n; i++ {
		ok(h.hub.PostChat("s", actorOf(p), "room", fmt.Sprint("id-", i), fmt.Sprint("text ", i)))(t)
	}
	_, msgs := okPair(h.hub.ChatHistory("s", actorOf(p), "room", 0))(t)
	if len(msgs) != ChatHistoryLen || msgs[0].Seq != n-ChatHistoryLen+1 || msgs[len(msgs)-1].Seq != n {
		t.Fatalf("history: %d messages, seqs %d..%d; want %d, %d..%d",
			len(msgs), msgs[0].Seq, msgs[len(msgs)-1].Seq, ChatHistoryLen, n-ChatHistoryLen+1, n)
	}
	for i, m := range msgs {
		if want := uint64(n - ChatHistoryLen + 1 + i); m.Seq != want || m.Text != fmt.Sprint("text ", want) {
			t.Fatalf("history[%d] = seq %d %q, want seq %d", i, m.Seq, m.Text, want)
		}
	}
	if res := ok(h.hub.PostChat("s", actorOf(p), "room", "id-10", "x"))(t); !res.Duplicate || res.Message.Seq != 10 {
		t.Errorf("id of a kept message: %+v, want the duplicate of seq 10", res)
	}
	if res := ok(h.hub.PostChat("s", actorOf(p), "room", "id-1", "x"))(t); res.Duplicate || res.Message.Seq != n+1 {
		t.Errorf("id of a dropped message: %+v, want a new message %d", res, n+1)
	}
	s, _ := h.hub.lockSession("s")
	kept := len(s.chat.sent)
	s.mu.Unlock()
	if kept != ChatHistoryLen {
		t.Errorf("%d client ids remembered, want %d (one per kept message)", kept, ChatHistoryLen)
	}
}

// Each participant may send ChatBurst at once and ChatRate a second; a
// retry costs nothing.
func TestChatRateLimit(t *testing.T) {
	var mu sync.Mutex
	now := t0
	hub := newTestHub(Options{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	a := ok(hub.Join("s", Identity{UserID: "a"}))(t).Participant
	b := ok(hub.Join("s", Identity{UserID: "b"}))(t).Participant
	for i := range ChatBurst {
		ok(hub.PostChat("s", actorOf(a), "room", fmt.Sprint(i), "hi"))(t)
	}
	_, err := hub.PostChat("s", actorOf(a), "room", "over", "hi")
	wantErr(t, err, ErrRateLimited)
	if res := ok(hub.PostChat("s", actorOf(a), "room", "3", "hi"))(t); !res.Duplicate {
		t.Errorf("a retry while limited: %+v, want the duplicate", res)
	}
	ok(hub.PostChat("s", actorOf(b), "room", "b", "hi"))(t) // b has its own bucket
	advance(time.Second)
	ok(hub.PostChat("s", actorOf(a), "room", "after 1s", "hi"))(t)
	_, err = hub.PostChat("s", actorOf(a), "room", "over again", "hi")
	wantErr(t, err, ErrRateLimited)
	advance(time.Hour) // refills to the burst, no more
	for i := range ChatBurst {
		ok(hub.PostChat("s", actorOf(a), "room", fmt.Sprint("later ", i), "hi"))(t)
	}
	_, err = hub.PostChat("s", actorOf(a), "room", "over the burst", "hi")
	wantErr(t, err, ErrRateLimited)
	_, msgs := okPair(hub.ChatHistory("s", actorOf(a), "room", 0))(t)
	if len(msgs) != 2*ChatBurst+2 {
		t.Errorf("%d messages posted, want %d", len(msgs), 2*ChatBurst+2)
	}
}

// Texts and client ids are bounded, trimmed, and kept as sent.
func TestChatTextLimits(t *testing.T) {
	h := newHarness(t)
	p := actorOf(h.join("s", "a", RoleParticipant).Participant)
	long := strings.Repeat("é", MaxChatRunes)
	invalid := []struct{ id, text string }{
		{"1", ""},
		{"2", " \n\t "},
		{"3", long + "x"},
		{"4", "bad \xff utf-8"},
		{"", "no id"},
		{strings.Repeat("x", MaxClientMsgIDBytes+1), "long id"},
		{"\xff", "bad id"},
	}
	for _, tc := range invalid {
		_, err := h.hub.PostChat("s", p, "room", tc.id, tc.text)
		wantErr(t, err, ErrInvalid)
	}
	for i, text := range []string{long, "  " + long + "  ", "<b>not bold</b> & <script>x</script>"} {
		res := ok(h.hub.PostChat("s", p, "room", fmt.Sprint("ok", i)+strings.Repeat("x", MaxClientMsgIDBytes-3), text))(t)
		if res.Message.Text != strings.TrimSpace(text) {
			t.Errorf("text %d stored as %q", i, res.Message.Text)
		}
	}
	_, msgs := okPair(h.hub.ChatHistory("s", p, "room", 0))(t)
	if len(msgs) != 3 {
		t.Errorf("%d messages kept, want the 3 valid ones", len(msgs))
	}
}

// Moderators delete messages, keeping their seq; participants may not, and
// nobody deletes a message of someone above them.
func TestChatDelete(t *testing.T) {
	c := newChatSetup(t)
	hub := c.h.hub
	m1 := ok(hub.PostChat("s", c.aA, "room", "1", "first"))(t).Message
	ok(hub.PostChat("s", c.aA, "room", "2", "second"))(t)
	hm := ok(hub.PostChat("s", c.hostA, "room", "3", "host's"))(t).Message
	main := ChatRoomStream(MainRoom)

	_, err := hub.DeleteChat("s", c.aA, main, m1.Seq)
	wantErr(t, err, ErrForbidden)
	_, err = hub.DeleteChat("s", c.modA, main, hm.Seq)
	wantErr(t, err, ErrForbidden)
	for _, seq := range []uint64{0, 4, 99} {
		_, err = hub.DeleteChat("s", c.modA, main, seq)
		wantErr(t, err, ErrNotFound)
	}
	_, err = hub.DeleteChat("s", c.modA, ChatRoomStream("r-none"), 1)
	wantErr(t, err, ErrNotFound)

	res := ok(hub.DeleteChat("s", c.modA, main, m1.Seq))(t)
	if !res.Message.Deleted || res.Message.Text != "" || res.Message.Seq != m1.Seq ||
		!slices.Equal(sorted(res.Readers), sortedIDs(c.host, c.mod, c.a)) {
		t.Errorf("delete: %+v", res)
	}
	if again := ok(hub.DeleteChat("s", c.modA, main, m1.Seq))(t); again.Readers != nil || !again.Message.Deleted {
		t.Errorf("delete again: %+v, want no change", again)
	}
	_, msgs := okPair(hub.ChatHistory("s", c.aA, "room", 0))(t)
	if len(msgs) != 3 || !msgs[0].Deleted || msgs[0].Text != "" || msgs[1].Deleted || msgs[1].Text != "second" {
		t.Errorf("history after the delete: %+v", msgs)
	}
	// The deleted message still de-duplicates its retry.
	if res := ok(hub.PostChat("s", c.aA, "room", "1", "first"))(t); !res.Duplicate || !res.Message.Deleted {
		t.Errorf("retry of a deleted message: %+v, want the deleted original", res)
	}
	// The host deletes a message in a breakout it is not in.
	b1 := ok(hub.PostChat("s", c.bA, "room", "b", "in the breakout"))(t).Message
	if res := ok(hub.DeleteChat("s", c.hostA, b1.Stream, b1.Seq))(t); !slices.Equal(res.Readers, []string{c.b.ID}) {
		t.Errorf("delete in a breakout: readers %v", res.Readers)
	}
}

// A replay gives every stream the participant reads, after what it saw,
// and the deletions of what it saw.
func TestChatReplay(t *testing.T) {
	c := newChatSetup(t)
	hub := c.h.hub
	main := ChatRoomStream(MainRoom)
	for i := 1; i <= 4; i++ {
		ok(hub.PostChat("s", c.aA, "room", fmt.Sprint("a", i), fmt.Sprint("main ", i)))(t)
	}
	ok(hub.PostChat("s", c.hostA, ChatAll, "h1", "to all"))(t)
	ok(hub.PostChat("s", c.aA, "staff", "s1", "help"))(t)
	ok(hub.PostChat("s", c.bA, "staff", "s2", "help b"))(t)
	ok(hub.PostChat("s", c.bA, "room", "b1", "breakout"))(t)
	ok(hub.DeleteChat("s", c.modA, main, 2))(t)
	ok(hub.DeleteChat("s", c.modA, main, 4))(t)

	refs := func(ms []ChatMessage) []string {
		var out []string
		for _, m := range ms {
			out = append(out, fmt.Sprintf("%s/%d", m.Stream, m.Seq))
		}
		return out
	}
	rep := ok(hub.ChatReplay("s", c.a.ID, map[string]uint64{main: 2, ChatAll: 1}))(t)
	want := []string{main + "/3", main + "/4", ChatStaffStream(c.a.ID) + "/1"}
	if got := refs(rep.Messages); !slices.Equal(got, want) {
		t.Errorf("a's replay: %v, want %v", got, want)
	}
	if !rep.Messages[1].Deleted || rep.Messages[1].Text != "" || rep.Messages[0].Text != "main 3" {
		t.Errorf("a's replay texts: %+v", rep.Messages)
	}
	if !slices.Equal(rep.Deleted, []ChatRef{{main, 2}}) {
		t.Errorf("a's replayed deletions: %v, want main/2", rep.Deleted)
	}

	// Nothing seen: everything kept. The moderator reads every staff thread.
	rep = ok(hub.ChatReplay("s", c.mod.ID, nil))(t)
	want = []string{ChatAll + "/1", main + "/1", main + "/2", main + "/3", main + "/4",
		ChatStaffStream(c.a.ID) + "/1", ChatStaffStream(c.b.ID) + "/1"}
	slices.Sort(want[5:])
	if got := refs(rep.Messages); !slices.Equal(got, want) {
		t.Errorf("moderator's replay: %v, want %v", got, want)
	}
	// A since beyond the stream's end (another incarnation) replays it all.
	rep = ok(hub.ChatReplay("s", c.b.ID, map[string]uint64{ChatRoomStream(c.room): 50, ChatAll: 1, ChatStaffStream(c.b.ID): 1}))(t)
	if got := refs(rep.Messages); !slices.Equal(got, []string{ChatRoomStream(c.room) + "/1"}) || rep.Deleted != nil {
		t.Errorf("b's replay: %v %v", got, rep.Deleted)
	}
	_, err := hub.ChatReplay("s", "p-nobody", nil)
	wantErr(t, err, ErrNotFound)
}

// A participant moved out of a room is still owed what was posted there
// while it was in (its socket may have been down), and only that, until a
// since shows that its client has it.
func TestChatReplayOwesTheRoomsLeft(t *testing.T) {
	c := newChatSetup(t)
	hub := c.h.hub
	main, room := ChatRoomStream(MainRoom), ChatRoomStream(c.room)
	refs := func(rep ChatReplay) string {
		var out []string
		for _, m := range rep.Messages {
			out = append(out, fmt.Sprintf("%s/%d", m.Stream, m.Seq))
		}
		return fmt.Sprint(out, rep.Deleted)
	}
	replay := func(since map[string]uint64, want string) {
		t.Helper()
		if got := refs(ok(hub.ChatReplay("s", c.a.ID, since))(t)); got != want {
			t.Errorf("a's replay after %v: %s, want %s", since, got, want)
		}
	}
	ok(hub.PostChat("s", c.bA, "room", "b1", "before a came"))(t)
	for i := 1; i <= 3; i++ { // a saw the first only: then its socket dropped
		ok(hub.PostChat("s", c.hostA, "room", fmt.Sprint("h", i), "main"))(t)
	}
	ok(hub.DeleteChat("s", c.hostA, main, 1))(t)
	ok(hub.Move("s", c.hostA, c.a.ID, c.room))(t)
	ok(hub.PostChat("s", c.hostA, "room", "h4", "after a left"))(t)
	ok(hub.PostChat("s", c.bA, "room", "b2", "a is here"))(t)
	replay(map[string]uint64{main: 1}, "[room:main/2 room:main/3 "+room+"/1 "+room+"/2] [{room:main 1}]")
	replay(map[string]uint64{main: 2, room: 1}, "[room:main/3 "+room+"/2] [{room:main 1}]")

	// Back in main and out again before the client came back: both stays
	// are owed as one, with what came between (main's history after
	// since, which a replay in main gives anyway).
	ok(hub.Move("s", c.hostA, c.a.ID, MainRoom))(t)
	ok(hub.PostChat("s", c.hostA, "room", "h5", "a is back"))(t)
	ok(hub.Move("s", c.hostA, c.a.ID, c.room))(t)
	ok(hub.PostChat("s", c.hostA, "room", "h6", "a left again"))(t)
	replay(map[string]uint64{main: 2, room: 2}, "[room:main/3 room:main/4 room:main/5] [{room:main 1}]")

	// A since with everything owed settles the debt: a later replay
	// without since gives only the room a is in.
	replay(map[string]uint64{main: 5, room: 2}, "[] []")
	replay(nil, "["+room+"/1 "+room+"/2] []")

	// Closing the breakout moves a to main; a is owed the breakout's
	// messages from when it entered it, not b1. The closed room's debt
	// goes with its stream.
	ok(hub.PostChat("s", c.bA, "room", "b3", "closing"))(t)
	ok(hub.CloseAllRooms("s", c.hostA))(t)
	replay(map[string]uint64{main: 6}, "["+room+"/2 "+room+"/3] [{room:main 1}]")
	replay(map[string]uint64{main: 6, room: 2}, "["+room+"/3] [{room:main 1}]")
	rs, _ := okPair(hub.CreateBreakouts("s", c.hostA, []RoomSpec{{Name: "R2"}}))(t)
	ok(hub.Move("s", c.hostA, c.b.ID, rs[0].ID))(t)
	ok(hub.PostChat("s", c.bA, "room", "b4", "the closed room's stream is pruned"))(t)
	replay(map[string]uint64{main: 6, room: 2}, "[] [{room:main 1}]")
}

// The stream of a closed breakout room goes once another room stream is
// made; main's stays.
func TestChatClosedRoomStreamsArePruned(t *testing.T) {
	c := newChatSetup(t)
	hub := c.h.hub
	ok(hub.PostChat("s", c.aA, "room", "a", "main"))(t)
	ok(hub.PostChat("s", c.bA, "room", "b", "breakout"))(t)
	ok(hub.CloseAllRooms("s", c.hostA))(t)
	rs, _ := okPair(hub.CreateBreakouts("s", c.hostA, []RoomSpec{{Name: "R2"}}))(t)
	ok(hub.Move("s", c.hostA, c.a.ID, rs[0].ID))(t)
	ok(hub.PostChat("s", c.aA, "room", "a2", "new room"))(t)
	s, _ := hub.lockSession("s")
	var names []string
	for name := range s.chat.streams {
		names = append(names, name)
	}
	_, remembered := s.chat.sent[chatKey{c.b.ID, "b"}]
	s.mu.Unlock()
	slices.Sort(names)
	if want := []string{ChatRoomStream(MainRoom), ChatRoomStream(rs[0].ID)}; !slices.Equal(names, want) || remembered {
		t.Errorf("streams %v (client id of the pruned message remembered: %v), want %v", names, remembered, want)
	}
}

// Concurrent posts to one stream get every seq once, with no gap, and
// concurrent retries of one id post it once.
func TestChatConcurrentPosts(t *testing.T) {
	h := newHarness(t)
	const senders, each = 8, ChatBurst
	actors := make([]Actor, senders)
	for i := range actors {
		actors[i] = actorOf(h.join("s", fmt.Sprint("u", i), RoleParticipant).Participant)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	seqs := map[uint64]string{}
	for i, a := range actors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				for range 3 { // every message sent three times
					res, err := h.hub.PostChat("s", a, "room", fmt.Sprint("id-", j), fmt.Sprint(i, "/", j))
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if prev, dup := seqs[res.Message.Seq]; dup != res.Duplicate || (dup && prev != res.Message.Text) {
						t.Errorf("seq %d: duplicate %v, seen before as %q", res.Message.Seq, res.Duplicate, prev)
					}
					seqs[res.Message.Seq] = res.Message.Text
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(seqs) != senders*each {
		t.Fatalf("%d seqs issued, want %d", len(seqs), senders*each)
	}
	for seq := uint64(1); seq <= senders*each; seq++ {
		if _, ok := seqs[seq]; !ok {
			t.Errorf("seq %d missing", seq)
		}
	}
}
