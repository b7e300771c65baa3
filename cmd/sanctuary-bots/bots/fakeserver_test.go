package bots

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// fakeServer speaks the bots' side of the signaling protocol with pion, as
// the real server does: welcome, one offer (one recvonly upstream m-line and
// K sendonly slots), trickle ICE both ways. It forwards each peer's upstream
// packets into a slot of every other peer, first come first served, with
// sequence numbers and timestamps passed through: no rooms, no levels, no
// munger; enough to test the bots without the server.
type fakeServer struct {
	tb        testing.TB
	api       *webrtc.API
	k         int
	hs        *httptest.Server
	forwarded atomic.Uint64 // packets written to slots; served on /metrics

	// lieUpstream makes offers name slot 0 as the upstream mid.
	lieUpstream bool

	mu     sync.Mutex // guards everything below and slot assignments
	closed bool
	nextID int
	peers  map[string]*fakePeer
	wg     sync.WaitGroup
}

// fakePeer is one connection of the fake server.
type fakePeer struct {
	s       *fakeServer
	id      string
	ws      *websocket.Conn
	wmu     sync.Mutex
	pc      *webrtc.PeerConnection
	slots   []*webrtc.TrackLocalStaticRTP
	sources []*fakePeer // slot i's source, nil when free; guarded by s.mu
	upMid   string
	mids    []string
	answers atomic.Int32
	pongs   chan string
	level   atomic.Int32  // audio-level byte of its latest upstream packet; -1: none
	markers atomic.Int32  // upstream packets with the marker bit
	tsJump  atomic.Uint32 // largest timestamp step between consecutive upstream packets

	remoteSet bool // read loop only
	pending   []webrtc.ICECandidateInit
}

func newFakeServer(tb testing.TB, api *webrtc.API, k int) *fakeServer {
	tb.Helper()
	s := &fakeServer{tb: tb, api: api, k: k, peers: map[string]*fakePeer{}}
	s.hs = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

func (s *fakeServer) wsURL() string      { return "ws" + strings.TrimPrefix(s.hs.URL, "http") + "/ws" }
func (s *fakeServer) metricsURL() string { return s.hs.URL + "/metrics" }

// peer returns the connection of a participant id.
func (s *fakeServer) peer(id string) *fakePeer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peers[id]
}

// goTracked runs f in a goroutine Close waits for, unless closed.
func (s *fakeServer) goTracked(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); f() }()
}

// Close ends every connection and waits for every goroutine.
func (s *fakeServer) Close() {
	s.mu.Lock()
	s.closed = true
	peers := make([]*fakePeer, 0, len(s.peers))
	for _, p := range s.peers {
		peers = append(peers, p)
	}
	s.mu.Unlock()
	for _, p := range peers {
		_ = p.ws.Close()
		_ = p.pc.GracefulClose()
	}
	s.wg.Wait()
	s.hs.Close()
}

func (s *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/metrics" {
		fmt.Fprintf(w, "# TYPE sanctuary_rtp_packets_forwarded_total counter\n"+
			"sanctuary_rtp_packets_forwarded_total{node=\"a\"} %d\n", s.forwarded.Load())
		return
	}
	ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		return
	}
	var join signaling.Join
	if err := ws.ReadJSON(&join); err != nil || join.Type != signaling.TypeJoin || join.Token == "bad" {
		_ = ws.WriteJSON(signaling.Error{Envelope: signaling.Envelope{Type: signaling.TypeError, ID: join.ID},
			Code: signaling.CodeTokenInvalid, Message: "bad token"})
		_ = ws.Close()
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ws.Close()
		return
	}
	s.nextID++
	p := &fakePeer{s: s, id: fmt.Sprintf("p%d", s.nextID), ws: ws, pongs: make(chan string, 4),
		sources: make([]*fakePeer, s.k)}
	p.level.Store(-1)
	s.peers[p.id] = p
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	p.send(signaling.Welcome{Envelope: signaling.Envelope{Type: signaling.TypeWelcome, ID: join.ID},
		Protocol: signaling.ProtocolVersion, ParticipantID: p.id, Slots: s.k})
	if err := p.setup(); err != nil {
		s.tb.Errorf("fake server: %v", err)
		_ = ws.Close()
		return
	}
	p.offer()
	p.readLoop()
}

func (p *fakePeer) send(v any) {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_ = p.ws.WriteJSON(v)
}

