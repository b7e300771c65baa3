package signaling

// The media side of a socket: the participant record's one PeerConnection,
// which a socket creates or (on a resume) takes over from the last one, its
// connection deadline, ICE restarts and the answer to the offer.

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/sfu"
)

// resume brings a socket that kept the record's PeerConnection up to date
// with it: no offer (the media was negotiated on an earlier socket), the
// pending ICE restart offer again if one awaits its answer, the current
// slots, and the record's state.
func (c *conn) resume() {
	c.offerDone()
	if o, ok := c.peer.PendingRestart(); ok {
		c.afterOffer(encode(SDP{Envelope: Envelope{Type: TypeOffer}, SDP: o.SDP,
			UpstreamMid: o.UpstreamMid, SlotMids: o.SlotMids, ICERestart: true}))
	}
	c.peer.RepeatSlots()
	if c.peer.State() == webrtc.PeerConnectionStateConnected {
		c.onPeerState(webrtc.PeerConnectionStateConnected)
		return
	}
	c.armMedia()
}

// armMedia starts (or restarts) the media deadline: a PeerConnection that
// is not connected within ConnectTimeout fails the socket with
// connect_timeout (its record then waits the reconnect grace, as for any
// drop).
func (c *conn) armMedia() {
	c.mediaMu.Lock()
	defer c.mediaMu.Unlock()
	if c.mediaTimer != nil {
		c.mediaTimer.Stop()
	}
	c.mediaTimer = time.AfterFunc(c.s.cfg.ConnectTimeout, func() {
		if !c.connected.Load() {
			c.fail("", CodeConnectTimeout, "the media connection did not come up within "+
				c.s.cfg.ConnectTimeout.String()+"; reconnect to try again")
		}
	})
}

func (c *conn) stopMedia() {
	c.mediaMu.Lock()
	defer c.mediaMu.Unlock()
	if c.mediaTimer != nil {
		c.mediaTimer.Stop()
	}
}

// takeOver makes c the socket of its participant record. An older socket
// is told `replaced`; if a newer socket got there first, c is the one
// replaced. With resume, a client proves with the key of an earlier welcome
// that the record's PeerConnection is its own: c keeps it if it was
// answered and has not failed. Otherwise the record's PeerConnection, if
// any, is closed before c's new one is created. It reports the resume key
// of c's PeerConnection and whether c holds the record.
func (c *conn) takeOver(resume *Resume) (key string, ok bool) {
	m := c.sess.member(c.pid)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.epoch > c.epoch {
		c.replaced()
		return "", false
	}
	m.epoch = c.epoch
	m.endGrace()
	if old := m.conn.Load(); old != nil {
		old.replaced()
	}
	if resume != nil && m.peer != nil && resume.Key == m.resumeKey && keepable(m.peer) {
		c.peer, c.link, c.resumed = m.peer, m.link, true
	} else {
		if m.peer != nil {
			m.link.c.Store(nil)
			_ = m.peer.Close()
			m.peer, m.link = nil, nil
		}
		link := &peerLink{}
		link.c.Store(c)
		peer, err := c.sess.router.AddPeer(c.pid, link.handlers())
		if err != nil {
			c.fail("", CodeInternal, "could not create the PeerConnection")
			c.s.log.Error("add peer", "session", c.sess.id, "participant", c.pid, "err", err)
			return "", false
		}
		m.peer, m.link, m.resumeKey = peer, link, newResumeKey()
		c.peer, c.link = peer, link
	}
	c.link.c.Store(c)
	m.conn.Store(c)
	return m.resumeKey, true
}

// keepable reports whether a resuming client may keep p: negotiated, and
// neither failed nor closed.
func keepable(p *sfu.Peer) bool {
	if p.Closed() || !p.Answered() {
		return false
	}
	st := p.State()
	return st != webrtc.PeerConnectionStateFailed && st != webrtc.PeerConnectionStateClosed
}

// newResumeKey returns an unguessable key for one PeerConnection.
func newResumeKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (c *conn) onCandidate(ci *webrtc.ICECandidateInit) {
	c.afterOffer(encode(Candidate{Envelope: Envelope{Type: TypeCandidate}, Candidate: ci}))
}

// onPeerState follows the PeerConnection of the socket's record. A failed
// PeerConnection is reported with ice_failed; the socket stays open for the
// client to ask for an ICE restart within ConnectTimeout.
func (c *conn) onPeerState(st webrtc.PeerConnectionState) {
	switch st {
	case webrtc.PeerConnectionStateConnected:
		first := !c.resumed && !c.connected.Load()
		c.connected.Store(true)
		c.stopMedia()
		if err := c.s.hub.SetState(c.sess.id, c.pid, c.epoch, rooms.StateConnected); err == nil {
			c.s.syncAudiences(c.sess)
		}
		if first && c.s.cfg.OnJoined != nil {
			c.s.cfg.OnJoined(time.Since(c.opened))
		}
	case webrtc.PeerConnectionStateFailed:
		c.connected.Store(false)
		c.sendError("", CodeICEFailed, "the media connection failed; ask for an ICE restart (ice.restart) or reconnect")
		c.armMedia()
	}
}

// restartICE answers ice.restart with an ICE restart offer on the one
// PeerConnection. The candidates it gathers are held back until the offer
// is queued.
func (c *conn) restartICE(id string) {
	c.holdForOffer()
	defer c.offerDone()
	o, err := c.peer.RestartICE()
	switch {
	case errors.Is(err, sfu.ErrNoOffer):
		c.sendError(id, CodeNotNegotiated, "nothing to restart: answer the offer first")
	case errors.Is(err, sfu.ErrClosed):
	case err != nil:
		c.sendError(id, CodeInternal, "could not create the ICE restart offer")
		c.s.log.Error("ice restart", "session", c.sess.id, "participant", c.pid, "err", err)
	default:
		c.sendMsg(SDP{Envelope: Envelope{Type: TypeOffer, ID: id}, SDP: o.SDP,
			UpstreamMid: o.UpstreamMid, SlotMids: o.SlotMids, ICERestart: true})
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
