package signaling

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sanctuary-sfu/sanctuary/auth"
	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/sfu"
)

// maxAliasRunes caps the display alias a client may set.
const maxAliasRunes = 64

// dispatch handles one message on the reader goroutine.
func (c *conn) dispatch(raw []byte) {
	var env Envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		c.sendError("", CodeBadMessage, "not a JSON object with a string type: "+err.Error())
		return
	}
	if c.sess == nil && env.Type != TypeJoin && env.Type != TypePing {
		c.sendError(env.ID, CodeAuthRequired, "the first message must be a join with a token")
		return
	}
	switch env.Type {
	case TypeJoin:
		var m Join
		if c.decodeOr(raw, &m, env.ID) {
			c.join(m)
		}
	case TypeAnswer:
		var m SDP
		if c.decodeOr(raw, &m, env.ID) {
			c.answer(m)
		}
	case TypeCandidate:
		var m Candidate
		if c.decodeOr(raw, &m, env.ID) && m.Candidate != nil {
			if err := c.peer.AddCandidate(*m.Candidate); err != nil {
				c.sendError(env.ID, CodeBadSDP, err.Error())
			}
		}
	case TypePing:
		c.sendMsg(Envelope{Type: TypePong, ID: env.ID})
	case TypeICERestart:
		c.restartICE(env.ID)
	case TypeSnapshot:
		snap, err := c.s.hub.Snapshot(c.sess.id)
		if err != nil {
			c.sendError(env.ID, CodeSessionNotFound, err.Error())
			return
		}
		c.sendMsg(SnapshotMessage{Envelope: Envelope{Type: TypeSnapshot, ID: env.ID}, Snapshot: toWireSnapshot(snap)})
	case CmdChatSend, CmdChatDelete, CmdChatHistory:
		c.chat(env.Type, raw)
	case TypeLeave:
		c.leaving = true
		c.sendMsg(Envelope{Type: TypeOK, ID: env.ID})
		c.closeFor("left")
	default:
		if _, ok := commands[env.Type]; ok || env.Type == CmdReact {
			c.command(env.Type, env.ID, raw)
			return
		}
		c.sendError(env.ID, CodeUnknownType, "unknown message type "+strconv.Quote(env.Type))
	}
}

func (c *conn) decodeOr(raw []byte, v any, id string) bool {
	if err := json.Unmarshal(raw, v); err != nil {
		c.sendError(id, CodeBadMessage, err.Error())
		return false
	}
	return true
}

