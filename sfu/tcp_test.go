package sfu

import (
	"context"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pion/transport/v5/test"
	"github.com/pion/webrtc/v4"
)

// TestUnusedTCPCandidateClosed: with an ICE-TCP port, every peer gathers a
// passive TCP candidate. A peer whose ICE chose a UDP pair has it closed
// once connected (its reader goroutine ends) and still hears its room; a
// peer connected over TCP keeps it and hears its room through it.
func TestUnusedTCPCandidateClosed(t *testing.T) {
	lim := test.TimeOut(60 * time.Second)
	defer lim.Stop()
	defer test.CheckRoutines(t)()

	_, r, closeRouter := newTestRouter(t, Config{LoopbackOnly: true, UDPPort: freeUDPPort(t), TCPPort: freeTCPPort(t)}, 1)
	defer closeRouter()

	connected := func(ch chan struct{}) PeerHandlers {
		return PeerHandlers{OnState: func(s webrtc.PeerConnectionState) {
			if s == webrtc.PeerConnectionStateConnected {
				close(ch)
			}
		}}
	}
	udpUp, tcpUp, speakerUp := make(chan struct{}), make(chan struct{}), make(chan struct{})
	udpAPI := newTestAPI(t)
	tcpAPI := newTestAPIWith(t, func(se *webrtc.SettingEngine) {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	})
	speaker, speakerPeer := connectWith(t, udpAPI, r, "speaker", 's', connected(speakerUp))
	defer speaker.close()
	overUDP, udpPeer := connectWith(t, udpAPI, r, "udp", 'u', connected(udpUp))
	defer overUDP.close()
	overTCP, tcpPeer := connectWith(t, tcpAPI, r, "tcp", 't', connected(tcpUp))
	defer overTCP.close()
	r.SetRouting(1, Routing{
		Hear:  map[string]string{"udp": "g", "tcp": "g"},
		Speak: map[string]string{"speaker": "g"},
	})

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	for _, up := range []chan struct{}{speakerUp, udpUp, tcpUp} {
		select {
		case <-up:
		case <-ctx.Done():
			t.Fatal("a peer never connected")
		}
	}
	// closeUnusedTCP runs after OnState.
	waitFor(ctx, t, "every peer's TCP candidate checked", func() bool {
		return speakerPeer.tcpChecked.Load() == 1 && udpPeer.tcpChecked.Load() == 1 && tcpPeer.tcpChecked.Load() == 1
	})
	for _, c := range []struct {
		p    *Peer
		want uint64
	}{{speakerPeer, 1}, {udpPeer, 1}, {tcpPeer, 0}} {
		if got := c.p.tcpClosed.Load(); got != c.want {
			t.Errorf("%s: TCP candidate closed %d times, want %d", c.p.ID(), got, c.want)
		}
	}
	if pair, err := tcpPeer.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair(); err != nil || pair == nil ||
		pair.Local.Protocol != webrtc.ICEProtocolTCP {
		t.Fatalf("the TCP-only peer's selected pair is %v (%v), want TCP", pair, err)
	}
	// Only the server reads passive TCP candidates: one reader is left,
	// the TCP peer's.
	waitFor(ctx, t, "one passive TCP candidate left reading", func() bool {
		return goroutinesIn("(*tcpPacketConn).readFromContext") == 1
	})

	speaker.speak(20)
	waitFor(ctx, t, "both listeners hear 20 packets", func() bool {
		return overUDP.count('s') >= 20 && overTCP.count('s') >= 20
	})
}

// goroutinesIn counts the goroutines with fn in their stack.
func goroutinesIn(fn string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), fn)
		}
		buf = make([]byte, 2*len(buf))
	}
}

func freeTCPPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
