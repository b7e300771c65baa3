package sfu

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/transport/v5/packetio"
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

	// Negotiation: one offer and its answer, then only ICE restarts
	// (RestartICE), each answered in turn. negMu orders these calls,
	// which may come from two sockets of one participant during a resume.
	negMu      sync.Mutex
	offered    bool
	answered   bool
	restarting *Offer // the ICE restart offer awaiting its answer

	closed   atomic.Bool
	upstream atomic.Bool // an upstream track was accepted

	rtcpDropped atomic.Uint64 // RTCP packets of unread slots dropped on arrival (newStreamBuffer)
	tcpClosed   atomic.Uint64 // times closeUnusedTCP closed the ICE-TCP candidate's connection
	tcpChecked  atomic.Uint64 // times closeUnusedTCP ran

	lastSlots []string // last ids given to OnSlots; router lock

	// The write path of the peer's slots (direct.go), chosen once when
	// the DTLS handshake is done.
	secrets  *dtlsSecrets         // what the DTLS handshake shows of the SRTP keys; nil with NoDirectWrites
	ice      *webrtc.ICETransport // the PeerConnection's, kept: reading it through the DTLS transport takes that transport's lock
	pathOnce sync.Once
	direct   atomic.Pointer[directPath] // nil: pion's path

	// The router's index (groups.go), guarded by the router's mutex: the
	// groups p hears and speaks in (nil: none, and always none once p is
	// removed from the router), p's index in their lists, and the last
	// selection that queued p for a refill.
	hearG, speakG   *group
	hearAt, speakAt int
	queuedGen       uint64

	wg sync.WaitGroup // reader and RTCP drain goroutines
}

// AddPeer creates the PeerConnection of participant id with one recvonly
// upstream transceiver and K sendonly slots, and registers it with the
// router. The id must be unique in the router.
func (r *Router) AddPeer(id string, h PeerHandlers) (*Peer, error) {
	p := &Peer{id: id, r: r, h: h}
	if !r.e.cfg.NoDirectWrites {
		p.secrets = &dtlsSecrets{}
	}
	cert, err := r.e.certificate(time.Now())
	if err != nil {
		return nil, err
	}
	pc, err := r.e.newAPI(p).NewPeerConnection(webrtc.Configuration{Certificates: []webrtc.Certificate{cert}})
	if err != nil {
		return nil, fmt.Errorf("sfu: new peer connection: %w", err)
	}
	r.e.stats.peers.Add(1)
	p.pc = pc
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
		s.sender = tr.Sender()
		p.slots = append(p.slots, s)
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
	dtls := p.pc.SCTP().Transport()
	p.ice = dtls.ICETransport()
	p.ice.OnSelectedCandidatePairChange(func(*webrtc.ICECandidatePair) { p.onPairChange() })
	// The slots wait for their write path (choosePath), chosen as soon as
	// the DTLS handshake is done: pion calls this with the DTLS
	// transport's lock held, before its own SRTP starts, and reports the
	// PeerConnection connected only after, from a new goroutine.
	dtls.OnStateChange(func(s webrtc.DTLSTransportState) {
		if s == webrtc.DTLSTransportStateConnected {
			p.choosePath()
		}
	})
	p.pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			p.choosePath() // done already unless DTLS's report was missed; before OnState either way
		}
		if p.h.OnState != nil {
			p.h.OnState(s)
		}
		if s == webrtc.PeerConnectionStateConnected {
			p.closeUnusedTCP() // after OnState: nothing waits for it
			p.openSlotRTCP()
		}
	})
	return nil
}

// closeUnusedTCP closes the peer's ICE-TCP candidate once ICE has chosen a
// UDP pair. pion gathers a passive TCP candidate for every agent when the
// server has a TCP port (Config.TCPPort) and keeps it, with its connection
// in the mux, a goroutine reading it into an 8 kB buffer and one waiting
// for its close, until the PeerConnection closes: some 17 kB a
// participant, though once a pair is nominated no other is ever used (the
// server's agent is the controlling one and does not renominate). A
// client whose network changes restarts ICE, which gathers a new TCP
// candidate under the new credentials. A peer connected over TCP keeps
// its candidate.
func (p *Peer) closeUnusedTCP() {
	defer p.tcpChecked.Add(1)
	mux := p.r.e.tcpMux
	if mux == nil || p.closed.Load() {
		return
	}
	pair, err := p.ice.GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local.Protocol != webrtc.ICEProtocolUDP {
		return
	}
	if ufrag := localUfrag(p.pc.CurrentLocalDescription()); ufrag != "" {
		mux.RemoveConnByUfrag(ufrag)
		p.tcpClosed.Add(1)
	}
}

