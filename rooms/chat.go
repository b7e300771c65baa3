package rooms

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Chat is text in streams. Each stream has its own sequence number, from 1
// up by one per message, and keeps its newest ChatHistoryLen messages:
//
//   - ChatRoomStream(room): the members of one room (MainRoom or a
//     breakout) talk there; a participant writes to the room it is in;
//   - ChatAll: what hosts and moderators send to everyone in every room;
//   - ChatStaffStream(pid): a private thread between one participant and
//     the hosts and moderators.
//
// Who reads and writes which stream is decided in permissions.go
// (CanReadChat, CheckWriteChat). A message is identified by (stream, seq)
// and by its sender's client message id: posting the same (sender, client
// id) again returns the original message, marked duplicate, for as long as
// the original is kept. Chat changes no session version and emits no
// Event; the layer above delivers a message to the Readers PostChat
// returns.

// Chat bounds.
const (
	MaxChatRunes        = 2000 // a message's text, in runes, after trimming spaces
	MaxClientMsgIDBytes = 64   // a client message id, in bytes
	ChatHistoryLen      = 200  // messages kept per stream; older ones are dropped
	ChatBurst           = 10   // messages a participant may send at once
	ChatRate            = 1.0  // messages per second a participant may send, sustained
)

// Stream names. A stream name is ChatAll, "room:" and a room id, or
// "staff:" and a participant id.
const (
	ChatAll       = "all"   // everyone in every room reads it
	chatRoomKind  = "room"  // "room:<room id>"
	chatStaffKind = "staff" // "staff:<participant id>"
)

// ChatRoomStream is the name of room's stream.
func ChatRoomStream(room string) string { return chatRoomKind + ":" + room }

// ChatStaffStream is the name of participant pid's thread with the staff.
func ChatStaffStream(pid string) string { return chatStaffKind + ":" + pid }

// splitStream returns the kind of a stream name (ChatAll, chatRoomKind or
// chatStaffKind) and the id after the colon; ("", "") for anything else.
func splitStream(stream string) (kind, id string) {
	if stream == ChatAll {
		return ChatAll, ""
	}
	kind, id, ok := strings.Cut(stream, ":")
	if !ok || id == "" || (kind != chatRoomKind && kind != chatStaffKind) {
		return "", ""
	}
	return kind, id
}

// ChatMessage is one message of a stream, as a value.
type ChatMessage struct {
	Stream      string    // the stream's name
	Seq         uint64    // its place in the stream: 1, 2, … with no gap
	Version     uint64    // the session version when it was posted: it went to the readers of its stream at that version
	ClientMsgID string    // the sender's id for it, unique per sender
	From        string    // the sender's participant id
	Alias       string    // the sender's alias when it was sent
	Text        string    // as sent, trimmed of surrounding spaces; "" once deleted
	At          time.Time // when it was posted
	Deleted     bool      // a moderator deleted it; it keeps its seq
}

// ChatRef names one message: its stream and seq.
type ChatRef struct {
	Stream string
	Seq    uint64
}

// ChatResult is the outcome of PostChat and DeleteChat.
type ChatResult struct {
	Message ChatMessage
	// Duplicate: PostChat found a message with the same sender and client
	// id, and returns it; nothing was posted. Deliver nothing.
	Duplicate bool
	// Readers are the ids of the present participants that read the
	// message's stream at the instant of the change, to deliver it to. Nil
	// when nothing changed (a duplicate, a message deleted already).
	Readers []string
}

// ChatReplay is what a participant missed: see Hub.ChatReplay.
type ChatReplay struct {
	// Messages are the kept messages after the participant's last seen
	// seq, of every stream it reads, and of every room it was moved out of
	// those posted while it was there: stream by stream in name order, in
	// seq order within a stream. Deleted ones have no text.
	Messages []ChatMessage
	// Deleted names the kept messages at or below the last seen seq that
	// are deleted: the participant may have seen them before they were.
	Deleted []ChatRef
}

// chatState is a session's chat; guarded by the session's mu.
type chatState struct {
	streams map[string]*chatStream // by name; created by their first message
	sent    map[chatKey]ChatRef    // (sender, client id) → its message, while kept
	buckets map[string]*chatBucket // rate limits, by participant id
	rooms   int                    // how many of streams are room streams

	// For replays, by participant id: the last seq of its room's stream
	// when it entered the room, and the room streams it was moved out of
	// with the seqs posted there while it was in (see movedChatLocked).
	entered map[string]uint64
	left    map[string]map[string]seqSpan
}

// seqSpan is the seqs of one stream in (after, upTo].
type seqSpan struct{ after, upTo uint64 }

// chatKey identifies a message by its sender: de-duplication.
type chatKey struct{ from, clientID string }

