package bots

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// Chat is one participant's chat across its successive sockets: it sends
// messages with a client message id and sends the unanswered ones again
// after a reconnect (Retry), counts how many times each message (stream,
// seq) arrived, live or replayed, so that a test can assert exactly once,
// and gives a rejoin its chatSince. Give it to each bot of the participant
// as Config.Chat: Dial attaches it to the new bot, and from then on it
// counts what that bot receives and ignores any older bot's socket, as a
// client that moved to a new socket does. Its methods are safe for
// concurrent use.
type Chat struct {
	mu        sync.Mutex
	bot       *Bot                                      // the attached bot; nil before the first Dial
	last      map[string]uint64                         // per stream, the highest seq received
	counts    map[signaling.ChatRef]int                 // arrivals per message
	first     map[signaling.ChatRef]signaling.ChatEntry // each message as it first arrived
	deletions map[signaling.ChatRef]int                 // deletion notices per message
	next      uint64                                    // client ids issued
	order     []string                                  // client ids not answered yet, in post order
	sends     map[string]*chatSend                      // by client id, until answered
	acked     map[string]signaling.ChatRef              // client id → its message
	failed    map[string]string                         // client id → the error code it was answered with
}

// chatSend is one message posted and not answered yet.
type chatSend struct {
	cmd  signaling.ChatCommand
	done chan struct{} // closed once answered
}

// chatIDPrefix marks the request ids of a Chat's chat.send.
const chatIDPrefix = "chat:"

// NewChat returns a Chat attached to no bot.
func NewChat() *Chat {
	return &Chat{
		last: map[string]uint64{}, counts: map[signaling.ChatRef]int{},
		first: map[signaling.ChatRef]signaling.ChatEntry{}, deletions: map[signaling.ChatRef]int{},
		sends: map[string]*chatSend{}, acked: map[string]signaling.ChatRef{}, failed: map[string]string{},
	}
}

// attach makes b the bot whose messages count, and returns the chatSince
// of b's join: the last seq received per stream. Both happen under one
// lock, so a message an older socket delivers after this is not counted
// (the replay brings it).
func (c *Chat) attach(b *Bot) map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bot = b
	since := make(map[string]uint64, len(c.last))
	for s, seq := range c.last {
		since[s] = seq
	}
	return since
}

// Post sends text to a stream ("room", "all", "staff", "staff:<pid>")
// with a new client message id, which it returns, without waiting for the
// answer. A message the socket could not take, or that was not answered
// before the socket ended, stays pending for Retry.
func (c *Chat) Post(to, text string) string {
	c.mu.Lock()
	c.next++
	id := strconv.FormatUint(c.next, 10)
	s := &chatSend{
		cmd: signaling.ChatCommand{
			Envelope:    signaling.Envelope{Type: signaling.CmdChatSend, ID: chatIDPrefix + id},
			ClientMsgID: id, To: to, Text: text,
		},
		done: make(chan struct{}),
	}
	c.sends[id] = s
	c.order = append(c.order, id)
	b := c.bot
	c.mu.Unlock()
	if b != nil {
		_ = b.Send(s.cmd)
	}
	return id
}

// Send posts text and waits for the answer: the message's stream and seq,
// or a *ServerError. When the socket ends or ctx ends first, the message
// stays pending (Retry sends it again) and the error says so.
func (c *Chat) Send(ctx context.Context, to, text string) (signaling.ChatRef, error) {
	id := c.Post(to, text)
	c.mu.Lock()
	s, b := c.sends[id], c.bot
	c.mu.Unlock()
	if s != nil && b != nil {
		select {
		case <-s.done:
		case <-b.Done():
			return signaling.ChatRef{}, fmt.Errorf("bots: chat %s: socket ended before the answer: %w", id, ErrClosed)
		case <-ctx.Done():
			return signaling.ChatRef{}, fmt.Errorf("bots: chat %s: no answer: %w", id, ctx.Err())
		}
	}
	return c.answer(id)
}

// answer returns what the server answered to client id.
func (c *Chat) answer(id string) (signaling.ChatRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if code, ok := c.failed[id]; ok {
		return signaling.ChatRef{}, &ServerError{Code: code, Message: "chat.send " + id}
	}
	if ref, ok := c.acked[id]; ok {
		return ref, nil
	}
	return signaling.ChatRef{}, fmt.Errorf("bots: chat %s: not answered: %w", id, ErrClosed)
}

