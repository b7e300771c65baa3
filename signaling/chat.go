package signaling

import (
	"encoding/json"
	"sync"

	"github.com/sanctuary-sfu/sanctuary/rooms"
)

// Chat on the websocket. rooms keeps the streams (rooms/chat.go); this
// file delivers them so that every socket gets every message of the
// streams it reads exactly once, in seq order:
//
//   - a socket gets live chat only once it had its replay (join's
//     chatSince), and only while it holds its participant's record;
//   - posting, deleting and replaying run under the session's chatHub
//     lock, which also enqueues, so no message falls between a replay and
//     the live messages after it, and each stream reaches every socket in
//     seq order;
//   - chat messages are ordinary (non-event) outbox messages: a socket that
//     stops reading is closed, and its client resumes with chatSince.

// chatReplayBytes is about the most message bytes one chat.replay carries:
// a replay is a few outbox messages, never hundreds (a socket with more
// than Config.SendQueue messages unread is closed).
const chatReplayBytes = 128 << 10

// chatHub orders one session's chat deliveries. The zero value is ready.
// Lock order: chatHub.mu, then the rooms session, then session.mu.
type chatHub struct {
	mu    sync.Mutex
	ready map[string]*conn // participant id → its socket that had its replay; guarded by mu
}

// chat handles chat.send, chat.delete and chat.history on the reader
// goroutine.
func (c *conn) chat(typ string, raw []byte) {
	var m ChatCommand
	if err := json.Unmarshal(raw, &m); err != nil {
		var env Envelope
		_ = json.Unmarshal(raw, &env)
		c.sendError(env.ID, CodeBadMessage, err.Error())
		return
	}
	if c.sess.conn(c.pid) != c {
		c.sendError(m.ID, CodeForbidden, "this connection was replaced by a newer one")
		return
	}
	actor := rooms.Actor{ParticipantID: c.pid}
	switch typ {
	case CmdChatSend:
		c.chatSend(actor, &m)
	case CmdChatDelete:
		c.chatDelete(actor, &m)
	case CmdChatHistory:
		name, msgs, err := c.s.hub.ChatHistory(c.sess.id, actor, m.Stream, m.After)
		if err != nil {
			c.chatError(m.ID, err)
			return
		}
		c.sendMsg(ChatHistory{Envelope: Envelope{Type: TypeChatHistory, ID: m.ID}, Stream: name, Messages: toWireChat(msgs)})
	}
}

// chatSend posts a message and delivers it before answering, so the
// sender's own socket gets its chat before the ok. A retry (same
// clientMsgId) is delivered to nobody and answered the same.
func (c *conn) chatSend(actor rooms.Actor, m *ChatCommand) {
	h := &c.sess.chat
	h.mu.Lock()
	defer h.mu.Unlock()
	res, err := c.s.hub.PostChat(c.sess.id, actor, m.To, m.ClientMsgID, m.Text)
	if err != nil {
		c.chatError(m.ID, err)
		return
	}
	msg := res.Message
	if !res.Duplicate {
		h.deliverLocked(c.sess, encode(Chat{Envelope: Envelope{Type: TypeChat}, ChatEntry: toWireChatEntry(msg)}), res.Readers)
	}
	c.sendMsg(ChatSent{Envelope: Envelope{Type: TypeOK, ID: m.ID}, ChatRef: ChatRef{Stream: msg.Stream, Seq: msg.Seq}})
}

// chatDelete deletes a message and tells its stream's readers, unless it
// was deleted already.
func (c *conn) chatDelete(actor rooms.Actor, m *ChatCommand) {
	h := &c.sess.chat
	h.mu.Lock()
	defer h.mu.Unlock()
	res, err := c.s.hub.DeleteChat(c.sess.id, actor, m.Stream, m.Seq)
	if err != nil {
		c.chatError(m.ID, err)
		return
	}
	ref := ChatRef{Stream: res.Message.Stream, Seq: res.Message.Seq}
	if res.Readers != nil {
		h.deliverLocked(c.sess, encode(ChatDeleted{Envelope: Envelope{Type: TypeChatDeleted}, ChatRef: ref}), res.Readers)
	}
	c.sendMsg(ChatSent{Envelope: Envelope{Type: TypeOK, ID: m.ID}, ChatRef: ref})
}

// chatError answers a failed chat request with the code of its error.
func (c *conn) chatError(id string, err error) {
	code, _ := commandError(err)
	if code == CodeInternal {
		c.s.log.Error("chat", "session", c.sess.id, "participant", c.pid, "err", err)
	}
	c.sendError(id, code, publicMessage(err))
}

// deliverLocked queues msg on the socket of each reader that had its
// replay and still holds its record. A reader without one (reconnecting,
// or joining and not replayed yet) gets the message from its replay.
func (h *chatHub) deliverLocked(sess *session, msg []byte, readers []string) {
	for _, pid := range readers {
		rc := h.ready[pid]
		if rc == nil {
			continue
		}
		if sess.conn(pid) != rc {
			delete(h.ready, pid) // replaced or gone: its successor replays
			continue
		}
		rc.enqueue(msg)
	}
}

// replayChat sends c the chat its client missed, given the join's
// chatSince, and from then on lets c take live chat. It runs once, at the
// end of join; under the hub's lock, so no message is posted in between.
// A socket already replaced does nothing: its successor replays.
func (c *conn) replayChat(since map[string]uint64) {
	h := &c.sess.chat
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.sess.conn(c.pid) != c {
		return
	}
	rep, err := c.s.hub.ChatReplay(c.sess.id, c.pid, since)
	if err != nil {
		return // the record is gone (removed, session ended): nothing to read
	}
	for _, msg := range chatReplayMessages(rep) {
		c.enqueue(msg)
	}
	if h.ready == nil {
		h.ready = make(map[string]*conn)
	}
	h.ready[c.pid] = c
}

// chatReplayMessages encodes a replay as chat.replay messages of about
// chatReplayBytes each; the deletions ride on the last. Nothing missed is
// no message: a join costs the outbox nothing more.
func chatReplayMessages(rep rooms.ChatReplay) [][]byte {
	if len(rep.Messages) == 0 && len(rep.Deleted) == 0 {
		return nil
	}
	var (
		out   [][]byte
		chunk []ChatEntry
		size  int
	)
	for _, m := range rep.Messages {
		e := toWireChatEntry(m)
		n := len(encode(e)) // exact: escaping can make a text six times longer
		if size > 0 && size+n > chatReplayBytes {
			out = append(out, encode(ChatReplay{Envelope: Envelope{Type: TypeChatReplay}, Messages: chunk}))
			chunk, size = nil, 0
		}
		chunk = append(chunk, e)
		size += n + 1
	}
	last := ChatReplay{Envelope: Envelope{Type: TypeChatReplay}, Messages: chunk}
	if last.Messages == nil {
		last.Messages = []ChatEntry{} // only deletions
	}
	for _, d := range rep.Deleted {
		last.Deleted = append(last.Deleted, ChatRef{Stream: d.Stream, Seq: d.Seq})
	}
	return append(out, encode(last))
}

func toWireChatEntry(m rooms.ChatMessage) ChatEntry {
	return ChatEntry{
		Stream: m.Stream, Seq: m.Seq, Version: m.Version, ClientMsgID: m.ClientMsgID, From: m.From, Alias: m.Alias,
		Text: m.Text, At: unixMilli(m.At), Deleted: m.Deleted,
	}
}

func toWireChat(ms []rooms.ChatMessage) []ChatEntry {
	out := make([]ChatEntry, len(ms))
	for i, m := range ms {
		out[i] = toWireChatEntry(m)
	}
	return out
}
