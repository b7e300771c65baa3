package signaling

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pion/webrtc/v4"

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
	case TypeSnapshot:
		snap, err := c.s.hub.Snapshot(c.sess.id)
		if err != nil {
			c.sendError(env.ID, CodeSessionNotFound, err.Error())
			return
		}
		c.sendMsg(SnapshotMessage{Envelope: Envelope{Type: TypeSnapshot, ID: env.ID}, Snapshot: toWireSnapshot(snap)})
	case TypeLeave:
		c.leaving = true
		c.sendMsg(Envelope{Type: TypeOK, ID: env.ID})
		c.close()
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

	sess, err := c.s.acquire(sessionID)
	if err != nil {
		c.fail(m.ID, CodeShuttingDown, "the server is shutting down")
		return
	}
	res, err := c.s.hub.Join(sessionID, rooms.Identity{UserID: id.UserID, Alias: alias, Role: rooms.ParseRole(id.Role)})
	if err != nil {
		c.s.release(sess)
		code, _ := commandError(err)
		if code == CodeInternal {
			code = CodeBadMessage // a session or user id rooms does not accept
		}
		c.sendError(m.ID, code, publicMessage(err))
		return
	}
	sess.observe(res.Snapshot.Created)
	c.sess, c.pid, c.epoch = sess, res.Participant.ID, res.Participant.Epoch
	c.setRole(res.Participant.Role)

	if !c.takeOver() {
		return // a newer socket of the same user won the race
	}
	c.s.syncAudiences(sess)
	c.s.log.Info("joined", "session", sessionID, "participant", c.pid, "role", res.Participant.Role,
		"replaced", res.Replaced)

	c.batching.Store(m.Batch)
	c.watchMedia()
	w := Welcome{
		Envelope: Envelope{Type: TypeWelcome, ID: m.ID}, Protocol: ProtocolVersion,
		ParticipantID: c.pid, Slots: sess.router.Slots(), Snapshot: toWireSnapshot(res.Snapshot),
	}
	if c.s.cfg.ICEServers != nil {
		w.ICEServers = c.s.cfg.ICEServers(c.pid)
	}
	if !c.welcome(w) {
		return
	}
	offer, err := c.peer.Offer()
	if errors.Is(err, sfu.ErrClosed) {
		return // replaced by a newer socket meanwhile; it was told
	}
	if err != nil {
		c.fail(m.ID, CodeInternal, "could not create the offer")
		c.s.log.Error("offer", "session", sessionID, "participant", c.pid, "err", err)
		return
	}
	c.sendMsg(SDP{Envelope: Envelope{Type: TypeOffer}, SDP: offer.SDP, UpstreamMid: offer.UpstreamMid, SlotMids: offer.SlotMids})
	c.offerDone()
}

// welcome queues w and then every event after its snapshot. When the
// events after the join's snapshot are no longer all kept (a join storm), it
// sends a newer snapshot instead. It reports false when it gave up and
// closed the socket.
func (c *conn) welcome(w Welcome) bool {
	for range maxCatchUpTries {
		if c.sess.catchUp(c, w.Snapshot.Version, encode(w)) {
			return true
		}
		snap, err := c.s.hub.Snapshot(c.sess.id)
		if err != nil {
			c.fail(w.ID, CodeSessionNotFound, "the session is gone")
			return false
		}
		w.Snapshot = toWireSnapshot(snap)
	}
	c.fail(w.ID, CodeInternal, "the session changes too fast to join it now; try again")
	return false
}

// watchMedia starts the media deadline: a PeerConnection that has not
// connected within ConnectTimeout of the join fails the socket with
// connect_timeout (its record then waits the reconnect grace, as for any
// drop).
func (c *conn) watchMedia() {
	c.mediaTimer = time.AfterFunc(c.s.cfg.ConnectTimeout, func() {
		if !c.connected.Load() {
			c.fail("", CodeConnectTimeout, "the media connection did not come up within "+
				c.s.cfg.ConnectTimeout.String()+"; reconnect to try again")
		}
	})
}

