package signaling_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/pion/turn/v5"
	"github.com/pion/webrtc/v4"

	"github.com/sanctuary-sfu/sanctuary/auth"
	"github.com/sanctuary-sfu/sanctuary/cmd/sanctuary-bots/bots"
	"github.com/sanctuary-sfu/sanctuary/sfu"
	"github.com/sanctuary-sfu/sanctuary/signaling"
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
	speaker, listener := h.dialPair(ctx, "tcp", bots.Config{API: tcpOnly})
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

// dialPair joins a speaker (bot 0) and a listener (bot 1) to session, each
// configured as base says (its API, relay policy) and closed with the test.
func (h *harness) dialPair(ctx context.Context, session string, base bots.Config) (speaker, listener *bots.Bot) {
	h.t.Helper()
	dial := func(i int) *bots.Bot {
		c := base
		c.URL, c.Token = h.url, h.token(fmt.Sprintf("%s-%d", session, i), auth.RoleParticipant, session, time.Hour)
		c.Index, c.RunID, c.Speak, c.Level = i, h.runID, i == 0, 30
		b, err := bots.Dial(ctx, c)
		if err != nil {
			h.t.Fatalf("bot %d: %v", i, err)
		}
		h.t.Cleanup(func() { _ = b.Close() })
		return b
	}
	return dial(0), dial(1)
}

// turnFixture is an embedded TURN server on 127.0.0.1 and the ICE servers
// a welcome hands out for it.
type turnFixture struct {
	addr   string // host:port, UDP and TCP
	secret string
}

func startTURN(t *testing.T) *turnFixture {
	t.Helper()
	port := freePort(t)
	f := &turnFixture{addr: fmt.Sprintf("127.0.0.1:%d", port), secret: "turn-test-secret"}
	srv, err := sfu.StartTURN(sfu.TURNConfig{Port: port, ListenAddress: "127.0.0.1", RelayIP: net.IPv4(127, 0, 0, 1),
		Secret: f.secret, PeerIPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return f
}

// servers returns the welcome's ICE servers for participant pid, on the
// given transports ("udp", "tcp").
func (f *turnFixture) servers(transports ...string) func(pid string) []signaling.ICEServer {
	return func(pid string) []signaling.ICEServer {
		user, pass, err := turn.GenerateLongTermTURNRESTCredentials(f.secret, pid, time.Hour)
		if err != nil {
			panic(err)
		}
		var urls []string
		for _, tr := range transports {
			urls = append(urls, "turn:"+f.addr+"?transport="+tr)
		}
		return []signaling.ICEServer{{URLs: urls, Username: user, Credential: pass}}
	}
}

// A client behind a NAT that lets nothing but its TURN server through: bots
// whose ICE may use relay candidates only get the embedded TURN server's
// credentials in their welcome, and hear each other through it, over TURN
// on UDP and on TCP.
func TestE2ERelayThroughTURN(t *testing.T) {
	if testing.Short() {
		t.Skip("media end-to-end test")
	}
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			f := startTURN(t)
			h := newHarness(t, 3, func(c *signaling.Config) { c.ICEServers = f.servers(transport) })
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			speaker, listener := h.dialPair(ctx, "relay", bots.Config{API: h.api, RelayOnly: true})
			waitConnected(ctx, t, speaker, listener)
			eventually(ctx, t, "the listener hears the speaker through TURN", func() bool {
				return listener.Stats().ReceivedBySource[0] > 50
			})
			t.Logf("through TURN over %s: connected %.0f ms, first audio %.0f ms after dialling", transport,
				listener.Stats().ConnectMs, listener.Stats().FirstAudioMs)
			for _, b := range []*bots.Bot{speaker, listener} {
				pair, err := b.SelectedPair()
				if err != nil || pair == nil || pair.Local.Typ != webrtc.ICECandidateTypeRelay {
					t.Errorf("bot %d: media over %v (%v), want a relay candidate", b.Index(), pair, err)
				}
			}
		})
	}
}

// The embedded TURN server allocates only for valid, unexpired credentials
// of the TURN REST scheme.
func TestTURNCredentials(t *testing.T) {
	f := startTURN(t)
	good, goodPass, err := turn.GenerateLongTermTURNRESTCredentials(f.secret, "p-someone", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	expired, expiredPass, _ := turn.GenerateLongTermTURNRESTCredentials(f.secret, "p-someone", -time.Minute)
	forged, forgedPass, _ := turn.GenerateLongTermTURNRESTCredentials("another-secret", "p-someone", time.Hour)
	for _, tc := range []struct {
		name, user, pass string
		ok               bool
	}{
		{"valid", good, goodPass, true},
		{"expired", expired, expiredPass, false},
		{"signed with another secret", forged, forgedPass, false},
		{"wrong password", good, forgedPass, false},
	} {
		conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c, err := turn.NewClient(&turn.ClientConfig{TURNServerAddr: f.addr, STUNServerAddr: f.addr,
			Username: tc.user, Password: tc.pass, Realm: "sanctuary", Conn: conn})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Listen(); err != nil {
			t.Fatal(err)
		}
		relay, err := c.Allocate()
		if (err == nil) != tc.ok {
			t.Errorf("%s: allocate: %v, want ok %v", tc.name, err, tc.ok)
		}
		if relay != nil {
			_ = relay.Close()
		}
		c.Close()
		_ = conn.Close()
	}
}
