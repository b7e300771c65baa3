package signaling

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sanctuary-sfu/sanctuary/rooms"
)

// command is one session command: it applies cmd for actor to session and
// returns the new session version. Commands are shared by the websocket
// and REST; each is one atomic operation of rooms.Hub.
type command func(s *Server, session string, actor rooms.Actor, cmd *Command) (uint64, error)

// commandSpec is one row of the command table: the permission the command
// needs, checked before anything is decoded or built for it ("" where the
// rule depends on the target, such as moving oneself; rooms decides those),
// and its handler.
type commandSpec struct {
	action rooms.Action
	run    command
}

// commands is the table of every session command, by wire name.
var commands = map[string]commandSpec{
	CmdCreateBreakouts: {rooms.ActionCreateBreakouts, cmdCreateBreakouts},
	CmdAssign:          {rooms.ActionAssign, cmdAssign},
	CmdSelfSelect: {rooms.ActionSelfSelect, func(s *Server, sess string, a rooms.Actor, c *Command) (uint64, error) {
		return s.hub.SetSelfSelect(sess, a, enabled(c))
	}},
	CmdCloseBreakouts: {rooms.ActionCloseBreakouts, cmdCloseBreakouts},
	CmdCancelClose: {rooms.ActionCloseBreakouts, func(s *Server, sess string, a rooms.Actor, _ *Command) (uint64, error) {
		return s.hub.CancelCloseAll(sess, a)
	}},
	CmdMove: {"", func(s *Server, sess string, a rooms.Actor, c *Command) (uint64, error) {
		target := c.ParticipantID
		if target == "" {
			target = a.ParticipantID
		}
		return s.hub.Move(sess, a, target, c.Room)
	}},
	CmdBroadcast: {rooms.ActionBroadcast, func(s *Server, sess string, a rooms.Actor, c *Command) (uint64, error) {
		return s.hub.Broadcast(sess, a, c.Message)
	}},
	CmdMute: {rooms.ActionMuteOthers, func(s *Server, sess string, a rooms.Actor, c *Command) (uint64, error) {
		return s.hub.SetMuted(sess, a, c.ParticipantID, enabled(c))
	}},
	CmdRequestUnmute: {rooms.ActionRequestUnmute, func(s *Server, sess string, a rooms.Actor, c *Command) (uint64, error) {
		return s.hub.RequestUnmute(sess, a, c.ParticipantID)
	}},
	CmdRemove: {rooms.ActionRemove, func(s *Server, sess string, a rooms.Actor, c *Command) (uint64, error) {
		return s.hub.Remove(sess, a, c.ParticipantID, c.Reason)
	}},
	CmdSetRole: {rooms.ActionPromote, func(s *Server, sess string, a rooms.Actor, c *Command) (uint64, error) {
		role := rooms.Role(c.Role)
		if !role.Valid() {
			return 0, fmt.Errorf("role %q: %w", c.Role, rooms.ErrInvalid)
		}
		return s.hub.SetRole(sess, a, c.ParticipantID, role)
	}},
	CmdHand: {"", func(s *Server, sess string, a rooms.Actor, c *Command) (uint64, error) {
		target := c.ParticipantID
		if target == "" {
			target = a.ParticipantID
		}
		return s.hub.SetHand(sess, a, target, enabled(c))
	}},
	CmdDeafen: {rooms.ActionDeafen, func(s *Server, sess string, a rooms.Actor, c *Command) (uint64, error) {
		return s.hub.SetDeafened(sess, a, enabled(c))
	}},
	CmdAlert: {rooms.ActionAlert, func(s *Server, sess string, a rooms.Actor, c *Command) (uint64, error) {
		return s.hub.Alert(sess, a, c.Message)
	}},
	CmdEndSession: {rooms.ActionEndSession, func(s *Server, sess string, a rooms.Actor, _ *Command) (uint64, error) {
		return s.hub.EndSession(sess, a)
	}},
}

// enabled reads a command's on/off switch; absent means on.
func enabled(c *Command) bool { return c.Enabled == nil || *c.Enabled }

// maxDurationSec is the longest room timer a command may ask for, in
// seconds (rooms.MaxRoomDuration).
const maxDurationSec = int(rooms.MaxRoomDuration / time.Second)