// setup builds the PeerConnection: upstream first, then the K slots.
func (p *fakePeer) setup() error {
	s := p.s
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	p.pc = pc
	up, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	if err != nil {
		return err
	}
	var txs []*webrtc.RTPTransceiver
	for i := range s.k {
		tr, err := webrtc.NewTrackLocalStaticRTP(opusCapability(), fmt.Sprintf("slot%d", i), "sfu")
		if err != nil {
			return err
		}
		tx, err := pc.AddTransceiverFromTrack(tr,
			webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return err
		}
		p.slots = append(p.slots, tr)
		txs = append(txs, tx)
		s.goTracked(func() { drainRTCP(tx.Sender().ReadRTCP) })
	}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		m := signaling.Candidate{Envelope: signaling.Envelope{Type: signaling.TypeCandidate}}
		if c != nil {
			init := c.ToJSON()
			m.Candidate = &init
		}
		p.send(m)
	})
	pc.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		s.goTracked(func() { drainRTCP(r.ReadRTCP) })
		ext := uint8(0)
		for _, h := range r.GetParameters().HeaderExtensions {
			if h.URI == sdp.AudioLevelURI {
				ext = uint8(h.ID)
			}
		}
		s.goTracked(func() { p.forward(t, ext) })
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		return err
	}
	p.upMid = up.Mid()
	for _, tx := range txs {
		p.mids = append(p.mids, tx.Mid())
	}
	return nil
}

// offer sends the current local offer (again, for a renegotiation).
func (p *fakePeer) offer() {
	up := p.upMid
	if p.s.lieUpstream {
		up = p.mids[0]
	}
	p.send(signaling.SDP{Envelope: signaling.Envelope{Type: signaling.TypeOffer},
		SDP: p.pc.LocalDescription().SDP, SlotMids: p.mids, UpstreamMid: up})
}

// renegotiate sends a fresh offer on the same PeerConnection.
func (p *fakePeer) renegotiate() error {
	o, err := p.pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	if err := p.pc.SetLocalDescription(o); err != nil {
		return err
	}
	p.offer()
	return nil
}

func (p *fakePeer) readLoop() {
	for {
		_, raw, err := p.ws.ReadMessage()
		if err != nil {
			return
		}
		var env signaling.Envelope
		_ = json.Unmarshal(raw, &env)
		switch env.Type {
		case signaling.TypeAnswer:
			var m signaling.SDP
			_ = json.Unmarshal(raw, &m)
			if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
				p.s.tb.Errorf("fake server: answer: %v", err)
			}
			p.answers.Add(1)
			p.remoteSet = true
			for _, c := range p.pending {
				_ = p.pc.AddICECandidate(c)
			}
			p.pending = nil
		case signaling.TypeCandidate:
			var m signaling.Candidate
			_ = json.Unmarshal(raw, &m)
			switch {
			case m.Candidate == nil:
			case !p.remoteSet:
				p.pending = append(p.pending, *m.Candidate)
			default:
				_ = p.pc.AddICECandidate(*m.Candidate)
			}
		case signaling.TypePong:
			select {
			case p.pongs <- env.ID:
			default:
			}
		case signaling.TypeLeave:
			return
		}
	}
}

// forward copies the peer's upstream packets into one slot of every other
// peer, assigning a free slot on the first packet.
func (p *fakePeer) forward(t *webrtc.TrackRemote, ext uint8) {
	buf := make([]byte, readBufferBytes)
	var pkt rtp.Packet
	var lastTS uint32
	s := p.s
	for first := true; ; first = false {
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		if l := pkt.GetExtension(ext); ext != 0 && len(l) == 1 {
			p.level.Store(int32(l[0]))
		}
		if pkt.Marker {
			p.markers.Add(1)
		}
		if d := pkt.Timestamp - lastTS; !first && d > p.tsJump.Load() {
			p.tsJump.Store(d)
		}
		lastTS = pkt.Timestamp
		s.mu.Lock()
		for _, q := range s.peers {
			if q == p {
				continue
			}
			slot, free := -1, -1
			for i, src := range q.sources {
				if src == p {
					slot = i
					break
				}
				if src == nil && free < 0 {
					free = i
				}
			}
			if slot < 0 && free >= 0 {
				slot = free
				q.sources[free] = p
			}
			if slot >= 0 && q.slots[slot].WriteRTP(&pkt) == nil {
				s.forwarded.Add(1)
			}
		}
		s.mu.Unlock()
	}
}
