package sfu

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/transport/v5"
)

// udpMux serves every peer's ICE on the engine's one UDP socket (pion's
// ice.UDPMux): one goroutine reads the socket and hands each datagram to
// the agent it belongs to, known by its remote address once the agent
// has written there, and before that by the username fragment of the
// STUN check that brought it.
//
// It does what pion's UDPMuxDefault does, with less held per peer: pion
// queues every datagram in an 8 kB buffer from a pool and keeps a
// goroutine per agent waiting for its close; here a datagram waits in a
// buffer of its own size class (muxBufBytes) and a closed agent is
// forgotten by the Close that closes it. Its queue is bounded
// (muxQueueLimit), where pion's is not.
type udpMux struct {
	sock *echoConn // the engine's socket, with its check echo and write batch
	net  transport.Net
	log  *slog.Logger

	mu      sync.RWMutex
	byUfrag map[string]*muxConn         // the agents by their local username fragment
	byAddr  map[netip.AddrPort]*muxConn // and by each remote address they wrote to
	closed  bool

	dropped  atomic.Uint64 // datagrams a full (or just closed) queue refused
	unrouted atomic.Uint64 // datagrams for no agent
	done     chan struct{} // closed when the read loop has returned
}

const (
	// muxQueueLimit bounds the datagrams one agent's queue holds for its
	// reader: a burst of a few checks and a DTLS flight, never this many
	// unless the reader has stopped.
	muxQueueLimit = 64
	// muxBufBytes is the size of a pooled datagram buffer: every audio,
	// RTCP, STUN and DTLS datagram of a 1500-byte path fits. A larger one
	// gets a buffer of its own size.
	muxBufBytes = 1500
	// muxReadBytes is the read loop's one buffer: any UDP datagram.
	muxReadBytes = 64 * 1024
)

var muxBufs = sync.Pool{New: func() any { b := make([]byte, muxBufBytes); return &b }}

// newUDPMux serves sock; run reads it until it closes.
func newUDPMux(sock *echoConn, n transport.Net, log *slog.Logger) *udpMux {
	return &udpMux{
		sock:    sock,
		net:     n,
		log:     log,
		byUfrag: make(map[string]*muxConn),
		byAddr:  make(map[netip.AddrPort]*muxConn),
		done:    make(chan struct{}),
	}
}

// run reads the socket and routes each datagram until the socket is
// closed, then closes the mux.
func (m *udpMux) run() {
	defer close(m.done)
	defer m.Close()
	buf := make([]byte, muxReadBytes)
	var msg stun.Message // the checks' USERNAME, decoded in place
	for {
		n, from, err := m.sock.ReadFromAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Nothing a peer sends makes a read of an unconnected UDP
			// socket fail; a failure is the host's, and may pass.
			m.log.Warn("sfu: udp mux read", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		p := buf[:n]
		m.mu.RLock()
		c := m.byAddr[from]
		if c == nil && isSTUN(p) {
			if u := stunLocalUfrag(&msg, p); u != nil {
				c = m.byUfrag[string(u)]
			}
		}
		m.mu.RUnlock()
		if c == nil {
			m.unrouted.Add(1)
			continue
		}
		if !c.push(p, from) {
			m.dropped.Add(1)
		}
	}
}

// wait returns once run has returned.
func (m *udpMux) wait() { <-m.done }

// stunLocalUfrag returns our part of the USERNAME of the STUN message p
// (RFC 8445 §7.2.2: the receiver's username fragment, a colon, the
// sender's), or nil. It decodes p in place into m, which it reuses.
func stunLocalUfrag(m *stun.Message, p []byte) []byte {
	m.Raw = p
	defer func() { m.Raw = nil }() // p is the read loop's buffer
	if m.Decode() != nil {
		return nil
	}
	u, err := m.Get(stun.AttrUsername)
	if err != nil {
		return nil
	}
	if i := bytes.IndexByte(u, ':'); i >= 0 {
		return u[:i]
	}
	return u
}

// GetListenAddresses is where the agents gather their host candidates:
// the socket's address, or, bound to every address, each IPv4 address of
// each interface that is up, loopback included (the agents' own settings
// decide whether to use it).
func (m *udpMux) GetListenAddresses() []net.Addr {
	local, _ := m.sock.LocalAddr().(*net.UDPAddr)
	if local == nil || !local.IP.IsUnspecified() || m.net == nil {
		return []net.Addr{m.sock.LocalAddr()}
	}
	ifs, err := m.net.Interfaces()
	if err != nil {
		m.log.Warn("sfu: udp mux: list interfaces", "err", err)
		return []net.Addr{local}
	}
	var addrs []net.Addr
	seen := make(map[netip.Addr]bool)
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		ias, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, ia := range ias {
			var ip net.IP
			switch a := ia.(type) {
			case *net.IPNet:
				ip = a.IP
			case *net.IPAddr:
				ip = a.IP
			}
			ip4 := ip.To4()
			if ip4 == nil {
				continue // the socket is udp4
			}
			a, _ := netip.AddrFromSlice(ip4)
			if seen[a] {
				continue
			}
			seen[a] = true
			addrs = append(addrs, &net.UDPAddr{IP: ip4, Port: local.Port})
		}
	}
	if len(addrs) == 0 {
		return []net.Addr{local}
	}
	return addrs
}

