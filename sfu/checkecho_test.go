package sfu

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/stun/v4"
	"github.com/pion/transport/v5/test"
	"github.com/pion/webrtc/v4"
)

// stunMsg builds a STUN message of type t with the given attributes.
func stunMsg(t *testing.T, typ stun.MessageType, setters ...stun.Setter) []byte {
	t.Helper()
	m, err := stun.Build(append([]stun.Setter{stun.TransactionID, typ}, setters...)...)
	if err != nil {
		t.Fatal(err)
	}
	return m.Raw
}

func TestCheckEchoInbound(t *testing.T) {
	a := netip.MustParseAddrPort("192.0.2.1:5000")
	b := netip.MustParseAddrPort("192.0.2.2:5000")
	t0 := time.Unix(1000, 0)

	checkOf := func(t *testing.T) []byte { // a controlled agent's check
		return stunMsg(t, stun.BindingRequest, stun.NewUsername("srv:cli"), ice.AttrControlled(7))
	}
	nextSession := func(t *testing.T) []byte { // the same address, a new PeerConnection
		return stunMsg(t, stun.BindingRequest, stun.NewUsername("srv2:cli2"), ice.AttrControlled(8))
	}
	nomination := func(t *testing.T) []byte { // a controlling agent's nomination
		return stunMsg(t, stun.BindingRequest, stun.NewUsername("srv:cli"), ice.AttrControlling(7), ice.UseCandidate())
	}
	controlling := func(t *testing.T) []byte {
		return stunMsg(t, stun.BindingRequest, stun.NewUsername("srv:cli"), ice.AttrControlling(7))
	}
	success := func(t *testing.T) []byte { return stunMsg(t, stun.BindingSuccess) }
	rtpLike := func(*testing.T) []byte { return append([]byte{0x80, 111}, make([]byte, 30)...) }
	garbage := func(*testing.T) []byte { return make([]byte, 24) } // first byte 0, no magic cookie

	type step struct {
		pkt  func(*testing.T) []byte
		from netip.AddrPort
		at   time.Duration // after t0
		echo int           // index of the earlier step whose packet must come back; -1: none
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"the peer's check comes back after our check's success", []step{
			{checkOf, a, 0, -1}, {success, a, time.Millisecond, 0}}},
		{"once: a second success brings nothing", []step{
			{checkOf, a, 0, -1}, {success, a, 1, 0}, {success, a, 2, -1}}},
		{"the latest check comes back", []step{
			{checkOf, a, 0, -1}, {checkOf, a, 50 * time.Millisecond, -1}, {success, a, 51 * time.Millisecond, 1}}},
		{"a success with no check from that address brings nothing", []step{
			{success, a, 0, -1}, {checkOf, b, 1, -1}, {success, a, 2, -1}, {success, b, 3, 1}}},
		{"a controlling peer's checks are left alone", []step{
			{controlling, a, 0, -1}, {nomination, a, 1, -1}, {success, a, 2, -1}}},
		{"not STUN, or not a STUN message: nothing", []step{
			{rtpLike, a, 0, -1}, {garbage, a, 1, -1}, {success, a, 2, -1}}},
		{"checks after the echo are not kept in the episode", []step{
			{checkOf, a, 0, -1}, {success, a, 1, 0}, {checkOf, a, time.Second, -1}, {success, a, 2 * time.Second, -1}}},
		{"a new episode after echoEpisode", []step{
			{checkOf, a, 0, -1}, {success, a, 1, 0},
			{checkOf, a, echoEpisode, -1}, {success, a, echoEpisode + 1, 2}}},
		{"a new ICE session from the same address is a new episode", []step{
			{checkOf, a, 0, -1}, {success, a, 1, 0},
			{nextSession, a, time.Second, -1}, {success, a, 2 * time.Second, 2}}},
		{"a check older than echoEpisode is not echoed", []step{
			{checkOf, a, 0, -1}, {success, a, echoEpisode, -1}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Uint64
			e := newCheckEcho(&n)
			pkts := make([][]byte, len(tc.steps))
			want := uint64(0)
			for i, s := range tc.steps {
				pkts[i] = s.pkt(t)
				got := e.inbound(pkts[i], s.from, t0.Add(s.at))
				switch {
				case s.echo < 0 && got != nil:
					t.Fatalf("step %d: echoed %x, want nothing", i, got)
				case s.echo >= 0 && !bytes.Equal(got, pkts[s.echo]):
					t.Fatalf("step %d: echoed %x, want step %d's packet", i, got, s.echo)
				case s.echo >= 0:
					want++
				}
			}
			if n.Load() != want {
				t.Errorf("echo counter %d, want %d", n.Load(), want)
			}
		})
	}
}

