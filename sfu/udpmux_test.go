package sfu

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/transport/v5/stdnet"
)

// newTestMux serves a udpMux on a real loopback socket bound to bind
// ("127.0.0.1" or "0.0.0.0"), read by its own goroutine until the test ends.
func newTestMux(t *testing.T, bind string) (*udpMux, *net.UDPConn) {
	t.Helper()
	sock, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(bind)})
	if err != nil {
		t.Fatal(err)
	}
	n, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	m := newUDPMux(newEchoConn(sock, &atomic.Uint64{}), n, slog.New(slog.DiscardHandler))
	go m.run()
	t.Cleanup(func() {
		sock.Close()
		m.wait()
	})
	return m, sock
}

// muxClient is a remote end: its own loopback socket sending to the mux's.
type muxClient struct {
	t    *testing.T
	conn *net.UDPConn
	to   *net.UDPAddr
}

func newMuxClient(t *testing.T, sock *net.UDPConn) *muxClient {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	port := sock.LocalAddr().(*net.UDPAddr).Port
	return &muxClient{t: t, conn: c, to: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}}
}

func (c *muxClient) addr() netip.AddrPort { return c.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (c *muxClient) send(p []byte) {
	c.t.Helper()
	if _, err := c.conn.WriteToUDP(p, c.to); err != nil {
		c.t.Fatal(err)
	}
}

// check sends a STUN binding request with USERNAME user, and returns it.
func (c *muxClient) check(user string) []byte {
	c.t.Helper()
	m, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.NewUsername(user), stun.Fingerprint)
	if err != nil {
		c.t.Fatal(err)
	}
	c.send(m.Raw)
	return m.Raw
}

// rtpLike is a datagram that is not STUN (RFC 7983: first byte 128–191).
func rtpLike(seq byte) []byte { return []byte{0x80, 111, 0, seq, 0, 0, 0, 0, 1, 2, 3, 4} }

// read reads one datagram from pc, failing the test after a generous
// bound (a lost datagram, not a slow machine).
func read(t *testing.T, pc net.PacketConn) ([]byte, netip.AddrPort) {
	t.Helper()
	if err := pc.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	n, from, err := pc.(*muxEnd).ReadFromAddrPort(buf)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return buf[:n], from
}

func getConn(t *testing.T, m *udpMux, ufrag string) net.PacketConn {
	t.Helper()
	pc, err := m.GetConn(ufrag, m.sock.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	return pc
}

// A check reaches the agent its USERNAME names; other datagrams from an
// address reach an agent only once it has written there, and then the
// last agent to write there.
func TestUDPMuxRoutesByUfragThenAddress(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, sock := newTestMux(t, "127.0.0.1")
	a, b := getConn(t, m, "ua"), getConn(t, m, "ub")
	c := newMuxClient(t, sock)

	req := c.check("ua:them")
	got, from := read(t, a)
	if !bytes.Equal(got, req) || from != c.addr() {
		t.Fatalf("a read %x from %v, want the check from %v", got, from, c.addr())
	}

	c.send(rtpLike(1)) // nobody has written to c: nobody's
	waitFor(ctx, t, "the datagram counted unrouted", func() bool { return m.unrouted.Load() == 1 })

	if _, err := a.(*muxEnd).WriteToAddrPort([]byte("response"), c.addr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, _, err := c.conn.ReadFromUDP(buf); err != nil || string(buf[:n]) != "response" {
		t.Fatalf("client read %q, %v", buf[:n], err)
	}
	c.send(rtpLike(2))
	if got, _ := read(t, a); !bytes.Equal(got, rtpLike(2)) {
		t.Fatalf("a read %x, want the datagram from its address", got)
	}

	// b writes to c: c's datagrams are b's now, a's check by name still a's.
	if _, err := b.WriteTo([]byte("x"), net.UDPAddrFromAddrPort(c.addr())); err != nil {
		t.Fatal(err)
	}
	c.send(rtpLike(3))
	if got, _ := read(t, b); !bytes.Equal(got, rtpLike(3)) {
		t.Fatalf("b read %x, want the datagram from the address it took", got)
	}
	if got := m.byAddr[c.addr()]; got != b.(*muxEnd).c {
		t.Fatal("the address is not b's")
	}
	if n := len(a.(*muxEnd).c.addrs); n != 0 {
		t.Fatalf("a still lists %d addresses", n)
	}
	if m.unrouted.Load() != 1 || m.dropped.Load() != 0 {
		t.Fatalf("unrouted %d, dropped %d; want 1, 0", m.unrouted.Load(), m.dropped.Load())
	}
}

// An agent that stops reading holds at most muxQueueLimit datagrams;
// the rest are dropped and counted, and what was queued is read in order.
func TestUDPMuxQueueBounded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, sock := newTestMux(t, "127.0.0.1")
	a := getConn(t, m, "ua")
	c := newMuxClient(t, sock)
	const extra = 10
	var sent [][]byte
	for range muxQueueLimit + extra {
		sent = append(sent, c.check("ua:them"))
	}
	waitFor(ctx, t, "the overflow counted", func() bool { return m.dropped.Load() == extra })
	for i := range muxQueueLimit {
		if got, _ := read(t, a); !bytes.Equal(got, sent[i]) {
			t.Fatalf("datagram %d out of order", i)
		}
	}
	a.SetReadDeadline(time.Now())
	if _, _, err := a.ReadFrom(make([]byte, 1500)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read of an empty queue past its deadline: %v", err)
	}
}

// readWaiting reports whether a goroutine waits in muxEnd.ReadFromAddrPort.
func readWaiting() bool {
	buf := make([]byte, 1<<20)
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "[select") && strings.Contains(g, "(*muxEnd).ReadFromAddrPort") {
			return true
		}
	}
	return false
}