// errMuxAddress is GetConn asked for an address the socket is not bound to.
var errMuxAddress = errors.New("sfu: udp mux: not the socket's address")

// GetConn returns an agent's view of the socket: what comes for its
// username fragment, and writes that teach the mux its remote addresses.
// An agent asks once per listen address; the views share one queue and
// the last one closed closes it.
func (m *udpMux) GetConn(ufrag string, addr net.Addr) (net.PacketConn, error) {
	local, _ := m.sock.LocalAddr().(*net.UDPAddr)
	if local != nil && !local.IP.IsUnspecified() && addr.String() != local.String() {
		return nil, errMuxAddress
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, io.ErrClosedPipe
	}
	c := m.byUfrag[ufrag]
	if c == nil {
		c = &muxConn{m: m, ufrag: ufrag, wake: make(chan struct{}, 1), gone: make(chan struct{})}
		m.byUfrag[ufrag] = c
	}
	c.refs++
	return &muxEnd{c: c, shut: make(chan struct{}), kick: make(chan struct{}, 1)}, nil
}

// RemoveConnByUfrag closes the agent's queue and forgets its addresses.
func (m *udpMux) RemoveConnByUfrag(ufrag string) {
	m.mu.Lock()
	c := m.byUfrag[ufrag]
	if c != nil {
		m.forgetLocked(c)
	}
	m.mu.Unlock()
	if c != nil {
		c.close()
	}
}

// Close closes every agent's queue; the socket stays the engine's.
func (m *udpMux) Close() error {
	m.mu.Lock()
	m.closed = true
	var cs []*muxConn
	for _, c := range m.byUfrag {
		cs = append(cs, c)
	}
	for _, c := range cs {
		m.forgetLocked(c)
	}
	m.mu.Unlock()
	for _, c := range cs {
		c.close()
	}
	return nil
}

// forgetLocked removes c from the mux's maps; m.mu is held.
func (m *udpMux) forgetLocked(c *muxConn) {
	if m.byUfrag[c.ufrag] == c {
		delete(m.byUfrag, c.ufrag)
	}
	c.mu.Lock()
	for _, a := range c.addrs {
		if m.byAddr[a] == c {
			delete(m.byAddr, a)
		}
	}
	c.addrs = nil
	c.mu.Unlock()
}

// muxConn is one agent's share of the socket: its queue of datagrams and
// the remote addresses it wrote to. Lock order: udpMux.mu, then mu.
type muxConn struct {
	m     *udpMux
	ufrag string
	refs  int // open muxEnds; udpMux.mu

	mu     sync.Mutex
	q      []muxPacket // q[head:] waits for a reader
	head   int
	addrs  []netip.AddrPort
	closed bool

	wake chan struct{} // a datagram was queued (capacity 1)
	gone chan struct{} // closed by close
}

type muxPacket struct {
	buf  *[]byte
	n    int
	from netip.AddrPort
}

// push queues a copy of p from from; false when the queue is full or closed.
func (c *muxConn) push(p []byte, from netip.AddrPort) bool {
	var buf *[]byte
	if len(p) <= muxBufBytes {
		buf = muxBufs.Get().(*[]byte)
	} else {
		b := make([]byte, len(p))
		buf = &b
	}
	n := copy(*buf, p)
	c.mu.Lock()
	if c.closed || len(c.q)-c.head >= muxQueueLimit {
		c.mu.Unlock()
		releaseMuxBuf(buf)
		return false
	}
	c.q = append(c.q, muxPacket{buf: buf, n: n, from: from})
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return true
}

// releaseMuxBuf returns a pooled datagram buffer.
func releaseMuxBuf(buf *[]byte) {
	if cap(*buf) == muxBufBytes {
		muxBufs.Put(buf)
	}
}

