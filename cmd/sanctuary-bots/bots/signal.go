package bots

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// signalState is the signaling state owned by the read loop goroutine.
type signalState struct {
	welcomed  bool                      // welcome arrived
	offers    int                       // offers received
	sender    *webrtc.RTPSender         // the microphone's sender, after the first offer
	remoteSet bool                      // a remote description is set
	pending   []webrtc.ICECandidateInit // server candidates received before it
}

// readLoop reads and handles server messages until the socket ws ends,
// then closes done.
func (b *Bot) readLoop(ws *websocket.Conn, done chan struct{}) {
	defer b.wg.Done()
	defer close(done)
	for {
		_, raw, err := ws.ReadMessage()
		if err != nil {
			if !b.sig.welcomed {
				b.welcomed <- fmt.Errorf("bots: socket ended before welcome: %w", err)
			}
			return
		}
		b.handle(raw)
	}
}

// envelope is what handle reads of every message in one pass: the type,
// and the fields of the two kinds that need no other (a batch's messages,
// an event's version). In a join storm events are most of what a bot
// reads.
type envelope struct {
	signaling.Envelope
	Messages []json.RawMessage `json:"messages"` // a batch's
	Version  uint64            `json:"version"`  // an event's
}

// handle dispatches one server message, or each message of a batch.
func (b *Bot) handle(raw []byte) {
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		b.localError("undecodable server message: " + err.Error())
		return
	}
	if env.Type == signaling.TypeBatch {
		for _, m := range env.Messages {
			b.handle(m)
		}
		return
	}
	if b.cfg.OnMessage != nil {
		b.cfg.OnMessage(env.Type, raw)
	}
	if b.cfg.Chat != nil {
		b.cfg.Chat.handle(b, env.Type, raw)
	}
	switch env.Type {
	case signaling.TypeWelcome:
		var m signaling.Welcome
		if b.decode(raw, &m) && !b.sig.welcomed {
			b.sig.welcomed = true
			b.mu.Lock()
			resuming := b.st.joined
			b.mu.Unlock()
			if resuming {
				b.welcomed <- b.resumed(&m)
				return
			}
			if err := b.useICEServers(m.ICEServers); err != nil {
				b.welcomed <- err
				return
			}
			b.mu.Lock()
			b.participantID = m.ParticipantID
			b.resumeKey = m.ResumeKey
			if m.Snapshot != nil {
				b.version = m.Snapshot.Version
			}
			b.st.joined = true
			b.st.k = m.Slots
			b.st.joinMs = ms(time.Since(b.start))
			b.mu.Unlock()
			b.welcomed <- nil
		}
	case signaling.TypeEvent:
		b.applied(env.Version, false)
	case signaling.TypeSnapshot:
		var m struct {
			Snapshot *signaling.Snapshot `json:"snapshot"`
		}
		if b.decode(raw, &m) && m.Snapshot != nil {
			b.applied(m.Snapshot.Version, true)
		}
	case signaling.TypeError:
		var m signaling.Error
		if b.decode(raw, &m) {
			b.mu.Lock()
			b.st.errors = append(b.st.errors, m.Code)
			b.mu.Unlock()
			if !b.sig.welcomed {
				b.sig.welcomed = true // Dial gives up; no second report
				b.welcomed <- &ServerError{Code: m.Code, Message: m.Message}
			}
		}
	case signaling.TypeOffer:
		var m signaling.SDP
		if b.decode(raw, &m) {
			err := b.handleOffer(&m)
			if err != nil {
				b.localError(err.Error())
			}
			if b.sig.offers == 1 {
				b.answered <- err
			}
		}
	case signaling.TypeCandidate:
		var m signaling.Candidate
		if b.decode(raw, &m) && m.Candidate != nil {
			b.addCandidate(*m.Candidate)
		}
	case signaling.TypeRedirect:
		var m signaling.Redirect
		if b.decode(raw, &m) && !b.sig.welcomed && m.URL != "" {
			b.sig.welcomed = true
			b.welcomed <- &redirectError{url: m.URL}
		}
	case signaling.TypeReplaced:
		b.mu.Lock()
		b.st.replaced = true
		b.mu.Unlock()
	case signaling.TypeSlots:
		// Never used to attribute packets (their signatures do that): the
		// loss accounting takes from them only the order in which sources
		// filled each slot (slotAccount).
		var m signaling.Slots
		if b.decode(raw, &m) {
			b.mu.Lock()
			b.st.announce(m.Slots)
			b.mu.Unlock()
		}
	}
	// pong and ok need nothing from a bot. The server never sends ping
	// (PROTOCOL.md: ping is a client request; the server's liveness probes
	// are websocket pings, which gorilla answers).
}

