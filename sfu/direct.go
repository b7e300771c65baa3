package sfu

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
)

// The direct write path: a subscriber's slots seal their packets with the
// subscriber's SRTP keys and put them on the engine's socket themselves,
// instead of passing each one through pion's write path.
//
// pion's path for one forwarded packet is the interceptor chain (the
// sender-report interceptor takes a lock per packet), the SRTP session (a
// lock, a map lookup, a new buffer), the DTLS mux endpoint, the ICE
// connection (a clock read, a channel check) and the candidate's socket:
// about half of the server's CPU per packet in the profile, beside the
// sealing and the system call that forwarding cannot do without. The
// direct path does just those two: marshal, seal (pion's srtp.Context,
// AES-GCM as negotiated), and write to the socket of the peer's ICE pair:
// the UDP mux's, into the fan-out's sendmmsg batch (batch.go); the peer's
// own UDP socket where there is no mux (dev mode, tests); or, for a client
// on ICE-TCP, one RFC 4571 frame on its connection.
//
// What pion still does: ICE (checks, consent, restarts), DTLS, and
// everything the peer receives. The reports are ours (reports.go), sealed
// and sent here too: pion's sender-report interceptor would see no packet
// of a direct slot.
//
// A peer takes the direct path when its DTLS handshake is done, if
// the server is its DTLS server (dtlsSecrets), its pair is on one of those
// sockets (routeOf), and the slot did not negotiate NACK (pion's responder
// needs the packets it sent). It keeps it for life: once a slot's packets
// were sealed here, pion's SRTP state for its SSRC would start again at
// rollover counter 0, which a receiver past a sequence-number wrap cannot
// decrypt. A pair that changes (an ICE restart) is followed.
// Until a peer's path is chosen its slots write nothing (slot.ready), so
// no packet of a slot is ever sealed by both.

// directPath seals and sends one subscriber's downstream.
type directPath struct {
	e *Engine

	mu      sync.Mutex // one writer at a time: slots of one peer forward on several goroutines
	ctx     *srtp.Context
	hdr     rtp.Header  // EncryptRTP's parse of the header; reused
	rtcpHdr rtcp.Header // EncryptRTCP's, likewise
	plain   []byte      // the marshalled packet; reused
	sealed  []byte      // the sealed packet; reused (the batch copies it)
	frame   []byte      // an ICE-TCP frame; reused (Write keeps nothing)
	to      route       // where the selected pair goes; zero: nowhere
}

var errUnroutable = errors.New("sfu: the selected candidate pair is on no socket of the engine")

// writeRTP seals h and payload and sends them. It returns the bytes put on
// the wire.
func (d *directPath) writeRTP(h *rtp.Header, payload []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.to.ok() {
		return 0, errUnroutable
	}
	n := h.MarshalSize() + len(payload)
	if cap(d.plain) < n {
		d.plain = make([]byte, n, n+64)
	}
	plain := d.plain[:n]
	hn, err := h.MarshalTo(plain)
	if err != nil {
		return 0, err
	}
	copy(plain[hn:], payload)
	sealed, err := d.ctx.EncryptRTP(d.sealed[:0], plain, &d.hdr)
	if err != nil {
		return 0, err
	}
	d.sealed = sealed
	return d.send(sealed)
}

// writeRTCP seals a compound RTCP packet (the engine's reports) and sends
// it on the same route as the peer's packets.
func (d *directPath) writeRTCP(plain []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.to.ok() {
		return errUnroutable
	}
	sealed, err := d.ctx.EncryptRTCP(d.sealed[:0], plain, &d.rtcpHdr)
	if err != nil {
		return err
	}
	d.sealed = sealed
	_, err = d.send(sealed)
	return err
}

// send puts a sealed packet on the route: into the fan-out's batch on the
// UDP mux, on the peer's own UDP socket, or as an ICE-TCP frame. d.mu held.
func (d *directPath) send(sealed []byte) (int, error) {
	if d.to.tcp != nil {
		return d.writeTCP(sealed)
	}
	return d.to.sock.WriteToAddrPort(sealed, d.to.udp)
}

// writeTCP sends one RFC 4571 frame, in one Write: the connection's writes
// (pion's STUN and RTCP on the same connection, also one Write per frame)
// never interleave. d.mu held.
func (d *directPath) writeTCP(p []byte) (int, error) {
	if len(p) > 0xffff {
		return 0, errors.New("sfu: packet too large for an ICE-TCP frame")
	}
	d.frame = binary.BigEndian.AppendUint16(d.frame[:0], uint16(len(p)))
	d.frame = append(d.frame, p...)
	if _, err := d.to.tcp.Write(d.frame); err != nil {
		return 0, err
	}
	return len(p), nil
}

// route points the path at pair (routeOf). It reports whether pair is on
// a socket of the engine.
func (d *directPath) route(pair *webrtc.ICECandidatePair) bool {
	r := d.e.routeOf(pair)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.to = r
	return r.ok()
}

// route is where a direct path sends: a UDP socket and the client's
// address, or the client's ICE-TCP connection.
type route struct {
	sock *echoConn
	udp  netip.AddrPort
	tcp  net.Conn
}