// A read waiting for a datagram returns when its view closes, when its
// deadline is moved to now, and when the agent is removed; the agent's
// views share its queue until the last one closes.
func TestUDPMuxCloseAndDeadlines(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, sock := newTestMux(t, "127.0.0.1")
	c := newMuxClient(t, sock)

	blocked := func(pc net.PacketConn, unblock func()) error {
		t.Helper()
		done := make(chan error, 1)
		go func() {
			_, _, err := pc.ReadFrom(make([]byte, 1500))
			done <- err
		}()
		waitFor(ctx, t, "the read to wait", readWaiting)
		unblock()
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			t.Fatal("the waiting read did not return")
			return nil
		}
	}

	a1, a2 := getConn(t, m, "ua"), getConn(t, m, "ua")
	if err := blocked(a1, func() { a1.Close() }); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("read on a closed view: %v", err)
	}
	if err := blocked(a2, func() { a2.SetReadDeadline(time.Now()) }); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past a deadline set while waiting: %v", err)
	}
	a2.SetReadDeadline(time.Time{})
	req := c.check("ua:them") // the other view still has the queue
	if got, _ := read(t, a2); !bytes.Equal(got, req) {
		t.Fatal("the open view lost the agent's datagrams")
	}
	a2.(*muxEnd).WriteToAddrPort([]byte("x"), c.addr())
	a2.Close()
	if len(m.byUfrag) != 0 || len(m.byAddr) != 0 {
		t.Fatalf("after the last view closed the mux still has %d agents, %d addresses", len(m.byUfrag), len(m.byAddr))
	}

	b := getConn(t, m, "ub")
	b.(*muxEnd).WriteToAddrPort([]byte("x"), c.addr())
	if err := blocked(b, func() { m.RemoveConnByUfrag("ub") }); !errors.Is(err, io.EOF) {
		t.Fatalf("read of a removed agent: %v", err)
	}
	if len(m.byUfrag) != 0 || len(m.byAddr) != 0 {
		t.Fatalf("after RemoveConnByUfrag the mux still has %d agents, %d addresses", len(m.byUfrag), len(m.byAddr))
	}
	if _, err := b.(*muxEnd).WriteToAddrPort([]byte("x"), c.addr()); err == nil {
		t.Fatal("a removed agent wrote")
	}
	b.Close()

	before := m.unrouted.Load()
	c.check("ua:them")
	c.send(rtpLike(1))
	waitFor(ctx, t, "both datagrams counted unrouted", func() bool { return m.unrouted.Load() == before+2 })
}

// Bound to one address, the mux gathers there; bound to every address, on
// each IPv4 address of the host's interfaces, loopback among them.
func TestUDPMuxListenAddresses(t *testing.T) {
	m, sock := newTestMux(t, "127.0.0.1")
	if got := m.GetListenAddresses(); len(got) != 1 || got[0].String() != sock.LocalAddr().String() {
		t.Fatalf("bound to loopback: %v", got)
	}
	if _, err := m.GetConn("u", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 9}); !errors.Is(err, errMuxAddress) {
		t.Fatalf("GetConn for another address: %v", err)
	}

	all, sock := newTestMux(t, "0.0.0.0")
	port := sock.LocalAddr().(*net.UDPAddr).Port
	got := all.GetListenAddresses()
	loopback := false
	for _, a := range got {
		u := a.(*net.UDPAddr)
		if u.IP.To4() == nil || u.Port != port {
			t.Fatalf("listen address %v: want IPv4 at port %d", u, port)
		}
		loopback = loopback || u.IP.Equal(net.IPv4(127, 0, 0, 1))
	}
	if !loopback {
		t.Fatalf("bound to every address, no loopback among %v", got)
	}
	if _, err := all.GetConn("u", got[0]); err != nil {
		t.Fatalf("GetConn for a listen address: %v", err)
	}
}

func TestSTUNLocalUfrag(t *testing.T) {
	build := func(setters ...stun.Setter) []byte {
		m, err := stun.Build(append([]stun.Setter{stun.TransactionID, stun.BindingRequest}, setters...)...)
		if err != nil {
			t.Fatal(err)
		}
		return m.Raw
	}
	withSoftware := build(stun.NewSoftware("abcde"), stun.NewUsername("ours:theirs")) // a padded attribute first
	for _, tc := range []struct {
		name string
		p    []byte
		want string
	}{
		{"username", build(stun.NewUsername("ours:theirs")), "ours"},
		{"after a padded attribute", withSoftware, "ours"},
		{"no colon", build(stun.NewUsername("ours")), "ours"},
		{"no username", build(stun.Fingerprint), ""},
		{"truncated", withSoftware[:len(withSoftware)-3], ""},
		{"header only", withSoftware[:20], ""},
		{"short", withSoftware[:10], ""},
	} {
		if got := string(stunLocalUfrag(&stun.Message{}, tc.p)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
