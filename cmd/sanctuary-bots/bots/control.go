package bots

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// keptEvents is how many of the newest events a Controller keeps, by
// version, to hand each command's event to its answer.
const keptEvents = 64

// Controller sends session commands (PROTOCOL.md, "Session commands") and
// snapshot requests on one bot's socket and waits for their answers. Give
// its OnMessage to the bot as Config.OnMessage before Dial, then Attach the
// bot. Its methods are safe for concurrent use.
type Controller struct {
	bot atomic.Pointer[Bot]

	mu      sync.Mutex
	next    uint64                     // ids sent so far
	waiting map[string]chan Answer     // id → its waiter; cap 1
	events  map[uint64]signaling.Event // the newest keptEvents events, by version
}

// Answer is the server's answer to one request.
type Answer struct {
	Type    string    // "ok", "error" or "snapshot"
	Version uint64    // ok of a command: the session version after it
	At      time.Time // when the bot's read loop received the answer
	// Event is the event of the answer's version, when this socket received
	// one before the answer: the server sends a command's event to every
	// socket of the session before it answers the command (same queue), so
	// for a command that changed something it is that command's event.
	Event *signaling.Event
	// Snapshot is the answer to a snapshot request.
	Snapshot *signaling.Snapshot

	err *ServerError // an error answer; Do returns it
}

// NewController returns a controller with no bot attached.
func NewController() *Controller {
	return &Controller{waiting: map[string]chan Answer{}, events: map[uint64]signaling.Event{}}
}

// Attach sets the bot whose socket the commands go to: the bot whose
// Config.OnMessage is c.OnMessage.
func (c *Controller) Attach(b *Bot) { c.bot.Store(b) }

// OnMessage is the bot's Config.OnMessage hook: it keeps the events and
// routes answers to the requests waiting for them. It never blocks.
func (c *Controller) OnMessage(typ string, raw []byte) {
	at := time.Now()
	switch typ {
	case signaling.TypeEvent:
		var ev signaling.Event
		if json.Unmarshal(raw, &ev) != nil {
			return
		}
		c.mu.Lock()
		c.events[ev.Version] = ev
		delete(c.events, ev.Version-keptEvents)
		c.mu.Unlock()
	case signaling.TypeOK, signaling.TypeError, signaling.TypeSnapshot:
		var m struct {
			signaling.Envelope
			Version  uint64              `json:"version"`
			Code     string              `json:"code"`
			Message  string              `json:"message"`
			Snapshot *signaling.Snapshot `json:"snapshot"`
		}
		if json.Unmarshal(raw, &m) != nil || m.ID == "" {
			return
		}
		a := Answer{Type: typ, Version: m.Version, At: at, Snapshot: m.Snapshot}
		c.mu.Lock()
		defer c.mu.Unlock()
		ch := c.waiting[m.ID]
		if ch == nil {
			return
		}
		delete(c.waiting, m.ID)
		if typ == signaling.TypeOK && m.Version > 0 {
			if ev, ok := c.events[m.Version]; ok {
				a.Event = &ev
			}
		}
		if typ == signaling.TypeError {
			a.err = &ServerError{Code: m.Code, Message: m.Message}
		}
		ch <- a
	}
}

// Do sends cmd with a fresh id and waits for its answer. An `error` answer
// returns the answer (with its receive time) and a *ServerError; no answer
// before ctx ends, or the socket ending, returns another error. The
// answer's At is the time to pass to Bot.SetAudienceFrom after a command
// that moved people: the server re-routes before it answers.
func (c *Controller) Do(ctx context.Context, cmd signaling.Command) (Answer, error) {
	b := c.bot.Load()
	if b == nil {
		return Answer{}, fmt.Errorf("bots: controller: no bot attached: %w", ErrClosed)
	}
	ch := make(chan Answer, 1)
	c.mu.Lock()
	c.next++
	cmd.ID = "ctl-" + strconv.FormatUint(c.next, 10)
	c.waiting[cmd.ID] = ch
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		delete(c.waiting, cmd.ID)
		c.mu.Unlock()
	}
	if err := b.Send(cmd); err != nil {
		forget()
		return Answer{}, fmt.Errorf("bots: %s: %w", cmd.Type, err)
	}
	select {
	case a := <-ch:
		if a.err != nil {
			return a, a.err
		}
		return a, nil
	case <-b.Done():
		forget()
		return Answer{}, fmt.Errorf("bots: %s: socket ended before the answer: %w", cmd.Type, ErrClosed)
	case <-ctx.Done():
		forget()
		return Answer{}, fmt.Errorf("bots: %s: no answer: %w", cmd.Type, ctx.Err())
	}
}