// localUfrag is the ICE username fragment of a local description ("" when
// there is none): the same in every m-section, as pion bundles them.
func localUfrag(d *webrtc.SessionDescription) string {
	if d == nil {
		return ""
	}
	_, rest, ok := strings.Cut(d.SDP, "a=ice-ufrag:")
	if !ok {
		return ""
	}
	ufrag, _, _ := strings.Cut(rest, "\n")
	return strings.TrimSpace(ufrag)
}

// ID is the peer's participant id.
func (p *Peer) ID() string { return p.id }

// Offer creates the peer's one SDP offer. Candidates trickle through
// OnCandidate. A second call fails with ErrRenegotiation; a closed peer
// fails with ErrClosed.
func (p *Peer) Offer() (Offer, error) {
	p.negMu.Lock()
	defer p.negMu.Unlock()
	if p.closed.Load() {
		return Offer{}, ErrClosed
	}
	if p.offered {
		return Offer{}, ErrRenegotiation
	}
	p.offered = true
	return p.offerLocked(nil)
}

// RestartICE creates an ICE restart offer: new ICE credentials and fresh
// candidates on the same PeerConnection, with the same m-lines, so media
// resumes over the client's new network path. It is the one renegotiation a
// peer takes part in; SetAnswer takes its answer. While a restart offer
// awaits its answer, RestartICE returns that same offer again (a client
// that lost it asks again). It fails with ErrNoOffer before the first
// answer was applied, and with ErrClosed on a closed peer.
func (p *Peer) RestartICE() (Offer, error) {
	p.negMu.Lock()
	defer p.negMu.Unlock()
	switch {
	case p.closed.Load():
		return Offer{}, ErrClosed
	case !p.answered:
		return Offer{}, ErrNoOffer
	case p.restarting != nil:
		return *p.restarting, nil
	}
	o, err := p.offerLocked(&webrtc.OfferOptions{ICERestart: true})
	if err != nil {
		return Offer{}, err
	}
	p.restarting = &o
	p.r.e.stats.iceRestarts.Add(1)
	return o, nil
}

// PendingRestart returns the ICE restart offer that awaits its answer, if
// any: a client that resumes on a new socket is sent it again.
func (p *Peer) PendingRestart() (Offer, bool) {
	p.negMu.Lock()
	defer p.negMu.Unlock()
	if p.restarting == nil {
		return Offer{}, false
	}
	return *p.restarting, true
}

// offerLocked creates and applies a local offer. negMu held.
func (p *Peer) offerLocked(opts *webrtc.OfferOptions) (Offer, error) {
	offer, err := p.pc.CreateOffer(opts)
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

// SetAnswer applies the client's answer to the offer, or to the pending
// ICE restart offer. Any other answer fails with ErrRenegotiation and
// changes nothing.
func (p *Peer) SetAnswer(sdpText string) error {
	p.negMu.Lock()
	defer p.negMu.Unlock()
	switch {
	case !p.offered:
		return ErrNoOffer
	case p.answered && p.restarting == nil:
		return ErrRenegotiation
	}
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdpText}); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSDP, err)
	}
	p.answered, p.restarting = true, nil
	return nil
}

// Answered reports whether the client's answer to the first offer was
// applied: only then can the PeerConnection carry media, and move to a
// new socket on a resume.
func (p *Peer) Answered() bool {
	p.negMu.Lock()
	defer p.negMu.Unlock()
	return p.answered
}

// State is the PeerConnection's current connection state.
func (p *Peer) State() webrtc.PeerConnectionState { return p.pc.ConnectionState() }

// Closed reports whether Close was called.
func (p *Peer) Closed() bool { return p.closed.Load() }

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

