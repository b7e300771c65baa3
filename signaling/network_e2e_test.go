package signaling_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/sanctuary-sfu/sanctuary/auth"
	"github.com/sanctuary-sfu/sanctuary/cmd/sanctuary-bots/bots"
	"github.com/sanctuary-sfu/sanctuary/sfu"
)

// freePort returns a port free for both UDP and TCP on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		if c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}); err == nil {
			_ = c.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// A client whose network lets no UDP through reaches the server over ICE
// on the one TCP port (ICE-TCP mux): a speaker and a listener whose ICE may
// use TCP only hear each other, and their selected pairs are TCP.
func TestE2EICEOverTCP(t *testing.T) {
	if testing.Short() {
		t.Skip("media end-to-end test")
	}
	tcpPort := freePort(t)
	h := newHarnessWith(t, 3, sfu.Config{LoopbackOnly: true, UDPPort: freePort(t), TCPPort: tcpPort}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tcpOnly, err := bots.NewAPI(true, webrtc.NetworkTypeTCP4)
	if err != nil {
		t.Fatal(err)
	}
	dial := func(i int, speak bool) *bots.Bot {
		b, err := bots.Dial(ctx, bots.Config{URL: h.url, Token: h.token(fmt.Sprintf("tcp-%d", i), auth.RoleParticipant, "tcp", time.Hour),
			Index: i, RunID: h.runID, Speak: speak, Level: 30, API: tcpOnly})
		if err != nil {
			t.Fatalf("bot %d: %v", i, err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
	speaker, listener := dial(0, true), dial(1, false)
	waitConnected(ctx, t, speaker, listener)
	eventually(ctx, t, "the listener hears the speaker over TCP", func() bool {
		return listener.Stats().ReceivedBySource[0] > 50
	})
	for _, b := range []*bots.Bot{speaker, listener} {
		pair, err := b.SelectedPair()
		if err != nil || pair == nil {
			t.Fatalf("bot %d: selected pair %v, %v", b.Index(), pair, err)
		}
		if pair.Local.Protocol != webrtc.ICEProtocolTCP || pair.Remote.Protocol != webrtc.ICEProtocolTCP ||
			int(pair.Remote.Port) != tcpPort {
			t.Errorf("bot %d: media over %s", b.Index(), pair)
		}
	}
}