// roomSpec converts one wire room request, checking the duration before the
// conversion to a time.Duration can overflow. rooms checks the rest.
func roomSpec(name string, capacity, durationSec int) (rooms.RoomSpec, error) {
	if durationSec < 0 || durationSec > maxDurationSec {
		return rooms.RoomSpec{}, fmt.Errorf("durationSec %d: want 0..%d: %w", durationSec, maxDurationSec, rooms.ErrInvalid)
	}
	return rooms.RoomSpec{Name: name, Capacity: capacity, Duration: time.Duration(durationSec) * time.Second}, nil
}

// maxCloseDelaySec is the longest countdown of a breakouts.close, in
// seconds (rooms.MaxCloseAllDelay).
const maxCloseDelaySec = int(rooms.MaxCloseAllDelay / time.Second)

// cmdCloseBreakouts closes one room now, or every room now or after
// delaySec, counted by the server (rooms.Hub.ScheduleCloseAll). The delay is
// checked before its conversion to a time.Duration can overflow.
func cmdCloseBreakouts(s *Server, sess string, a rooms.Actor, c *Command) (uint64, error) {
	if c.DelaySec < 0 || c.DelaySec > maxCloseDelaySec {
		return 0, fmt.Errorf("delaySec %d: want 0..%d: %w", c.DelaySec, maxCloseDelaySec, rooms.ErrInvalid)
	}
	if c.Room != "" {
		if c.DelaySec != 0 {
			return 0, fmt.Errorf("delaySec applies to closing all rooms, not one: %w", rooms.ErrInvalid)
		}
		return s.hub.CloseRoom(sess, a, c.Room)
	}
	_, v, err := s.hub.ScheduleCloseAll(sess, a, time.Duration(c.DelaySec)*time.Second)
	return v, err
}

// cmdCreateBreakouts builds the room specs of a breakouts.create: the rooms
// list when there is one, else count rooms. Every size is checked against
// rooms.MaxRoomsPerCall before anything is allocated for it.
func cmdCreateBreakouts(s *Server, sess string, a rooms.Actor, c *Command) (uint64, error) {
	n := len(c.Rooms)
	if n == 0 {
		n = c.Count
	}
	if n < 1 || n > rooms.MaxRoomsPerCall {
		return 0, fmt.Errorf("count %d, %d rooms listed: want 1..%d rooms, by count or by a rooms list: %w",
			c.Count, len(c.Rooms), rooms.MaxRoomsPerCall, rooms.ErrInvalid)
	}
	specs := make([]rooms.RoomSpec, n)
	for i := range specs {
		var err error
		if len(c.Rooms) > 0 {
			r := c.Rooms[i]
			specs[i], err = roomSpec(r.Name, r.Capacity, r.DurationSec)
			specs[i].Members = r.Members
		} else {
			specs[i], err = roomSpec(fmt.Sprintf("Room %d", i+1), c.Capacity, c.DurationSec)
		}
		if err != nil {
			return 0, fmt.Errorf("room %d: %w", i+1, err)
		}
	}
	_, v, err := s.hub.CreateBreakouts(sess, a, specs)
	return v, err
}

func cmdAssign(s *Server, sess string, a rooms.Actor, c *Command) (uint64, error) {
	mode := rooms.AssignMode(c.Mode)
	if mode == "" {
		mode = rooms.AssignBalanced
	}
	_, v, err := s.hub.Assign(sess, a, rooms.Assignment{
		Mode: mode, Manual: c.Assignments, Groups: c.Groups, Rooms: c.RoomIDs, IncludeStaff: c.IncludeStaff,
	})
	return v, err
}

// runCommand applies a named command and syncs the router's audiences with
// the new state, so a move is heard from the next packet on.
func (s *Server) runCommand(name, session string, actor rooms.Actor, cmd *Command) (uint64, error) {
	spec, ok := commands[name]
	if !ok {
		return 0, errUnknownCommand
	}
	if spec.action != "" {
		if err := s.hub.Authorize(session, actor, spec.action); err != nil {
			return 0, err
		}
	}
	v, err := spec.run(s, session, actor, cmd)
	if err != nil {
		return 0, err
	}
	if sess := s.lookup(session); sess != nil {
		s.syncAudiences(sess)
	}
	return v, nil
}

var errUnknownCommand = errors.New("unknown command")