// useICEServers gives the PeerConnection the STUN/TURN servers of the
// welcome, before the offer starts ICE gathering. A relay-only bot needs a
// TURN server.
func (b *Bot) useICEServers(servers []signaling.ICEServer) error {
	if b.cfg.RelayOnly && len(servers) == 0 {
		return errors.New("bots: relay only, but the server offers no TURN server")
	}
	if len(servers) == 0 {
		return nil
	}
	cfg := webrtc.Configuration{ICETransportPolicy: b.policy()}
	for _, s := range servers {
		cfg.ICEServers = append(cfg.ICEServers, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	if err := b.pc.SetConfiguration(cfg); err != nil {
		return fmt.Errorf("bots: ICE servers: %w", err)
	}
	return nil
}

// policy is the bot's ICE transport policy: relay only, or any candidate.
func (b *Bot) policy() webrtc.ICETransportPolicy {
	if b.cfg.RelayOnly {
		return webrtc.ICETransportPolicyRelay
	}
	return webrtc.ICETransportPolicyAll
}

// decode unmarshals raw into v, recording a failure.
func (b *Bot) decode(raw []byte, v any) bool {
	if err := json.Unmarshal(raw, v); err != nil {
		b.localError("bad server message: " + err.Error())
		return false
	}
	return true
}

// handleOffer answers an offer. The first binds the microphone to the
// upstream m-line and starts the speaker; any later one is a
// renegotiation, counted and answered.
func (b *Bot) handleOffer(m *signaling.SDP) error {
	b.sig.offers++
	b.mu.Lock()
	switch {
	case m.ICERestart:
		b.st.iceRestarts++
	case b.sig.offers > 1:
		b.st.renegotiations++
	}
	b.slotMids = append([]string(nil), m.SlotMids...)
	b.mu.Unlock()
	if err := b.pc.SetRemoteDescription(webrtc.SessionDescription{
		Type: webrtc.SDPTypeOffer, SDP: m.SDP,
	}); err != nil {
		return fmt.Errorf("bots: set offer: %w", err)
	}
	b.sig.remoteSet = true
	for _, c := range b.sig.pending {
		b.addCandidate(c)
	}
	b.sig.pending = nil
	first := b.sig.sender == nil
	if first {
		if err := b.bindMicrophone(m.UpstreamMid); err != nil {
			return err
		}
	} else {
		b.holdCandidates() // a restart's new candidates must not overtake its answer
	}
	answer, err := b.pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("bots: create answer: %w", err)
	}
	if err := b.pc.SetLocalDescription(answer); err != nil {
		return fmt.Errorf("bots: set answer: %w", err)
	}
	if err := b.sendAnswer(answer.SDP); err != nil {
		return err
	}
	if first {
		b.mu.Lock()
		b.st.answerMs = ms(time.Since(b.start))
		b.mu.Unlock()
		params := b.sig.sender.GetParameters()
		for _, h := range params.HeaderExtensions {
			if h.URI == sdp.AudioLevelURI {
				b.extID.Store(uint32(h.ID))
			}
		}
		for _, c := range params.Codecs { // the offer's, as negotiated
			if strings.EqualFold(c.MimeType, webrtc.MimeTypeOpus) && slices.Contains(strings.Split(c.SDPFmtpLine, ";"), "usedtx=1") {
				b.dtx.Store(true)
			}
		}
		b.goTracked(b.speak)
	}
	return nil
}

// bindMicrophone adds the track, which pion binds to the first audio
// transceiver without a sender that may send, and checks that it is the
// offer's upstream m-line.
func (b *Bot) bindMicrophone(upstreamMid string) error {
	s, err := b.pc.AddTrack(b.track)
	if err != nil {
		return fmt.Errorf("bots: add track: %w", err)
	}
	mid := ""
	for _, t := range b.pc.GetTransceivers() {
		if t.Sender() == s {
			mid = t.Mid()
		}
	}
	if upstreamMid == "" || mid != upstreamMid {
		return fmt.Errorf("%w: bound to mid %q, offer says upstreamMid %q", ErrUpstreamMid, mid, upstreamMid)
	}
	b.sig.sender = s
	b.goTracked(func() { drainRTCP(s.ReadRTCP) })
	return nil
}

// addCandidate adds a server candidate, or queues it until the offer is set.
func (b *Bot) addCandidate(c webrtc.ICECandidateInit) {
	if !b.sig.remoteSet {
		b.sig.pending = append(b.sig.pending, c)
		return
	}
	if err := b.pc.AddICECandidate(c); err != nil {
		b.localError("add candidate: " + err.Error())
	}
}

// sendAnswer sends an answer, then the local candidates gathered before
// it: the server never sees a candidate of ours before our first answer.
func (b *Bot) sendAnswer(sdp string) error {
	b.cand.mu.Lock()
	defer b.cand.mu.Unlock()
	if err := b.Send(signaling.SDP{
		Envelope: signaling.Envelope{Type: signaling.TypeAnswer},
		SDP:      sdp,
	}); err != nil {
		return err
	}
	b.cand.answered = true
	for _, m := range b.cand.queued {
		b.sendCandidate(m)
	}
	b.cand.queued = nil
	return nil
}

// holdCandidates queues local candidates again until the next answer is
// sent.
func (b *Bot) holdCandidates() {
	b.cand.mu.Lock()
	defer b.cand.mu.Unlock()
	b.cand.answered = false
}

// onICECandidate trickles a local candidate (nil: gathering complete),
// or queues it until the first answer is sent.
func (b *Bot) onICECandidate(c *webrtc.ICECandidate) {
	msg := signaling.Candidate{Envelope: signaling.Envelope{Type: signaling.TypeCandidate}}
	if c != nil {
		init := c.ToJSON()
		msg.Candidate = &init
	}
	b.cand.mu.Lock()
	defer b.cand.mu.Unlock()
	if !b.cand.answered {
		b.cand.queued = append(b.cand.queued, msg)
		return
	}
	b.sendCandidate(msg)
}

// sendCandidate sends one candidate message; a failure while closing is
// expected and not recorded.
func (b *Bot) sendCandidate(m signaling.Candidate) {
	if err := b.Send(m); err != nil {
		select {
		case <-b.closing:
		default:
			b.localError(err.Error())
		}
	}
}

// onICEState records when ICE first connected.
func (b *Bot) onICEState(s webrtc.ICEConnectionState) {
	if s != webrtc.ICEConnectionStateConnected {
		return
	}
	b.mu.Lock()
	if b.st.iceMs == 0 {
		b.st.iceMs = ms(time.Since(b.start))
	}
	b.mu.Unlock()
}

// onConnectionState records connected and failed.
func (b *Bot) onConnectionState(s webrtc.PeerConnectionState) {
	switch s {
	case webrtc.PeerConnectionStateConnected:
		b.connectOnce.Do(func() {
			b.mu.Lock()
			b.st.connected = true
			if b.st.connectMs == 0 { // the first packet may have set it already
				b.st.connectMs = ms(time.Since(b.start))
			}
			b.mu.Unlock()
			close(b.connected)
			b.goTracked(b.sendReports)
		})
	case webrtc.PeerConnectionStateFailed:
		b.failOnce.Do(func() { close(b.failed) })
	}
}

// localError records a failure seen by the bot itself.
func (b *Bot) localError(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.st.localErrors) < maxLocalErrors {
		b.st.localErrors = append(b.st.localErrors, s)
	}
}

// maxLocalErrors bounds Stats.LocalErrors.
const maxLocalErrors = 20

// drainRTCP reads RTCP until the reader fails, so interceptors see it.
func drainRTCP(read func() ([]rtcp.Packet, interceptor.Attributes, error)) {
	for {
		if _, _, err := read(); err != nil {
			return
		}
	}
}
