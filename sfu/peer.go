package sfu

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// PeerHandlers are a peer's callbacks. Each may be nil. They are called
// from pion's or the router's goroutines and must not block.
type PeerHandlers struct {
	// OnCandidate gets each local ICE candidate to trickle to the client;
	// nil when gathering is complete.
	OnCandidate func(c *webrtc.ICECandidateInit)
	// OnSlots gets the source peer id of every slot ("" for a silent
	// slot) each time they change. Called with the router's lock held: it
	// must not call back into the Router or the Peer.
	OnSlots func(ids []string)
	// OnState gets every PeerConnection state change.
	OnState func(s webrtc.PeerConnectionState)
}

// Offer is the one SDP offer of a peer, with the m-line of each role.
type Offer struct {
	SDP         string
	UpstreamMid string   // the m-line the client sends its microphone on
	SlotMids    []string // in slot order
}

// Peer is one participant's PeerConnection: one upstream audio track and K
// downstream slots, negotiated once by Offer and SetAnswer.
type Peer struct {
	id    string
	r     *Router
	pc    *webrtc.PeerConnection
	h     PeerHandlers
	src   *source
	slots []*slot

	offered  atomic.Bool
	answered atomic.Bool
	closed   atomic.Bool
	upstream atomic.Bool // an upstream track was accepted

	lastSlots []string // last ids given to OnSlots; router lock

	wg sync.WaitGroup // reader and RTCP drain goroutines
}

// AddPeer creates the PeerConnection of participant id with one recvonly
// upstream transceiver and K sendonly slots, and registers it with the
// router. The id must be unique in the router.
func (r *Router) AddPeer(id string, h PeerHandlers) (*Peer, error) {
	pc, err := r.e.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("sfu: new peer connection: %w", err)
	}
	r.e.stats.peers.Add(1)
	p := &Peer{id: id, r: r, pc: pc, h: h}
	p.src = newSource(p)
	if err := p.setup(); err != nil {
		_ = p.closePC()
		return nil, err
	}
	if err := r.addPeer(p); err != nil {
		_ = p.closePC()
		return nil, err
	}
	return p, nil
}

func (p *Peer) setup() error {
	if _, err := p.pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		return fmt.Errorf("sfu: upstream transceiver: %w", err)
	}
	for i := range p.r.k {
		s := newSlot(p, i)
		tr, err := p.pc.AddTransceiverFromTrack(s,
			webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return fmt.Errorf("sfu: slot %d: %w", i, err)
		}
		p.slots = append(p.slots, s)
		p.wg.Add(1)
		go p.drainRTCP(tr.Sender())
	}
	p.pc.OnTrack(p.onTrack)
	p.pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if p.h.OnCandidate == nil {
			return
		}
		if c == nil {
			p.h.OnCandidate(nil)
			return
		}
		init := c.ToJSON()
		p.h.OnCandidate(&init)
	})
	p.pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if p.h.OnState != nil {
			p.h.OnState(s)
		}
	})
	return nil
}

// ID is the peer's participant id.
func (p *Peer) ID() string { return p.id }

// Offer creates the peer's one SDP offer. Candidates trickle through
// OnCandidate. A second call fails with ErrRenegotiation; a closed peer
// fails with ErrClosed.
func (p *Peer) Offer() (Offer, error) {
	if p.closed.Load() {
		return Offer{}, ErrClosed
	}
	if !p.offered.CompareAndSwap(false, true) {
		return Offer{}, ErrRenegotiation
	}
	offer, err := p.pc.CreateOffer(nil)
	if err == nil {
		err = p.pc.SetLocalDescription(offer)
	}
	if err != nil {
		if p.closed.Load() {
			return Offer{}, ErrClosed // closed while offering: a takeover
		}
		return Offer{}, fmt.Errorf("sfu: offer: %w", err)
	}
	o := Offer{SDP: offer.SDP}
	for i, t := range p.pc.GetTransceivers() {
		if i == 0 {
			o.UpstreamMid = t.Mid()
		} else {
			o.SlotMids = append(o.SlotMids, t.Mid())
		}
	}
	return o, nil
}