// Retry sends every unanswered message again, with its client message id,
// on the attached bot, in the order they were posted, and returns how
// many. The server posts each at most once whatever the number of tries.
func (c *Chat) Retry() int {
	c.mu.Lock()
	b := c.bot
	cmds := make([]signaling.ChatCommand, 0, len(c.order))
	for _, id := range c.order {
		cmds = append(cmds, c.sends[id].cmd)
	}
	c.mu.Unlock()
	if b == nil {
		return 0
	}
	for _, cmd := range cmds {
		if b.Send(cmd) != nil {
			break // the socket ended; still pending
		}
	}
	return len(cmds)
}

// WaitAnswered waits until every message posted was answered, or ctx ends.
func (c *Chat) WaitAnswered(ctx context.Context) error {
	for {
		c.mu.Lock()
		var s *chatSend
		if len(c.order) > 0 {
			s = c.sends[c.order[0]]
		}
		c.mu.Unlock()
		if s == nil {
			return nil
		}
		select {
		case <-s.done:
		case <-ctx.Done():
			return fmt.Errorf("bots: chat: %d messages unanswered: %w", c.Pending(), ctx.Err())
		}
	}
}

// Pending returns how many messages are posted and not answered.
func (c *Chat) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.order)
}

// Acked returns, for each message the server accepted, its client id and
// its (stream, seq).
func (c *Chat) Acked() map[string]signaling.ChatRef {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]signaling.ChatRef, len(c.acked))
	for id, ref := range c.acked {
		out[id] = ref
	}
	return out
}

// Failed returns the error code of each message the server refused.
func (c *Chat) Failed() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]string, len(c.failed))
	for id, code := range c.failed {
		out[id] = code
	}
	return out
}

// Counts returns how many times each message arrived, live (chat) or
// replayed (chat.replay), on the attached bots.
func (c *Chat) Counts() map[signaling.ChatRef]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[signaling.ChatRef]int, len(c.counts))
	for ref, n := range c.counts {
		out[ref] = n
	}
	return out
}

// Count returns how many times message ref arrived.
func (c *Chat) Count(ref signaling.ChatRef) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[ref]
}

// Message returns message ref as it first arrived.
func (c *Chat) Message(ref signaling.ChatRef) (signaling.ChatEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.first[ref]
	return e, ok
}

// Deletions returns how many deletion notices arrived per message
// (chat.deleted, and the deletions a replay repeats).
func (c *Chat) Deletions() map[signaling.ChatRef]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[signaling.ChatRef]int, len(c.deletions))
	for ref, n := range c.deletions {
		out[ref] = n
	}
	return out
}

// Since returns the last seq received per stream: the chatSince a rejoin
// sends.
func (c *Chat) Since() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]uint64, len(c.last))
	for s, seq := range c.last {
		out[s] = seq
	}
	return out
}

// handle takes a message of bot b's read loop: chat, chat.replay and
// chat.deleted, and the answers to chat.send. Messages of a bot that is no
// longer attached are ignored.
func (c *Chat) handle(b *Bot, typ string, raw []byte) {
	switch typ {
	case signaling.TypeChat, signaling.TypeChatReplay, signaling.TypeChatDeleted, signaling.TypeOK, signaling.TypeError:
	default:
		return
	}
	var m struct {
		signaling.Envelope
		signaling.ChatEntry
		Messages []signaling.ChatEntry `json:"messages"`
		Deleted  []signaling.ChatRef   `json:"deleted"`
		Code     string                `json:"code"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		b.localError("bad chat message: " + err.Error())
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bot != b {
		return
	}
	switch typ {
	case signaling.TypeChat:
		c.arrivedLocked(m.ChatEntry)
	case signaling.TypeChatReplay:
		for _, e := range m.Messages {
			c.arrivedLocked(e)
		}
		for _, ref := range m.Deleted {
			c.deletions[ref]++
		}
	case signaling.TypeChatDeleted:
		c.deletions[signaling.ChatRef{Stream: m.Stream, Seq: m.Seq}]++
	default: // ok, error
		id, ok := strings.CutPrefix(m.ID, chatIDPrefix)
		s := c.sends[id]
		if !ok || s == nil {
			return
		}
		if typ == signaling.TypeOK {
			c.acked[id] = signaling.ChatRef{Stream: m.Stream, Seq: m.Seq}
		} else {
			c.failed[id] = m.Code
		}
		delete(c.sends, id)
		for i, o := range c.order {
			if o == id {
				c.order = append(c.order[:i], c.order[i+1:]...)
				break
			}
		}
		close(s.done)
	}
}

// arrivedLocked counts one arrival of e.
func (c *Chat) arrivedLocked(e signaling.ChatEntry) {
	ref := signaling.ChatRef{Stream: e.Stream, Seq: e.Seq}
	c.counts[ref]++
	if _, ok := c.first[ref]; !ok {
		c.first[ref] = e
	}
	c.last[e.Stream] = max(c.last[e.Stream], e.Seq)
}