// ok reports whether the route goes anywhere.
func (r route) ok() bool { return r.sock != nil || r.tcp != nil }

// routeOf finds where the engine sends to pair's remote end: its UDP mux
// socket, a peer's own UDP socket (no mux: dev mode, tests), or an ICE-TCP
// connection from the engine's listener. The zero route when it is on none.
func (e *Engine) routeOf(pair *webrtc.ICECandidatePair) route {
	if pair == nil || pair.Local == nil || pair.Remote == nil {
		return route{}
	}
	ip, err := netip.ParseAddr(pair.Remote.Address)
	if err != nil {
		return route{}
	}
	remote := netip.AddrPortFrom(ip.Unmap(), pair.Remote.Port)
	switch pair.Local.Protocol {
	case webrtc.ICEProtocolUDP:
		if e.udpConn != nil && int(pair.Local.Port) == e.udpConn.LocalAddr().(*net.UDPAddr).Port {
			return route{sock: e.mux, udp: remote}
		}
		local, err := netip.ParseAddr(pair.Local.Address)
		if err != nil || e.net == nil {
			return route{}
		}
		if c := e.net.conn(netip.AddrPortFrom(local.Unmap(), pair.Local.Port)); c != nil {
			return route{sock: c, udp: remote}
		}
	case webrtc.ICEProtocolTCP:
		if e.tcpConns != nil {
			if c := e.tcpConns.conn(remote); c != nil {
				return route{tcp: c}
			}
		}
	}
	return route{}
}

// choosePath picks the peer's write path when its DTLS handshake is done
// (see the comment at the top of this file), then lets its slots write. It
// runs once per peer, and may run with the DTLS transport's lock held: it
// takes only the ICE transport's, the engine's and the slots' locks (a
// slot not yet ready never calls into pion).
func (p *Peer) choosePath() {
	p.pathOnce.Do(func() {
		d, why := p.newDirect()
		if p.secrets != nil {
			p.secrets.wipe()
		}
		p.r.e.addReporting(p, d != nil)
		if d != nil {
			p.direct.Store(d)
			// A pair that changed while the path was chosen is caught
			// here or by onPairChange, whichever reads it last.
			p.onPairChange()
		} else if why != nil {
			p.r.e.log.Debug("sfu: pion's write path", "peer", p.id, "why", why)
		}
		for _, s := range p.slots {
			s.mu.Lock()
			if d != nil && !s.draining.Load() {
				s.direct = d
			}
			s.ready = true
			s.mu.Unlock()
		}
	})
}

// newDirect returns the peer's direct path, or nil and why not.
func (p *Peer) newDirect() (*directPath, error) {
	e := p.r.e
	if e.cfg.NoDirectWrites || p.secrets == nil {
		return nil, nil
	}
	pair, err := p.ice.GetSelectedCandidatePair()
	if err != nil {
		return nil, err
	}
	to := e.routeOf(pair)
	if !to.ok() {
		return nil, errUnroutable
	}
	ctx, err := p.secrets.localKeys()
	if err != nil {
		return nil, err
	}
	return &directPath{e: e, ctx: ctx, to: to}, nil
}

// onPairChange follows the selected candidate pair (an ICE restart may
// change it) on a direct path. A pair on no socket of the engine cannot
// happen with the engine's own candidates; if it did, the peer's slots
// would fail their writes (counted in Stats.WriteErrors) until the next
// change.
func (p *Peer) onPairChange() {
	d := p.direct.Load()
	if d == nil {
		return
	}
	pair, err := p.ice.GetSelectedCandidatePair()
	if err != nil || pair == nil {
		return // between pairs (a restart): keep the old route until the new one is chosen
	}
	if !d.route(pair) {
		p.r.e.log.Warn("sfu: selected pair off the engine's sockets; direct writes fail", "peer", p.id,
			"local", pair.Local.String(), "remote", pair.Remote.String())
	}
}

// tcpConns is the engine's ICE-TCP listener, which keeps every connection
// it accepted by the client's address, so that a direct path can write to
// the connection pion's ICE-TCP mux reads.
type tcpConns struct {
	net.Listener
	mu    sync.Mutex
	conns map[netip.AddrPort]*trackedConn
}

func newTCPConns(ln net.Listener) *tcpConns {
	return &tcpConns{Listener: ln, conns: make(map[netip.AddrPort]*trackedConn)}
}

func (l *tcpConns) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, l: l}
	if a, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		tc.remote = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
		l.mu.Lock()
		l.conns[tc.remote] = tc
		l.mu.Unlock()
	}
	return tc, nil
}

// conn returns the open connection from remote, or nil.
func (l *tcpConns) conn(remote netip.AddrPort) net.Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c, ok := l.conns[remote]; ok {
		return c
	}
	return nil
}

// trackedConn leaves the listener's map when closed.
type trackedConn struct {
	net.Conn
	l      *tcpConns
	remote netip.AddrPort
	once   sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		if c.l.conns[c.remote] == c {
			delete(c.l.conns, c.remote)
		}
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
