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
	"github.com/pion/webrtc/v4"

	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// misbehavingServer is a FAKE signaling server. Every other bots test runs
// against the real server (realserver_test.go); this fake exists only for
// two behaviours the real server never shows, by design, and that the bots
// must still handle:
//
//   - a second offer on the same PeerConnection, a renegotiation
//     (PROTOCOL.md: "There is never a second offer"), which a bot answers and
//     counts, since renegotiations after join are a measured figure;
//   - an offer whose upstreamMid names a slot's m-line instead of the
//     upstream one, which a bot must refuse (ErrUpstreamMid) rather than
//     send its microphone on a slot.
//
// It answers a join with a welcome and an offer made by a pion
// PeerConnection shaped like the real server's (one recvonly upstream
// m-line, then K sendonly slots), sets the answers it gets, and nothing
// more: no candidates, so media never connects; no rooms, no forwarding.
type misbehavingServer struct {
	tb  testing.TB
	api *webrtc.API
	k   int
	hs  *httptest.Server

	reoffer     bool // after the first answer, offer again on the same PeerConnection
	lieUpstream bool // name slot 0's mid as the upstream mid

	answers atomic.Int32 // answers received and set, over all connections

	mu     sync.Mutex // guards closed and conns
	closed bool
	conns  []*websocket.Conn
	wg     sync.WaitGroup // handlers: httptest does not wait for hijacked ones
}

func newMisbehavingServer(tb testing.TB, api *webrtc.API, k int, reoffer, lieUpstream bool) *misbehavingServer {
	tb.Helper()
	s := &misbehavingServer{tb: tb, api: api, k: k, reoffer: reoffer, lieUpstream: lieUpstream}
	s.hs = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

func (s *misbehavingServer) wsURL() string {
	return "ws" + strings.TrimPrefix(s.hs.URL, "http") + "/ws"
}

// Close ends every connection and waits for its handler.
func (s *misbehavingServer) Close() {
	s.mu.Lock()
	s.closed = true
	conns := s.conns
	s.mu.Unlock()
	for _, ws := range conns {
		_ = ws.Close()
	}
	s.wg.Wait()
	s.hs.Close()
}

func (s *misbehavingServer) serve(w http.ResponseWriter, r *http.Request) {
	ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ws.Close()
		return
	}
	s.conns = append(s.conns, ws)
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer ws.Close()

	var join signaling.Join
	if err := ws.ReadJSON(&join); err != nil {
		return
	}
	_ = ws.WriteJSON(signaling.Welcome{Envelope: signaling.Envelope{Type: signaling.TypeWelcome, ID: join.ID},
		Protocol: signaling.ProtocolVersion, ParticipantID: "p-fake", Slots: s.k})
	pc, err := s.offerer()
	if err != nil {
		s.tb.Errorf("misbehaving server: %v", err)
		return
	}
	defer pc.Close()
	offer := func() error {
		o, err := pc.CreateOffer(nil)
		if err == nil {
			err = pc.SetLocalDescription(o)
		}
		if err != nil {
			return err
		}
		var mids []string // in m-line order: the upstream, then the slots
		for _, t := range pc.GetTransceivers() {
			mids = append(mids, t.Mid())
		}
		up, slotMids := mids[0], mids[1:]
		if s.lieUpstream {
			up = slotMids[0]
		}
		return ws.WriteJSON(signaling.SDP{Envelope: signaling.Envelope{Type: signaling.TypeOffer},
			SDP: o.SDP, SlotMids: slotMids, UpstreamMid: up})
	}
	if err := offer(); err != nil {
		s.tb.Errorf("misbehaving server: offer: %v", err)
		return
	}
	for n := 0; ; {
		var m signaling.SDP
		_, raw, err := ws.ReadMessage()
		if err != nil {
			return
		}
		if json.Unmarshal(raw, &m) != nil || m.Type != signaling.TypeAnswer {
			continue // candidates, leave: nothing to do
		}
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
			s.tb.Errorf("misbehaving server: answer: %v", err)
			return
		}
		s.answers.Add(1)
		if n++; n == 1 && s.reoffer {
			if err := offer(); err != nil {
				s.tb.Errorf("misbehaving server: second offer: %v", err)
				return
			}
		}
	}
}

// offerer builds a PeerConnection with the real server's m-lines: the
// upstream first (recvonly), then k sendonly slots.
func (s *misbehavingServer) offerer() (*webrtc.PeerConnection, error) {
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	_, err = pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	for i := 0; i < s.k && err == nil; i++ {
		var tr *webrtc.TrackLocalStaticRTP
		tr, err = webrtc.NewTrackLocalStaticRTP(opusCapability(), fmt.Sprintf("slot%d", i), "fake")
		if err == nil {
			_, err = pc.AddTransceiverFromTrack(tr,
				webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		}
	}
	if err != nil {
		_ = pc.Close()
		return nil, err
	}
	return pc, nil
}