// join authenticates, joins the rooms session (taking over an earlier
// socket of the same user), creates the PeerConnection and sends welcome
// and the one offer.
func (c *conn) join(m Join) {
	if c.sess != nil {
		c.sendError(m.ID, CodeAlreadyJoined, "this socket has joined already")
		return
	}
	id, err := c.s.cfg.Verifier.Verify(m.Token)
	if err != nil {
		code := CodeTokenInvalid
		if errors.Is(err, auth.ErrTokenExpired) {
			code = CodeTokenExpired
		}
		c.sendError(m.ID, code, err.Error())
		return
	}
	sessionID := m.Session
	switch {
	case sessionID == "":
		sessionID = id.Session
	case id.Session != "" && id.Session != sessionID:
		c.sendError(m.ID, CodeWrongSession, "the token is for another session")
		return
	}
	if sessionID == "" {
		c.sendError(m.ID, CodeBadMessage, "join needs a session (in the message or the token)")
		return
	}
	alias := id.Alias
	if a := strings.TrimSpace(m.Alias); a != "" {
		alias = a
	}
	if utf8.RuneCountInString(alias) > maxAliasRunes {
		alias = string([]rune(alias)[:maxAliasRunes])
	}

	if len(m.ClientID) > maxClientIDBytes {
		c.sendError(m.ID, CodeBadMessage, "clientId is limited to "+strconv.Itoa(maxClientIDBytes)+" bytes")
		return
	}

	if !c.claim(m.ID, sessionID) {
		return // answered: redirect, or session_moving
	}
	sess, err := c.s.acquire(sessionID)
	if err != nil {
		c.fail(m.ID, CodeShuttingDown, "the server is shutting down")
		return
	}
	c.ansMu.Lock()
	c.joinID = m.ID
	c.ansMu.Unlock()
	// From the attempt check to the takeover, one join of this user at a
	// time: the record goes to the joins in the order they were checked.
	joinLock := sess.lockUser(id.UserID)
	if !sess.newerJoin(id.UserID, m.ClientID, m.Attempt) {
		joinLock.Unlock()
		c.s.release(sess)
		c.replacedBeforeJoin()
		return
	}
	res, err := c.s.hub.Join(sessionID, rooms.Identity{UserID: id.UserID, Alias: alias, Role: rooms.ParseRole(id.Role)})
	if err != nil {
		joinLock.Unlock()
		c.s.release(sess)
		code, _ := commandError(err)
		if code == CodeInternal {
			code = CodeBadMessage // a session or user id rooms does not accept
		}
		if code == CodeSessionMoving {
			c.fail(m.ID, code, "the session is moving to another server: reconnect in a moment")
			return
		}
		c.sendError(m.ID, code, publicMessage(err))
		return
	}
	sess.observe(res.Snapshot.Created)
	c.sess, c.pid, c.epoch = sess, res.Participant.ID, res.Participant.Epoch
	c.setRole(res.Participant.Role)

	key, ok := c.takeOver(m.Resume)
	joinLock.Unlock()
	if !ok {
		return // a newer socket of the same user won the race; this one was told
	}
	c.s.syncAudiences(sess)
	c.s.log.Info("joined", "session", sessionID, "participant", c.pid, "role", res.Participant.Role,
		"replaced", res.Replaced, "resumed", c.resumed)

	c.batching.Store(m.Batch)
	snap := toWireSnapshot(res.Snapshot)
	w := Welcome{
		Envelope: Envelope{Type: TypeWelcome, ID: m.ID}, Protocol: ProtocolVersion,
		ParticipantID: c.pid, Slots: sess.router.Slots(), Snapshot: &snap, ResumeKey: key, Resumed: c.resumed,
	}
	if c.s.cfg.ICEServers != nil {
		w.ICEServers = c.s.cfg.ICEServers(c.pid)
	}
	if c.resumed {
		if c.welcome(w, m.Resume.Version) {
			c.resume()
			c.replayChat(m.ChatSince)
		}
		return
	}
	offer, err := c.peer.Offer()
	if errors.Is(err, sfu.ErrClosed) {
		return // replaced by a newer socket meanwhile; it was told
	}
	if err != nil {
		c.fail("", CodeInternal, "could not create the offer")
		c.s.log.Error("offer", "session", sessionID, "participant", c.pid, "err", err)
		return
	}
	if !c.welcome(w, 0) {
		return
	}
	c.armMedia()
	c.sendMsg(SDP{Envelope: Envelope{Type: TypeOffer}, SDP: offer.SDP, UpstreamMid: offer.UpstreamMid, SlotMids: offer.SlotMids})
	c.offerDone()
	c.replayChat(m.ChatSince)
}

// welcome queues w as the join's answer, then every event after the
// snapshot it shows, unless the join was answered already (by `replaced`).
// A resume (resumeFrom > 0) first tries to send w without its snapshot,
// followed by the events after resumeFrom. When the events needed are no
// longer all kept (a join storm, a long absence), it sends a newer snapshot
// instead. It reports false when it sent no welcome.
func (c *conn) welcome(w Welcome, resumeFrom uint64) bool {
	c.ansMu.Lock()
	defer c.ansMu.Unlock()
	if c.answered {
		return false
	}
	if resumeFrom > 0 {
		lean := w
		lean.Snapshot = nil
		if c.sess.catchUp(c, resumeFrom, encode(lean), true) {
			c.answered = true
			return true
		}
	}
	for range maxCatchUpTries {
		if c.sess.catchUp(c, w.Snapshot.Version, encode(w), false) {
			c.answered = true
			return true
		}
		snap, err := c.s.hub.Snapshot(c.sess.id)
		if err != nil {
			c.answered = true
			c.fail(w.ID, CodeSessionNotFound, "the session is gone")
			return false
		}
		ws := toWireSnapshot(snap)
		w.Snapshot = &ws
	}
	c.answered = true
	c.fail(w.ID, CodeInternal, "the session changes too fast to join it now; try again")
	return false
}