// TestCheckEchoKeepsACopy: the request comes back as it was read, though
// the reader's buffer was reused for the datagrams after it; and the
// checks of a session's life (consent, after the echo) allocate nothing.
func TestCheckEchoKeepsACopy(t *testing.T) {
	from := netip.MustParseAddrPort("192.0.2.1:5000")
	t0 := time.Unix(1000, 0)
	var n atomic.Uint64
	e := newCheckEcho(&n)
	check := stunMsg(t, stun.BindingRequest, stun.NewUsername("srv:cli"), ice.AttrControlled(7))
	want := bytes.Clone(check)
	buf := make([]byte, 1500)
	read := func(p []byte, at time.Duration) []byte { // as echoConn reads: into one buffer
		return e.inbound(buf[:copy(buf, p)], from, t0.Add(at))
	}
	read(check, 0)
	if got := read(stunMsg(t, stun.BindingSuccess), time.Millisecond); !bytes.Equal(got, want) {
		t.Fatalf("echoed %x, want the check as read, %x", got, want)
	}
	later := func() { read(check, time.Second) } // the echo is spent: nothing kept
	if a := testing.AllocsPerRun(100, later); a != 0 {
		t.Errorf("a check after the echo allocates %v times, want 0", a)
	}
}

func TestCheckEchoBoundsRemotes(t *testing.T) {
	var n atomic.Uint64
	e := newCheckEcho(&n)
	t0 := time.Unix(1000, 0)
	check := stunMsg(t, stun.BindingRequest, stun.NewUsername("srv:cli"), ice.AttrControlled(1))
	addr := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 9)
	}
	for i := range echoMaxRemotes {
		e.inbound(check, addr(i), t0)
	}
	e.inbound(check, addr(echoMaxRemotes), t0.Add(time.Second)) // full, none stale: not kept
	if len(e.remotes) != echoMaxRemotes {
		t.Fatalf("%d remotes kept, want the bound %d", len(e.remotes), echoMaxRemotes)
	}
	if e.inbound(stunMsg(t, stun.BindingSuccess), addr(echoMaxRemotes), t0.Add(time.Second)) != nil {
		t.Error("an address over the bound was echoed")
	}
	e.inbound(check, addr(echoMaxRemotes), t0.Add(echoEpisode)) // the others are stale now
	if len(e.remotes) != 1 {
		t.Errorf("%d remotes kept after the stale ones went, want 1", len(e.remotes))
	}
}

