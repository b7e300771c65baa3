package sfu

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// Nominating on the first working check.
//
// The server offers, so its ICE agent is the controlling one: it picks the
// pair and nominates it, and its DTLS server starts only then. pion
// nominates in two places only (ice/v4 selection.go): on its own
// connectivity-check tick, every 200 ms while checking
// (controllingSelector.ContactCandidates), and when the peer's binding
// request arrives on a pair whose own check has already succeeded
// (controllingSelector.HandleBindingRequest). Not when the success response
// to its own check arrives (HandleSuccessResponse only marks the pair
// valid).
//
// A browser's first check always comes before that success: the browser's
// address is peer-reflexive to us, learnt from that very check, and pion
// checks it back only then. So pion nominates on the browser's next check
// (Chromium sends it 50–60 ms later) or on its tick, while the browser,
// its ICE connected since our answer to its first check, retransmits its
// DTLS ClientHello to a DTLS server that has not started.
//
// checkEcho closes that gap: it keeps the latest binding request each
// remote address sent while it is the controlled agent, and when the
// success response to one of our own checks arrives from that address, it
// hands that request to pion once more, right after the response. pion
// takes it for the peer's next check — a duplicate datagram, which ICE
// answers like any other (RFC 8445 §7.3) — and nominates at once, as it
// would have when the real next check came. Once per ICE session (the
// USERNAME of the checks) and remote address, within echoEpisode; it never
// invents a check the peer did not send, and it changes nothing when pion
// nominated already. One per socket.
type checkEcho struct {
	mu      sync.Mutex
	msg     stun.Message // guarded by mu; decodes each datagram, reused
	remotes map[netip.AddrPort]*echoEntry
	echoes  *atomic.Uint64 // requests handed back to pion, shared by an engine's sockets
}

type echoEntry struct {
	user   string    // USERNAME of the checks: one ICE session
	req    []byte    // the latest binding request; nil once echoed
	first  time.Time // when the session's first request from this address was kept
	echoed bool
}

const (
	// echoEpisode is how long an address is remembered after the first
	// request of an ICE session: its checks are echoed at most once in
	// this time. Joins connect in well under it; the session's consent
	// checks later are left alone.
	echoEpisode = 30 * time.Second
	// echoMaxRemotes bounds the remembered addresses; stale ones are
	// dropped when it is reached, and if none is stale new ones are not
	// kept (pion then nominates on its own, as without the echo).
	echoMaxRemotes = 4096
)

func newCheckEcho(echoes *atomic.Uint64) *checkEcho {
	return &checkEcho{remotes: map[netip.AddrPort]*echoEntry{}, echoes: echoes}
}

// isSTUN reports whether a datagram may be STUN (RFC 7983: the first byte
// of a STUN message is 0–3; RTP, RTCP and DTLS never start so).
func isSTUN(p []byte) bool {
	return len(p) >= 20 && p[0] < 4
}

// inbound looks at a datagram read from from, and returns a copy of the
// request to hand to pion right after it, or nil. It decodes p in place,
// into a message it reuses, and copies only a request it keeps: the
// consent checks of a session's life cost no garbage.
func (e *checkEcho) inbound(p []byte, from netip.AddrPort, now time.Time) []byte {
	if !isSTUN(p) {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	m := &e.msg
	m.Raw = p
	defer func() { m.Raw = nil }() // the caller's buffer is not ours to keep
	if m.Decode() != nil {
		return nil
	}
	switch m.Type {
	case stun.BindingRequest:
		// Only a controlled peer's plain checks: a nomination means the
		// peer controls, and then pion's own rules need no help.
		if !m.Contains(stun.AttrICEControlled) || m.Contains(stun.AttrUseCandidate) {
			return nil
		}
		user, ok := m.Attributes.Get(stun.AttrUsername)
		if !ok {
			return nil
		}
		e.keepLocked(from, user.Value, p, now)
	case stun.BindingSuccess:
		return e.echoLocked(from, now)
	}
	return nil
}

// keepLocked remembers req, a check from from in the ICE session user,
// unless this session's check from there was echoed already. It copies
// what it keeps: req and user are the caller's read buffer.
func (e *checkEcho) keepLocked(from netip.AddrPort, user, req []byte, now time.Time) {
	if r, ok := e.remotes[from]; ok && r.user == string(user) && now.Sub(r.first) < echoEpisode {
		if !r.echoed {
			r.req = append(r.req[:0], req...)
		}
		return
	}
	if len(e.remotes) >= echoMaxRemotes {
		for a, r := range e.remotes {
			if now.Sub(r.first) >= echoEpisode {
				delete(e.remotes, a)
			}
		}
		if len(e.remotes) >= echoMaxRemotes {
			return
		}
	}
	e.remotes[from] = &echoEntry{user: string(user), req: append([]byte(nil), req...), first: now}
}

// echoLocked hands back, once per episode, the request kept from from.
func (e *checkEcho) echoLocked(from netip.AddrPort, now time.Time) []byte {
	r, ok := e.remotes[from]
	if !ok || r.echoed || now.Sub(r.first) >= echoEpisode {
		return nil
	}
	req := r.req
	r.req, r.echoed = nil, true
	e.echoes.Add(1)
	return req
}

// echoConn is one UDP socket of the ICE agent, with a checkEcho on what it
// reads. pion reads a socket from one goroutine, through ReadFromAddrPort
// and WriteToAddrPort (ice.AddrPortReaderWriter, its allocation-free path)
// when the socket has both, as this one does; ReadFrom is covered too. The
// echo is returned by the read after the one that brought the success
// response.
type echoConn struct {
	*net.UDPConn
	e       *checkEcho
	pending atomic.Pointer[echoed]
	batch   *writeBatch // nil: every write is its own sendto

	net   *echoNet // the network that opened the socket and keeps it by local; nil for the mux socket
	local netip.AddrPort
}

type echoed struct {
	req  []byte
	from netip.AddrPort
}

func newEchoConn(c *net.UDPConn, echoes *atomic.Uint64) *echoConn {
	return &echoConn{UDPConn: c, e: newCheckEcho(echoes)}
}

// ReadFromAddrPort reads the next datagram: a pending echo first.
func (c *echoConn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	// A plain load first: an echo is pending a few times per join, and
	// the swap (a locked exchange) need not run for every media packet.
	if c.pending.Load() != nil {
		if d := c.pending.Swap(nil); d != nil {
			return copy(p, d.req), d.from, nil
		}
	}
	n, from, err := c.UDPConn.ReadFromUDPAddrPort(p)
	if err == nil && isSTUN(p[:n]) {
		if req := c.e.inbound(p[:n], from, time.Now()); req != nil {
			c.pending.Store(&echoed{req: req, from: from})
		}
	}
	return n, from, err
}

// WriteToAddrPort writes a datagram to addr, through the batch if the
// socket has one.
func (c *echoConn) WriteToAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	if c.batch != nil {
		return c.batch.WriteToAddrPort(p, addr)
	}
	return c.UDPConn.WriteToUDPAddrPort(p, addr)
}