// chatStream is one stream.
type chatStream struct {
	last uint64        // the last seq issued; 0 before the first message
	msgs []ChatMessage // the kept messages, oldest first: seqs last-len+1..last
}

// chatBucket is a token bucket: ChatBurst tokens, ChatRate per second.
type chatBucket struct {
	tokens float64
	at     time.Time // when tokens was computed
}

// find returns the kept message seq, or nil.
func (st *chatStream) find(seq uint64) *ChatMessage {
	if len(st.msgs) == 0 || seq < st.msgs[0].Seq || seq > st.last {
		return nil
	}
	return &st.msgs[seq-st.msgs[0].Seq]
}

// PostChat posts text from the actor to a stream and returns the message
// and who reads it. to is a stream name, or "room" (or "") for the room
// the actor is in, or "staff" for the actor's own thread with the staff.
// The actor must be a participant (an integration has no room: ErrInvalid)
// allowed to write there (CheckWriteChat: ErrForbidden); a staff thread
// must be of a participant the session knows (ErrNotFound).
//
// text is trimmed of surrounding spaces and must then be 1..MaxChatRunes
// runes of UTF-8; it is kept as it is (no markup is interpreted anywhere).
// clientMsgID must be 1..MaxClientMsgIDBytes bytes of UTF-8 (ErrInvalid).
// When the actor already posted a message with clientMsgID that is still
// kept, PostChat returns it with Duplicate set, and posts nothing: a retry
// never doubles a message, and costs no rate. Otherwise each participant
// may post ChatBurst messages at once and ChatRate per second over time
// (ErrRateLimited beyond). ErrEnded for an ended session.
func (h *Hub) PostChat(sessionID string, a Actor, to, clientMsgID, text string) (ChatResult, error) {
	text = strings.TrimSpace(text)
	if err := checkText("chat text", text, 1, MaxChatRunes); err != nil {
		return ChatResult{}, fmt.Errorf("rooms: post chat: %w", err)
	}
	if err := checkClientMsgID(clientMsgID); err != nil {
		return ChatResult{}, fmt.Errorf("rooms: post chat: %w", err)
	}
	var res ChatResult
	_, err := h.mutate(sessionID, "post chat", a, func(s *session, act actor) error {
		if act.m == nil {
			return fmt.Errorf("an integration has no room to chat in: %w", ErrInvalid)
		}
		p := act.m.p
		if ref, ok := s.chat.sent[chatKey{p.ID, clientMsgID}]; ok {
			res = ChatResult{Message: *s.chat.streams[ref.Stream].find(ref.Seq), Duplicate: true}
			return nil
		}
		stream, err := resolveStream(p, to)
		if err != nil {
			return err
		}
		if err := CheckWriteChat(p, stream); err != nil {
			return err
		}
		if kind, id := splitStream(stream); kind == chatStaffKind && s.byID[id] == nil {
			return fmt.Errorf("staff thread of participant %q: %w", id, ErrNotFound)
		}
		now := h.now()
		if !s.chat.allow(p.ID, now) {
			return fmt.Errorf("participant %q: more than %d chat messages at once or %g a second: %w",
				p.ID, ChatBurst, ChatRate, ErrRateLimited)
		}
		msg := s.appendChatLocked(ChatMessage{
			Stream: stream, ClientMsgID: clientMsgID, From: p.ID, Alias: p.Alias, Text: text, At: now,
		})
		res = ChatResult{Message: msg, Readers: s.chatReadersLocked(stream)}
		return nil
	})
	return res, err
}

// DeleteChat deletes message seq of stream ("room" and "staff" as for
// PostChat): its text is dropped, it keeps its seq and stays in the
// history, marked Deleted. Needs ActionChatDelete, and a sender not above
// the actor (CheckTarget) while the session knows the sender. ErrNotFound
// when the stream has no such kept message. Deleting a deleted message
// changes nothing: the result has no Readers.
func (h *Hub) DeleteChat(sessionID string, a Actor, stream string, seq uint64) (ChatResult, error) {
	var res ChatResult
	_, err := h.mutate(sessionID, "delete chat", a, func(s *session, act actor) error {
		if err := Check(act.role, ActionChatDelete); err != nil {
			return err
		}
		var p Participant
		if act.m != nil {
			p = act.m.p
		}
		name, err := resolveStream(p, stream)
		if err != nil {
			return err
		}
		var msg *ChatMessage
		if st := s.chat.streams[name]; st != nil {
			msg = st.find(seq)
		}
		if msg == nil {
			return fmt.Errorf("chat message %d of %q: %w", seq, name, ErrNotFound)
		}
		if from := s.byID[msg.From]; from != nil {
			if err := CheckTarget(act.role, from.p.Role, ActionChatDelete); err != nil {
				return err
			}
		}
		if !msg.Deleted {
			msg.Deleted, msg.Text = true, ""
			res.Readers = s.chatReadersLocked(name)
		}
		res.Message = *msg
		return nil
	})
	return res, err
}