// TestEchoConnOrder reads through a real socket: the echo comes right
// after the success response, from the same address, and then the socket
// reads on as before.
func TestEchoConnOrder(t *testing.T) {
	srvConn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Uint64
	srv := newEchoConn(srvConn, &n)
	defer srv.Close()
	peer, err := net.DialUDP("udp4", nil, srvConn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	peerAddr := peer.LocalAddr().(*net.UDPAddr).AddrPort()

	check := stunMsg(t, stun.BindingRequest, stun.NewUsername("srv:cli"), ice.AttrControlled(3))
	success := stunMsg(t, stun.BindingSuccess)
	media := []byte{0x80, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}
	for _, p := range [][]byte{check, success, media} {
		if _, err := peer.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	_ = srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	for i, want := range [][]byte{check, success, check, media} {
		var (
			k    int
			from netip.AddrPort
		)
		if i%2 == 0 {
			k, from, err = srv.ReadFromAddrPort(buf)
		} else {
			var a net.Addr
			k, a, err = srv.ReadFrom(buf)
			if err == nil {
				from = a.(*net.UDPAddr).AddrPort()
			}
		}
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if !bytes.Equal(buf[:k], want) || from != peerAddr {
			t.Fatalf("read %d: %x from %s, want %x from %s", i, buf[:k], from, want, peerAddr)
		}
	}
	if n.Load() != 1 {
		t.Errorf("%d echoes, want 1", n.Load())
	}
}

// TestPeerReflexiveClientConnectsWithEcho joins a pion client that, like a
// browser, signals no candidate: the server learns its address from its
// first check, and the echo hands that check back after the server's own
// check succeeds.
func TestPeerReflexiveClientConnectsWithEcho(t *testing.T) {
	lim := test.TimeOut(30 * time.Second)
	defer lim.Stop()
	defer test.CheckRoutines(t)()

	for _, udpPort := range []int{0, freeUDPPort(t)} {
		e, err := NewEngine(Config{LoopbackOnly: true, UDPPort: udpPort})
		if err != nil {
			t.Fatal(err)
		}
		r := e.NewRouter(1)
		p, err := r.AddPeer("a", PeerHandlers{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Offer(); err != nil {
			t.Fatal(err)
		}
		<-webrtc.GatheringCompletePromise(p.pc)

		client, err := newTestAPI(t).NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		answerWithoutCandidates(t, client, p)

		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		waitFor(ctx, t, "both ends connected", func() bool {
			return p.pc.ConnectionState() == webrtc.PeerConnectionStateConnected &&
				client.ConnectionState() == webrtc.PeerConnectionStateConnected
		})
		cancel()
		if n := e.echoes.Load(); n == 0 {
			t.Errorf("UDP port %d: no check was echoed", udpPort)
		}
		_ = client.Close()
		_ = p.Close()
		r.Close()
		_ = e.Close()
	}
}

func freeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// answerWithoutCandidates has client answer p's offer with its candidates
// stripped from the answer: the server learns the client's address only
// from its checks (a peer-reflexive candidate), as with a browser whose
// check outruns its trickled candidates.
func answerWithoutCandidates(t *testing.T, client *webrtc.PeerConnection, p *Peer) {
	t.Helper()
	if err := client.SetRemoteDescription(*p.pc.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	answer, err := client.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-webrtc.GatheringCompletePromise(client)
	noCandidates := regexp.MustCompile(`(?m)^a=(candidate|end-of-candidates).*\r\n`).
		ReplaceAllString(client.LocalDescription().SDP, "")
	if err := p.SetAnswer(noCandidates); err != nil {
		t.Fatal(err)
	}
}

// TestInterfacesListedOncePerFreshness: one listing of the interfaces
// serves every ask within interfacesFresh, and a new one is made after it.
func TestInterfacesListedOncePerFreshness(t *testing.T) {
	var echoes atomic.Uint64
	n, err := newEchoNet(&echoes)
	if err != nil {
		t.Fatal(err)
	}
	first, err := n.current()
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		ifs, err := n.Interfaces()
		if err != nil || len(ifs) == 0 {
			t.Fatalf("interfaces: %v, %v", ifs, err)
		}
		if _, err := n.InterfaceByIndex(ifs[0].Index); err != nil {
			t.Fatal(err)
		}
		if _, err := n.InterfaceByName(ifs[0].Name); err != nil {
			t.Fatal(err)
		}
		if now, _ := n.current(); now != first {
			t.Fatal("the interfaces were listed again within interfacesFresh")
		}
	}
	n.ifMu.Lock()
	n.ifsAt = n.ifsAt.Add(-interfacesFresh)
	n.ifMu.Unlock()
	if now, err := n.current(); err != nil || now == first {
		t.Errorf("the interfaces were not listed again after interfacesFresh (%v)", err)
	}
}