// takeOver makes c the socket of its participant record. An older socket
// is told `replaced` and its PeerConnection closed before c's is created;
// if a newer socket got there first, c is the one replaced. It reports
// whether c holds the record.
func (c *conn) takeOver() bool {
	m := c.sess.member(c.pid)
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.conn.Load()
	if old != nil && old.epoch > c.epoch {
		c.replaced()
		return false
	}
	if old != nil {
		old.replaced()
	}
	peer, err := c.sess.router.AddPeer(c.pid, sfu.PeerHandlers{
		OnCandidate: c.onCandidate,
		OnSlots: func(ids []string) {
			c.afterOffer(encode(Slots{Envelope: Envelope{Type: TypeSlots}, Slots: ids}))
		},
		OnState: c.onPeerState,
	})
	if err != nil {
		c.fail("", CodeInternal, "could not create the PeerConnection")
		c.s.log.Error("add peer", "session", c.sess.id, "participant", c.pid, "err", err)
		return false
	}
	c.peer = peer
	m.conn.Store(c)
	return true
}

// removed tells c that a moderator removed it, and closes it.
func (c *conn) removed(reason string) {
	c.sendMsg(Removed{Envelope: Envelope{Type: TypeRemoved}, Reason: reason})
	c.close()
}

// replaced tells c that a newer socket holds its record, closes its
// PeerConnection at once (so its id is free in the router) and closes it.
func (c *conn) replaced() {
	c.sendMsg(Replaced{Envelope: Envelope{Type: TypeReplaced}, Message: "you joined from another connection"})
	if c.peer != nil {
		_ = c.peer.Close()
	}
	c.close()
}

func (c *conn) onCandidate(ci *webrtc.ICECandidateInit) {
	c.afterOffer(encode(Candidate{Envelope: Envelope{Type: TypeCandidate}, Candidate: ci}))
}

func (c *conn) onPeerState(st webrtc.PeerConnectionState) {
	switch st {
	case webrtc.PeerConnectionStateConnected:
		c.connected.Store(true)
		if err := c.s.hub.SetState(c.sess.id, c.pid, c.epoch, rooms.StateConnected); err == nil {
			c.s.syncAudiences(c.sess)
		}
		if c.s.cfg.OnJoined != nil {
			c.s.cfg.OnJoined(time.Since(c.opened))
		}
	case webrtc.PeerConnectionStateFailed:
		c.fail("", CodeICEFailed, "the media connection failed; reconnect to resume")
	}
}

func (c *conn) answer(m SDP) {
	err := c.peer.SetAnswer(m.SDP)
	switch {
	case err == nil:
	case errors.Is(err, sfu.ErrRenegotiation):
		c.sendError(m.ID, CodeRenegotiation, "the session was negotiated once; renegotiation is not supported")
	default:
		c.sendError(m.ID, CodeBadSDP, err.Error())
	}
}

// cleanup runs once the socket is closed. The record stays for the grace
// period in state reconnecting (unless the client left, or a newer socket
// took it over), so a client that comes back keeps its role and room.
func (c *conn) cleanup() {
	if c.sess == nil {
		return
	}
	if c.mediaTimer != nil {
		c.mediaTimer.Stop()
	}
	m := c.sess.member(c.pid)
	m.mu.Lock()
	if m.conn.Load() == c {
		m.conn.Store(nil)
	}
	m.mu.Unlock()
	if c.peer != nil {
		_ = c.peer.Close()
	}
	s, sess := c.s, c.sess
	if c.leaving {
		c.leave()
		return
	}
	if err := s.hub.SetState(sess.id, c.pid, c.epoch, rooms.StateReconnecting); err != nil {
		s.release(sess) // taken over or gone: nothing to keep
		return
	}
	s.syncAudiences(sess)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(s.cfg.ReconnectGrace)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.stopping:
		}
		c.leave()
	}()
}

// leave removes the record if c's epoch still holds it, and releases c's
// hold on the session.
func (c *conn) leave() {
	if err := c.s.hub.Leave(c.sess.id, c.pid, c.epoch); err == nil {
		c.s.syncAudiences(c.sess)
		c.s.log.Info("left", "session", c.sess.id, "participant", c.pid)
	}
	c.s.release(c.sess)
}