// removed tells c that a moderator removed it, and closes it.
func (c *conn) removed(reason string) {
	c.closeWith("removed", encode(Removed{Envelope: Envelope{Type: TypeRemoved}, Reason: reason}))
}

// maxClientIDBytes bounds join's clientId.
const maxClientIDBytes = 64

// replacedBeforeJoin answers a join that came after a newer one of the same
// client (a late join from a socket the client gave up): it is `replaced`
// at once, and nothing was taken over.
func (c *conn) replacedBeforeJoin() {
	c.ansMu.Lock()
	id := c.joinID
	c.answered = true
	c.ansMu.Unlock()
	c.closeWith("replaced by a newer join of its client", encode(Replaced{Envelope: Envelope{Type: TypeReplaced, ID: id},
		Message: "a newer connection of this client joined"}))
}

// replaced tells c that a newer socket holds its record and closes it:
// `replaced` is its last message. When c's join was not answered yet,
// `replaced` is that answer and carries the join's id. The record's
// PeerConnection is the new socket's business.
func (c *conn) replaced() {
	c.ansMu.Lock()
	id := ""
	if !c.answered {
		id, c.answered = c.joinID, true
	}
	c.ansMu.Unlock()
	c.closeWith("replaced", encode(Replaced{Envelope: Envelope{Type: TypeReplaced, ID: id}, Message: "you joined from another connection"}))
}

// cleanup runs once the socket is closed. The record stays for the grace
// period in state reconnecting (unless the client left, or a newer socket
// took it over), and so does its PeerConnection, which keeps carrying audio:
// a client that comes back keeps its role and room, and with its resume key
// its media too.
func (c *conn) cleanup() {
	if c.sess == nil {
		return
	}
	c.stopMedia()
	m := c.sess.member(c.pid)
	m.mu.Lock()
	if m.conn.Load() == c {
		m.conn.Store(nil)
		c.link.c.CompareAndSwap(c, nil)
	}
	m.mu.Unlock()
	s, sess := c.s, c.sess
	if c.leaving {
		c.leave()
		return
	}
	if err := s.hub.SetState(sess.id, c.pid, c.epoch, rooms.StateReconnecting); err != nil {
		m.dropMedia(c.epoch) // the session ended or removed the record; a takeover keeps its own
		s.release(sess)
		return
	}
	s.syncAudiences(sess)
	end := make(chan struct{})
	m.mu.Lock()
	if m.epoch == c.epoch {
		m.endGrace()
		m.graceEnd = end
	} else {
		close(end) // taken over meanwhile
	}
	m.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(s.cfg.ReconnectGrace)
		defer t.Stop()
		select {
		case <-t.C:
		case <-end:
		case <-s.stopping:
		}
		c.leave()
	}()
}

// leave removes the record if c's epoch still holds it, closes its
// PeerConnection if no newer socket took it, and releases c's hold on the
// session.
func (c *conn) leave() {
	if err := c.s.hub.Leave(c.sess.id, c.pid, c.epoch); err == nil {
		c.s.syncAudiences(c.sess)
		c.s.log.Info("left", "session", c.sess.id, "participant", c.pid)
	}
	c.sess.member(c.pid).dropMedia(c.epoch)
	c.s.release(c.sess)
}
