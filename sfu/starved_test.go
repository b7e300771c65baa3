package sfu

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/transport/v5/test"
	"github.com/pion/webrtc/v4"
)

// deafNet is a client's network whose UDP sockets drop the first `deaf`
// STUN binding requests they receive, as a client too starved for CPU to
// answer checks for a while (a browser on a loaded machine) does. Its own
// checks, and every response, go through.
type deafNet struct {
	transport.Net
	deaf    int64
	dropped atomic.Int64
}

func (n *deafNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	return &deafConn{UDPConn: c, n: n}, nil
}

// deafConn is one socket of a deafNet. It has no ReadFromAddrPort: pion
// then reads through ReadFrom.
type deafConn struct {
	transport.UDPConn
	n *deafNet
}

func (c *deafConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, from, err := c.UDPConn.ReadFrom(p)
		if err != nil || !isSTUN(p[:n]) {
			return n, from, err
		}
		m := &stun.Message{Raw: append([]byte(nil), p[:n]...)}
		if m.Decode() == nil && m.Type == stun.BindingRequest && c.n.dropped.Add(1) <= c.n.deaf {
			continue
		}
		return n, from, err
	}
}

// TestStarvedClientConnects joins a client that, like a browser, signals
// no candidate (the server learns its address from its first check) and
// leaves the server's first checks unanswered for longer than pion's
// default limit of unanswered checks per pair (7) while it keeps checking
// itself. The server must keep checking the pair and connect once the
// client answers, not give the pair up and fail ICE 30 s later.
func TestStarvedClientConnects(t *testing.T) {
	lim := test.TimeOut(90 * time.Second)
	defer lim.Stop()
	defer test.CheckRoutines(t)()

	e, err := NewEngine(Config{LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = e.Close() }()
	r := e.NewRouter(1)
	defer r.Close()
	p, err := r.AddPeer("a", PeerHandlers{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Close() }()
	if _, err := p.Offer(); err != nil {
		t.Fatal(err)
	}
	<-webrtc.GatheringCompletePromise(p.pc)

	std, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	// Deaf to 20 checks: about 4 s of the server's checks at one per
	// 200 ms, more than pion gives a pair by default.
	dn := &deafNet{Net: std, deaf: 20}
	client, err := newTestAPIWith(t, func(se *webrtc.SettingEngine) { se.SetNet(dn) }).
		NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Close() }()
	answerWithoutCandidates(t, client, p)

	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()
	waitFor(ctx, t, "both ends connected (or the server failed)", func() bool {
		if s := p.pc.ConnectionState(); s == webrtc.PeerConnectionStateFailed {
			t.Fatalf("the server gave up: PeerConnection %s after the client dropped %d checks", s, dn.dropped.Load())
		}
		return p.pc.ConnectionState() == webrtc.PeerConnectionStateConnected &&
			client.ConnectionState() == webrtc.PeerConnectionStateConnected
	})
	if n := dn.dropped.Load(); n <= dn.deaf {
		t.Fatalf("the client dropped only %d checks, fewer than %d: the test did not starve it", n, dn.deaf)
	}
}
