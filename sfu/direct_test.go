package sfu

import (
	"context"
	"testing"
	"time"

	"github.com/pion/transport/v5/test"
	"github.com/pion/webrtc/v4"
)

// TestDirectWritePath: a listener hears a speaker through each write path
// a slot can take, and gets sender reports that agree with what it was
// sent. Direct writes go through the peers' own sockets (no mux), the UDP
// mux with its sendmmsg batch, and an ICE-TCP connection; a listener that
// negotiated NACK, and an engine with NoDirectWrites, stay on pion's path.
func TestDirectWritePath(t *testing.T) {
	lim := test.TimeOut(120 * time.Second)
	defer lim.Stop()

	tcpOnly := func(se *webrtc.SettingEngine) {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	}
	nack := []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBNACK}}
	for _, tc := range []struct {
		name     string
		cfg      func() Config
		tweak    func(*webrtc.SettingEngine) // the listener's
		fb       []webrtc.RTCPFeedback       // the listener's
		protocol webrtc.ICEProtocol          // the listener's pair
		direct   bool                        // the listener's slot writes directly
	}{
		{"own sockets", func() Config { return Config{LoopbackOnly: true} }, nil, nil, webrtc.ICEProtocolUDP, true},
		{"udp mux", func() Config { return Config{LoopbackOnly: true, UDPPort: freeUDPPort(t)} }, nil, nil, webrtc.ICEProtocolUDP, true},
		{"ice-tcp", func() Config {
			return Config{LoopbackOnly: true, UDPPort: freeUDPPort(t), TCPPort: freeTCPPort(t)}
		}, tcpOnly, nil, webrtc.ICEProtocolTCP, true},
		{"nack", func() Config { return Config{LoopbackOnly: true} }, nil, nack, webrtc.ICEProtocolUDP, false},
		{"off", func() Config { return Config{LoopbackOnly: true, NoDirectWrites: true} }, nil, nil, webrtc.ICEProtocolUDP, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer test.CheckRoutines(t)()
			cfg := tc.cfg()
			e, r, closeRouter := newTestRouter(t, cfg, 1)
			defer closeRouter()

			speaker, _ := connect(t, newTestAPI(t), r, "speaker", 's')
			defer speaker.close()
			listener, lp := connect(t, newTestAPIFeedback(t, tc.tweak, tc.fb), r, "listener", 'l')
			defer listener.close()
			r.SetRouting(1, Routing{Hear: map[string]string{"listener": "g"}, Speak: map[string]string{"speaker": "g"}})
			speaker.speak(127)

			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			waitFor(ctx, t, "100 packets heard", func() bool { return listener.count('s') >= 100 })

			s := lp.slots[0]
			if got := s.isDirect(); got != tc.direct {
				t.Errorf("slot writes directly: %v, want %v", got, tc.direct)
			}
			pair, err := lp.iceTransport().GetSelectedCandidatePair()
			if err != nil || pair == nil || pair.Local.Protocol != tc.protocol {
				t.Fatalf("listener's pair %v (%v), want %s", pair, err, tc.protocol)
			}
			wantPeers := int64(2) // the listener and the speaker
			if cfg.NoDirectWrites {
				wantPeers = 0
			}
			if got := e.Stats().DirectPeers; got != wantPeers {
				t.Errorf("DirectPeers = %d, want %d", got, wantPeers)
			}

			// A sender report whose counts agree with the packets: every
			// payload is the speaker's 3 bytes (tag, sequence number).
			s.mu.Lock()
			ssrc := s.hdr.SSRC
			s.mu.Unlock()
			waitFor(ctx, t, "a sender report", func() bool {
				sr, ok := listener.report(ssrc)
				return ok && sr.PacketCount >= 50
			})
			sr, _ := listener.report(ssrc)
			if sr.OctetCount != 3*sr.PacketCount {
				t.Errorf("sender report: %d octets in %d packets, want 3 a packet", sr.OctetCount, sr.PacketCount)
			}
			if heard := listener.count('s'); int(sr.PacketCount) > heard+100 {
				t.Errorf("sender report counts %d packets, the listener heard %d", sr.PacketCount, heard)
			}
			reports := e.Stats().ReportsSent
			if tc.direct && reports == 0 {
				t.Error("no sender report counted for a direct slot")
			}
			if cfg.NoDirectWrites && reports != 0 {
				t.Errorf("%d sender reports from the engine with NoDirectWrites, want pion's only", reports)
			}

			speaker.close()
			listener.close()
			closeRouter()
			if got := e.Stats().DirectPeers; got != 0 {
				t.Errorf("DirectPeers = %d after every peer closed", got)
			}
		})
	}
}