// commandError maps an error of a command to its wire code and HTTP status:
// one table for the websocket and REST.
func commandError(err error) (code string, status int) {
	switch {
	case errors.Is(err, rooms.ErrForbidden):
		return CodeForbidden, http.StatusForbidden
	case errors.Is(err, rooms.ErrNotFound):
		return CodeNotFound, http.StatusNotFound
	case errors.Is(err, rooms.ErrRoomFull):
		return CodeRoomFull, http.StatusConflict
	case errors.Is(err, rooms.ErrEnded):
		return CodeSessionEnded, http.StatusGone
	case errors.Is(err, rooms.ErrRemoved):
		return CodeRemoved, http.StatusForbidden
	case errors.Is(err, rooms.ErrSessionFull):
		return CodeSessionFull, http.StatusServiceUnavailable
	case errors.Is(err, rooms.ErrServerFull):
		return CodeServerFull, http.StatusServiceUnavailable
	case errors.Is(err, rooms.ErrInvalid):
		return CodeInvalid, http.StatusBadRequest
	case errors.Is(err, rooms.ErrNotOwner):
		return CodeSessionMoving, http.StatusServiceUnavailable
	case errors.Is(err, rooms.ErrRateLimited):
		return CodeRateLimited, http.StatusTooManyRequests
	case errors.Is(err, errUnknownCommand):
		return CodeUnknownType, http.StatusNotFound
	}
	return CodeInternal, http.StatusInternalServerError
}

// publicMessage is the text of an error for the person who caused it,
// without the package prefixes of wrapped errors.
func publicMessage(err error) string {
	return strings.ReplaceAll(err.Error(), "rooms: ", "")
}

// reactionEvery is the minimum spacing of one participant's reactions.
const reactionEvery = 500 * time.Millisecond

// maxEmojiRunes bounds a reaction: one emoji, possibly with modifiers.
const maxEmojiRunes = 8

// react sends an ephemeral reaction to the members of c's room. It is not
// part of the session state and carries no version.
func (c *conn) react(m *Command) {
	emoji := strings.TrimSpace(m.Emoji)
	if emoji == "" || utf8.RuneCountInString(emoji) > maxEmojiRunes {
		c.sendError(m.ID, CodeInvalid, "a reaction is one emoji")
		return
	}
	now := time.Now()
	if now.Sub(c.lastReaction) < reactionEvery {
		c.sendError(m.ID, CodeRateLimited, "one reaction every 500 ms")
		return
	}
	c.lastReaction = now
	if err := rooms.Check(c.role(), rooms.ActionReact); err != nil {
		c.sendError(m.ID, CodeForbidden, publicMessage(err))
		return
	}
	snap, err := c.s.hub.Snapshot(c.sess.id)
	if err != nil {
		c.sendError(m.ID, CodeNotFound, publicMessage(err))
		return
	}
	room := ""
	for _, p := range snap.Participants {
		if p.ID == c.pid {
			room = p.Room
		}
	}
	msg := encode(Reaction{Envelope: Envelope{Type: TypeReaction}, ParticipantID: c.pid, Emoji: emoji})
	for _, p := range snap.Participants {
		if p.Room == room {
			if to := c.sess.conn(p.ID); to != nil {
				to.enqueue(msg)
			}
		}
	}
	c.sendMsg(OK{Envelope: Envelope{Type: TypeOK, ID: m.ID}})
}

// command runs a session command sent on the websocket.
func (c *conn) command(name, id string, raw []byte) {
	var m Command
	if err := json.Unmarshal(raw, &m); err != nil {
		c.sendError(id, CodeBadMessage, err.Error())
		return
	}
	if c.sess.conn(c.pid) != c {
		// A newer socket of the same user holds the record; this one is
		// being closed and may no longer act for it.
		c.sendError(m.ID, CodeForbidden, "this connection was replaced by a newer one")
		return
	}
	if name == CmdReact {
		c.react(&m)
		return
	}
	v, err := c.s.runCommand(name, c.sess.id, rooms.Actor{ParticipantID: c.pid}, &m)
	if err != nil {
		code, _ := commandError(err)
		if code == CodeInternal {
			c.s.log.Error("command", "command", name, "session", c.sess.id, "participant", c.pid, "err", err)
		}
		c.sendError(m.ID, code, publicMessage(err))
		return
	}
	c.sendMsg(OK{Envelope: Envelope{Type: TypeOK, ID: m.ID}, Version: v})
}