// SetAnswer applies the client's answer to the offer. It is accepted once;
// a second answer fails with ErrRenegotiation and changes nothing.
func (p *Peer) SetAnswer(sdpText string) error {
	if !p.offered.Load() {
		return ErrNoOffer
	}
	if !p.answered.CompareAndSwap(false, true) {
		return ErrRenegotiation
	}
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdpText}); err != nil {
		p.answered.Store(false)
		return fmt.Errorf("%w: %w", ErrBadSDP, err)
	}
	return nil
}

// AddCandidate adds a trickled remote ICE candidate.
func (p *Peer) AddCandidate(c webrtc.ICECandidateInit) error {
	if err := p.pc.AddICECandidate(c); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSDP, err)
	}
	return nil
}

// Slots returns the source peer id of every slot, "" for silent ones.
func (p *Peer) Slots() []string {
	ids := make([]string, len(p.slots))
	for i, s := range p.slots {
		if src := s.source(); src != nil {
			ids[i] = src.id
		}
	}
	return ids
}

// notifySlots tells OnSlots about a change of slot sources. Router lock.
func (p *Peer) notifySlots() {
	ids := p.Slots()
	if slices.Equal(ids, p.lastSlots) {
		return
	}
	p.lastSlots = ids
	if p.h.OnSlots != nil {
		p.h.OnSlots(slices.Clone(ids))
	}
}

// Close removes the peer from its router (its slots in others fall silent
// or take another source at once), closes the PeerConnection and waits for
// the peer's goroutines. Safe to call more than once.
func (p *Peer) Close() error {
	if !p.closed.CompareAndSwap(false, true) {
		return nil
	}
	p.r.removePeer(p)
	return p.closePC()
}

// closePC closes the PeerConnection and waits for the peer's goroutines.
func (p *Peer) closePC() error {
	err := p.pc.Close()
	p.wg.Wait()
	p.r.e.stats.peers.Add(-1)
	return err
}

func (p *Peer) onTrack(track *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	if track.Kind() != webrtc.RTPCodecTypeAudio || !p.upstream.CompareAndSwap(false, true) {
		return // one upstream audio track per peer; anything else is ignored
	}
	levelID := uint8(0)
	for _, ext := range recv.GetParameters().HeaderExtensions {
		if ext.URI == sdp.AudioLevelURI {
			levelID = uint8(ext.ID)
		}
	}
	if p.closed.Load() {
		return
	}
	p.wg.Add(1)
	go p.readUpstream(track, levelID)
}

// readUpstream is the hot path: one goroutine per upstream track, one
// reused buffer and packet, no allocation and no shared lock per packet.
func (p *Peer) readUpstream(track *webrtc.TrackRemote, levelID uint8) {
	defer p.wg.Done()
	var (
		buf = make([]byte, 1500)
		pkt rtp.Packet
		c   = &p.r.e.stats
		clk = p.r.clock
		src = p.src
	)
	for {
		n, _, err := track.Read(buf)
		if err != nil {
			return
		}
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		now := clk.now()
		if levelID != 0 {
			if ext := pkt.GetExtension(levelID); len(ext) > 0 {
				src.observeLevel(ext[0])
			}
		}
		src.lastSeen.Store(now)
		sent := uint64(0)
		for _, s := range *src.slots.Load() {
			if s.forward(src, &pkt, now, c) {
				sent++
			}
		}
		c.packetsIn.Add(1)
		c.bytesIn.Add(uint64(len(pkt.Payload)))
		if sent > 0 {
			c.packetsOut.Add(sent)
			c.bytesOut.Add(sent * uint64(len(pkt.Payload)))
		}
	}
}

// drainRTCP reads a slot sender's RTCP so the interceptors (reports, NACK
// responder) see it; the SFU itself needs nothing from it for audio.
func (p *Peer) drainRTCP(s *webrtc.RTPSender) {
	defer p.wg.Done()
	buf := make([]byte, 1500)
	for {
		if _, _, err := s.Read(buf); err != nil {
			return
		}
	}
}