// pop takes the oldest queued datagram; ok is false when there is none.
// closed reports a closed queue.
func (c *muxConn) pop() (p muxPacket, ok, closed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.head == len(c.q) {
		return p, false, c.closed
	}
	p = c.q[c.head]
	c.q[c.head] = muxPacket{}
	c.head++
	if c.head == len(c.q) {
		c.q, c.head = c.q[:0], 0
	} else {
		// More waits: another reader may be asleep.
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	return p, true, false
}

// learn maps to to c, taking it from the agent that had it, the first
// time c writes there.
func (c *muxConn) learn(to netip.AddrPort) error {
	c.mu.Lock()
	known, closed := false, c.closed
	for _, a := range c.addrs {
		if a == to {
			known = true
			break
		}
	}
	c.mu.Unlock()
	if closed {
		return io.ErrClosedPipe
	}
	if known {
		return nil
	}
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if prev := m.byAddr[to]; prev != nil && prev != c {
		prev.mu.Lock()
		for i, a := range prev.addrs {
			if a == to {
				prev.addrs = append(prev.addrs[:i], prev.addrs[i+1:]...)
				break
			}
		}
		prev.mu.Unlock()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || m.byUfrag[c.ufrag] != c {
		return io.ErrClosedPipe
	}
	m.byAddr[to] = c
	c.addrs = append(c.addrs, to)
	return nil
}

// close drops what is queued and wakes every reader; idempotent.
func (c *muxConn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	for _, p := range c.q[c.head:] {
		releaseMuxBuf(p.buf)
	}
	c.q, c.head = nil, 0
	close(c.gone)
}

// muxEnd is one GetConn's view of an agent's queue: a net.PacketConn with
// pion's allocation-free ReadFromAddrPort and WriteToAddrPort.
type muxEnd struct {
	c *muxConn

	once sync.Once
	shut chan struct{} // closed by Close

	deadline atomic.Pointer[time.Time] // of reads; nil or zero: none
	kick     chan struct{}             // a new deadline (capacity 1)
}

// ReadFromAddrPort returns the next datagram of the agent's queue, waiting
// for one until the view or the queue closes or the read deadline passes.
func (e *muxEnd) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	for {
		select {
		case <-e.shut:
			return 0, netip.AddrPort{}, io.ErrClosedPipe
		default:
		}
		p, ok, closed := e.c.pop()
		if ok {
			n := copy(b, (*p.buf)[:p.n])
			releaseMuxBuf(p.buf)
			if n < p.n {
				return n, p.from, io.ErrShortBuffer
			}
			return n, p.from, nil
		}
		if closed {
			return 0, netip.AddrPort{}, io.EOF
		}
		var timer *time.Timer
		var expired <-chan time.Time
		if d := e.deadline.Load(); d != nil && !d.IsZero() {
			wait := time.Until(*d)
			if wait <= 0 {
				return 0, netip.AddrPort{}, os.ErrDeadlineExceeded
			}
			timer = time.NewTimer(wait)
			expired = timer.C
		}
		select {
		case <-e.c.wake:
		case <-e.c.gone:
		case <-e.shut:
		case <-e.kick:
		case <-expired:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// ReadFrom is ReadFromAddrPort with a net.Addr.
func (e *muxEnd) ReadFrom(b []byte) (int, net.Addr, error) {
	n, from, err := e.ReadFromAddrPort(b)
	if !from.IsValid() {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), err
}

// WriteToAddrPort sends p to to from the socket, and routes what comes
// from to to this agent from now on.
func (e *muxEnd) WriteToAddrPort(p []byte, to netip.AddrPort) (int, error) {
	select {
	case <-e.shut:
		return 0, io.ErrClosedPipe
	default:
	}
	to = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
	if err := e.c.learn(to); err != nil {
		return 0, err
	}
	return e.c.m.sock.WriteToAddrPort(p, to)
}

// WriteTo is WriteToAddrPort with a net.Addr.
func (e *muxEnd) WriteTo(p []byte, addr net.Addr) (int, error) {
	u, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, net.InvalidAddrError("not a UDP address")
	}
	return e.WriteToAddrPort(p, u.AddrPort())
}

// Close closes this view; the last view of a queue closes it.
func (e *muxEnd) Close() error {
	e.once.Do(func() {
		close(e.shut)
		c, m := e.c, e.c.m
		m.mu.Lock()
		c.refs--
		last := c.refs == 0
		if last {
			m.forgetLocked(c)
		}
		m.mu.Unlock()
		if last {
			c.close()
		}
	})
	return nil
}

// LocalAddr is the socket's address.
func (e *muxEnd) LocalAddr() net.Addr { return e.c.m.sock.LocalAddr() }

// SetDeadline sets the read deadline; writes never wait.
func (e *muxEnd) SetDeadline(t time.Time) error { return e.SetReadDeadline(t) }

// SetReadDeadline bounds reads, including one waiting now.
func (e *muxEnd) SetReadDeadline(t time.Time) error {
	e.deadline.Store(&t)
	select {
	case e.kick <- struct{}{}:
	default:
	}
	return nil
}

// SetWriteDeadline does nothing: a write to a UDP socket does not wait
// for the network.
func (e *muxEnd) SetWriteDeadline(time.Time) error { return nil }