// ReadFrom is ReadFromAddrPort with a net.Addr.
func (c *echoConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, from, err := c.ReadFromAddrPort(p)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

// echoNet is the network pion gathers on: the standard one, with each UDP
// socket it opens wrapped in an echoConn. Interfaces are listed as they
// were at most interfacesFresh ago (see current).
type echoNet struct {
	transport.Net
	echoes *atomic.Uint64

	mu    sync.Mutex
	conns map[netip.AddrPort]*echoConn // the open sockets by local address, for direct writes (direct.go)

	ifMu  sync.Mutex
	ifs   *stdnet.Net // the interfaces as listed at ifsAt; nil before the first listing
	ifsAt time.Time
}

// interfacesFresh is how long a listing of the network interfaces serves.
// pion lists them three times for every PeerConnection (its agent, and its
// server-reflexive and relay gathering), each listing a netlink dump of
// the links and of the addresses: 7 % of the server's CPU in a join storm.
// An address that comes or goes is seen within this time.
const interfacesFresh = time.Second

func newEchoNet(echoes *atomic.Uint64) (*echoNet, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	return &echoNet{Net: n, echoes: echoes, conns: make(map[netip.AddrPort]*echoConn)}, nil
}

// current returns the interfaces as listed at most interfacesFresh ago,
// listing them again when that listing is older. pion only reads what it
// is given.
func (n *echoNet) current() (*stdnet.Net, error) {
	n.ifMu.Lock()
	defer n.ifMu.Unlock()
	if n.ifs != nil && time.Since(n.ifsAt) < interfacesFresh {
		return n.ifs, nil
	}
	now, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	n.ifs, n.ifsAt = now, time.Now()
	return now, nil
}

// Interfaces lists the network interfaces (current).
func (n *echoNet) Interfaces() ([]*transport.Interface, error) {
	now, err := n.current()
	if err != nil {
		return nil, err
	}
	return now.Interfaces()
}

// InterfaceByIndex finds an interface (current).
func (n *echoNet) InterfaceByIndex(index int) (*transport.Interface, error) {
	now, err := n.current()
	if err != nil {
		return nil, err
	}
	return now.InterfaceByIndex(index)
}

// InterfaceByName finds an interface (current).
func (n *echoNet) InterfaceByName(name string) (*transport.Interface, error) {
	now, err := n.current()
	if err != nil {
		return nil, err
	}
	return now.InterfaceByName(name)
}

// ListenUDP opens a UDP socket with a checkEcho on its reads.
func (n *echoNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	u, ok := c.(*net.UDPConn)
	if !ok {
		return c, nil
	}
	ec := newEchoConn(u, n.echoes)
	if a, err := netip.ParseAddrPort(u.LocalAddr().String()); err == nil {
		ec.local, ec.net = netip.AddrPortFrom(a.Addr().Unmap(), a.Port()), n
		n.mu.Lock()
		n.conns[ec.local] = ec
		n.mu.Unlock()
	}
	return ec, nil
}

// conn returns the open socket bound to local, or nil.
func (n *echoNet) conn(local netip.AddrPort) *echoConn {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.conns[local]
}

// Close closes the socket and forgets it.
func (c *echoConn) Close() error {
	if c.net != nil {
		c.net.mu.Lock()
		if c.net.conns[c.local] == c {
			delete(c.net.conns, c.local)
		}
		c.net.mu.Unlock()
	}
	return c.UDPConn.Close()
}