// ChatHistory returns the kept messages of stream ("room" and "staff" as
// for PostChat) with a seq above after, oldest first, and the stream's
// name. The actor must be a participant that reads the stream
// (CanReadChat; ErrForbidden otherwise, ErrInvalid for an integration or
// an unknown stream name). A stream with no message yet has an empty
// history.
func (h *Hub) ChatHistory(sessionID string, a Actor, stream string, after uint64) (string, []ChatMessage, error) {
	var (
		name string
		out  []ChatMessage
	)
	_, err := h.mutate(sessionID, "chat history", a, func(s *session, act actor) error {
		if act.m == nil {
			return fmt.Errorf("an integration reads no chat: %w", ErrInvalid)
		}
		var err error
		if name, err = resolveStream(act.m.p, stream); err != nil {
			return err
		}
		if !CanReadChat(act.m.p, name) {
			return fmt.Errorf("participant %q does not read chat stream %q: %w", act.id, name, ErrForbidden)
		}
		out = []ChatMessage{}
		if st := s.chat.streams[name]; st != nil {
			out = st.after(after, out)
		}
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	return name, out, nil
}

// ChatReplay returns what participant pid missed, given since: for each
// stream name the last seq it saw (an absent stream: none). That is, of
// every stream it reads now, the kept messages after since; and of every
// room it was moved out of, the kept messages after since that were posted
// from when it entered the room until it left (movedChatLocked): a client
// whose socket was down when they came, and that was moved before it came
// back, still gets them. Once a since shows that the client has those, no
// replay brings them again. For a since above a stream's last seq, which
// only a session created anew (or a confused client) gives, the whole kept
// history counts as missed. The caller vouches that pid's connection asks;
// ErrNotFound when the session or the participant is not present.
func (h *Hub) ChatReplay(sessionID, pid string, since map[string]uint64) (ChatReplay, error) {
	s, err := h.lockSession(sessionID)
	if err != nil {
		return ChatReplay{}, fmt.Errorf("rooms: chat replay: %w", err)
	}
	defer s.mu.Unlock()
	m, err := s.presentLocked(pid)
	if err != nil {
		return ChatReplay{}, fmt.Errorf("rooms: chat replay in session %q: %w", sessionID, err)
	}
	left := s.chat.left[pid]
	names := make([]string, 0, len(s.chat.streams))
	for name := range s.chat.streams {
		if _, owed := left[name]; owed || CanReadChat(m.p, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var out ChatReplay
	for _, name := range names {
		st := s.chat.streams[name]
		from := since[name]
		if from > st.last {
			from = 0
		}
		span, owed := left[name]
		if !owed {
			span = seqSpan{upTo: st.last}
		} else if from >= span.upTo {
			delete(left, name) // its client has them
			continue
		}
		for _, msg := range st.msgs {
			switch {
			case msg.Seq <= span.after:
			case msg.Seq <= from:
				if msg.Deleted {
					out.Deleted = append(out.Deleted, ChatRef{Stream: name, Seq: msg.Seq})
				}
			case msg.Seq <= span.upTo:
				out.Messages = append(out.Messages, msg)
			}
		}
	}
	return out, nil
}

// after appends the kept messages with a seq above seq to out.
func (st *chatStream) after(seq uint64, out []ChatMessage) []ChatMessage {
	for _, msg := range st.msgs {
		if msg.Seq > seq {
			out = append(out, msg)
		}
	}
	return out
}

// movedChatLocked is told that m moved from room from to the room it is
// in now. What from's stream got while m was in it stays owed to m's
// client until a replay finds that it has it (ChatReplay): its socket may
// have been down when it came. The stream of the room m enters is replayed
// after since anyway, so a debt m had there becomes part of that, and
// should m leave again before its client had it, the debt runs from the
// earlier stay (what came between is that room's history, which m read).
func (s *session) movedChatLocked(m *member, from string) {
	c := &s.chat
	c.initReplays()
	pid, old, to := m.p.ID, ChatRoomStream(from), ChatRoomStream(m.p.Room)
	owed := c.left[pid]
	if owed == nil {
		owed = make(map[string]seqSpan)
		c.left[pid] = owed
	}
	if last := c.lastSeq(old); last > c.entered[pid] {
		owed[old] = seqSpan{after: c.entered[pid], upTo: last}
	}
	if span, ok := owed[to]; ok {
		c.entered[pid] = span.after
		delete(owed, to)
	} else {
		c.entered[pid] = c.lastSeq(to)
	}
}

// joinedChatLocked is told that a new record of m joined its room: it is
// owed nothing of earlier records.
func (s *session) joinedChatLocked(m *member) {
	c := &s.chat
	c.initReplays()
	delete(c.left, m.p.ID)
	c.entered[m.p.ID] = c.lastSeq(ChatRoomStream(m.p.Room))
}

func (c *chatState) initReplays() {
	if c.left == nil {
		c.entered, c.left = make(map[string]uint64), make(map[string]map[string]seqSpan)
	}
}

// lastSeq returns the last seq of stream, 0 before its first message.
func (c *chatState) lastSeq(stream string) uint64 {
	if st := c.streams[stream]; st != nil {
		return st.last
	}
	return 0
}

// resolveStream turns what a participant names into a stream name: "" and
// "room" are its room's stream, "staff" its own staff thread; a full name
// is itself. An unknown name wraps ErrInvalid.
func resolveStream(p Participant, to string) (string, error) {
	switch to {
	case "", chatRoomKind:
		return ChatRoomStream(p.Room), nil
	case chatStaffKind:
		return ChatStaffStream(p.ID), nil
	}
	if kind, _ := splitStream(to); kind == "" || len(to) > 2*MaxIDBytes {
		return "", fmt.Errorf("chat stream %q: want room, all, staff, room:<id> or staff:<id>: %w", to, ErrInvalid)
	}
	return to, nil
}

// checkClientMsgID validates a client message id.
func checkClientMsgID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("empty clientMsgId: %w", ErrInvalid)
	case len(id) > MaxClientMsgIDBytes:
		return fmt.Errorf("clientMsgId longer than %d bytes: %w", MaxClientMsgIDBytes, ErrInvalid)
	case !utf8.ValidString(id):
		return fmt.Errorf("clientMsgId is not valid UTF-8: %w", ErrInvalid)
	}
	return nil
}

// allow takes one token of participant pid's bucket at now, and reports
// whether there was one.
func (c *chatState) allow(pid string, now time.Time) bool {
	if c.buckets == nil {
		c.buckets = make(map[string]*chatBucket)
	}
	b := c.buckets[pid]
	if b == nil {
		b = &chatBucket{tokens: ChatBurst, at: now}
		c.buckets[pid] = b
	}
	if now.After(b.at) {
		b.tokens = min(ChatBurst, b.tokens+now.Sub(b.at).Seconds()*ChatRate)
		b.at = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// appendChatLocked gives msg the next seq of its stream, keeps it, drops
// the oldest message beyond ChatHistoryLen (and its de-duplication entry)
// and returns it.
func (s *session) appendChatLocked(msg ChatMessage) ChatMessage {
	c := &s.chat
	if c.streams == nil {
		c.streams = make(map[string]*chatStream)
		c.sent = make(map[chatKey]ChatRef)
	}
	st := c.streams[msg.Stream]
	if st == nil {
		if kind, _ := splitStream(msg.Stream); kind == chatRoomKind {
			s.pruneRoomStreamsLocked()
			c.rooms++
		}
		st = &chatStream{}
		c.streams[msg.Stream] = st
	}
	st.last++
	msg.Seq, msg.Version = st.last, s.version
	st.msgs = append(st.msgs, msg)
	c.sent[chatKey{msg.From, msg.ClientMsgID}] = ChatRef{Stream: msg.Stream, Seq: msg.Seq}
	if len(st.msgs) > ChatHistoryLen {
		c.forget(st.msgs[0])
		st.msgs[0] = ChatMessage{} // let its text go
		st.msgs = st.msgs[1:]
	}
	return msg
}

// forget drops the de-duplication entry of a message no longer kept.
func (c *chatState) forget(msg ChatMessage) {
	k := chatKey{msg.From, msg.ClientMsgID}
	if c.sent[k] == (ChatRef{Stream: msg.Stream, Seq: msg.Seq}) {
		delete(c.sent, k)
	}
}

// pruneRoomStreamsLocked drops the streams of breakout rooms that are
// closed: nobody is in them, so nobody reads them again (room ids are never
// reused). It runs when a room stream is created, so room streams stay
// bounded by the rooms open.
func (s *session) pruneRoomStreamsLocked() {
	c := &s.chat
	if c.rooms <= len(s.rooms) {
		return
	}
	for name, st := range c.streams {
		kind, id := splitStream(name)
		if kind != chatRoomKind || id == MainRoom || s.roomLocked(id) != nil {
			continue
		}
		for _, msg := range st.msgs {
			c.forget(msg)
		}
		for _, owed := range c.left {
			delete(owed, name)
		}
		delete(c.streams, name)
		c.rooms--
	}
}

// chatReadersLocked returns the ids of the present participants that read
// stream.
func (s *session) chatReadersLocked(stream string) []string {
	var out []string
	for _, m := range s.users {
		if m.present && CanReadChat(m.p, stream) {
			out = append(out, m.p.ID)
		}
	}
	return out
}