// RepeatSlots gives OnSlots the current slot sources again, changed or
// not, in order with later changes: for a participant that resumed on a new
// socket.
func (p *Peer) RepeatSlots() {
	p.r.mu.Lock()
	defer p.r.mu.Unlock()
	p.lastSlots = nil
	p.notifySlots()
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
	p.r.e.removeReporting(p)
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
	p.wg.Add(2)
	go p.readUpstream(track, levelID)
	go p.readUpstreamRTCP(recv) // the client's sender reports, for our reception reports
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
		e   = p.r.e
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
		src.rx.OnRTP(pkt.SSRC, pkt.SequenceNumber, pkt.Timestamp, now)
		silent := false
		if levelID != 0 {
			if ext := pkt.GetExtension(levelID); len(ext) > 0 {
				src.observeLevel(ext[0], pkt.Timestamp)
				silent = silentLevel(ext[0])
			}
		}
		src.heard(now)
		c.packetsIn.Add(1)
		c.bytesIn.Add(uint64(len(pkt.Payload)))
		p.r.packetsIn.Add(1)
		if src.holdSilence(silent, pkt.Timestamp) {
			c.silenceHeld.Add(1)
			continue
		}
		if sent := e.fanout(src, &pkt, now); sent > 0 {
			c.packetsOut.Add(sent)
			c.bytesOut.Add(sent * uint64(len(pkt.Payload)))
			p.r.packetsOut.Add(sent)
		}
	}
}

// readUpstreamRTCP reads the client's RTCP on its upstream until it
// fails, and keeps its sender reports for the reception reports
// (reports.go).
func (p *Peer) readUpstreamRTCP(recv *webrtc.RTPReceiver) {
	defer p.wg.Done()
	buf := make([]byte, 1500)
	clk := p.r.clock
	for {
		n, _, err := recv.Read(buf)
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		for _, pkt := range pkts {
			if sr, ok := pkt.(*rtcp.SenderReport); ok {
				p.src.rx.OnSenderReport(sr, clk.now())
			}
		}
	}
}

// drainRTCP reads RTCP from read until it fails, so that the interceptors
// see it: a subscriber's NACKs reach the NACK responder (RTPSender.Read of
// a slot). The SFU itself needs nothing from them.
func (p *Peer) drainRTCP(read func([]byte) (int, interceptor.Attributes, error)) {
	defer p.wg.Done()
	buf := make([]byte, 1500)
	for {
		if _, _, err := read(buf); err != nil {
			return
		}
	}
}

// drainSlotRTCP starts reading a slot's RTCP when its subscriber negotiated
// NACK for it: only then does any interceptor act on what it sends back
// (the sender reports are made from what we send; nothing reads a
// subscriber's receiver reports). Other slots' RTCP is dropped on arrival
// (newStreamBuffer), which saves a goroutine per slot: a tenth of a
// participant's memory at K = 10.
func (p *Peer) drainSlotRTCP(s *slot, nack bool) {
	if !nack || s.sender == nil || !s.draining.CompareAndSwap(false, true) || p.closed.Load() {
		return
	}
	p.wg.Add(1)
	go p.drainRTCP(s.sender.Read)
}

// openSlotRTCP opens each slot's SRTCP read stream. pion opens it only
// when the sender first writes through pion or is first read, and a slot
// on the direct path (direct.go) whose RTCP is not read (drainSlotRTCP)
// does neither: the subscriber's first report on the slot then reached
// pion's handler of undeclared streams, which logged "Incoming unhandled
// RTCP ssrc" at WARN for every slot of every subscriber that heard
// someone (about 1,100 lines in a run of 110 bots) and kept the stream it
// accepted for the PeerConnection's life. Setting the sender's read
// deadline opens the stream (pion's srtpWriterFuture.init); its reports
// are dropped on arrival as before (newStreamBuffer). It runs once the
// PeerConnection is connected, when pion's SRTP is up or about to be.
func (p *Peer) openSlotRTCP() {
	for _, s := range p.slots {
		if s.sender != nil {
			_ = s.sender.SetReadDeadline(time.Time{})
		}
	}
}

// newStreamBuffer is pion's buffer for each of the peer's SRTP and SRTCP
// read streams (SettingEngine.BufferFactory; Engine.newAPI gives every peer
// its own). The RTCP of a slot whose subscriber did not negotiate NACK is
// never read (drainSlotRTCP), and its subscriber reports on it about once a
// second: kept, it would fill a bounded buffer per slot, 16 kB of reports
// and their attributes after a few minutes, some 250 kB a participant at
// K = 10. It is dropped instead. A slot's RTCP stream is opened once the
// PeerConnection is connected (openSlotRTCP, or pion's first read of it),
// after Bind has told the slot its SSRC and whether it is read; a stream
// opened earlier, or for any other SSRC, gets the bounded buffer.
func (p *Peer) newStreamBuffer(t packetio.BufferPacketType, ssrc uint32) io.ReadWriteCloser {
	if t == packetio.RTCPBufferPacket {
		for _, s := range p.slots {
			if s.rtcpUnread(ssrc) {
				return newDropBuffer(&p.rtcpDropped)
			}
		}
	}
	return newStreamBuffer(t)
}
