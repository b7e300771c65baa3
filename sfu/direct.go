package sfu

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

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
// direct path does just those two: marshal and seal (AES-GCM in
// srtpseal.go, or pion's srtp.Context under AES-CM), and write to the
// socket of the peer's ICE pair:
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
	e   *Engine
	gcm *gcmKeys              // non-nil: RTP is sealed by srtpseal.go, without mu
	to  atomic.Pointer[route] // where the selected pair goes; nil: nowhere

	mu      sync.Mutex    // pion's context and the buffers below
	ctx     *srtp.Context // RTCP, and RTP under AES-CM
	hdr     rtp.Header    // EncryptRTP's parse of the header; reused
	rtcpHdr rtcp.Header   // EncryptRTCP's, likewise
	plain   []byte        // the marshalled packet; reused
	sealed  []byte        // framePrefix bytes, then the sealed packet; reused (the batch copies it)
}

// framePrefix is the room a sealed packet leaves before itself for the
// length of an RFC 4571 frame, so that a packet to an ICE-TCP client goes
// out in one Write without a copy or a lock.
const framePrefix = 2

var errUnroutable = errors.New("sfu: the selected candidate pair is on no socket of the engine")

// writeRTP seals h and payload and sends them. st is the slot's stream
// and buf its fan-out's scratch buffer, both the caller's for the call
// (the slot's lock is held). It returns the bytes put on the wire.
func (d *directPath) writeRTP(st *rtpStream, h *rtp.Header, payload []byte, buf *[]byte) (int, error) {
	to := d.to.Load()
	if to == nil {
		return 0, errUnroutable
	}
	if d.gcm == nil {
		return d.writeRTPPion(to, h, payload)
	}
	b := *buf
	if cap(b) < framePrefix {
		b = make([]byte, framePrefix, 256)
	}
	b, err := d.gcm.sealRTP(b[:framePrefix], h, payload, st)
	if err != nil {
		return 0, err
	}
	*buf = b
	return to.send(b)
}

// writeRTPPion seals with pion's context, which one goroutine at a time
// may use: RTP under the AES-CM profile.
func (d *directPath) writeRTPPion(to *route, h *rtp.Header, payload []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
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
	sealed, err := d.ctx.EncryptRTP(d.sealedBuf(n), plain, &d.hdr)
	if err != nil {
		return 0, err
	}
	return to.send(d.framed(sealed))
}

// writeRTCP seals a compound RTCP packet (the engine's reports) and sends
// it on the same route as the peer's packets.
func (d *directPath) writeRTCP(plain []byte) error {
	to := d.to.Load()
	if to == nil {
		return errUnroutable
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	sealed, err := d.ctx.EncryptRTCP(d.sealedBuf(len(plain)), plain, &d.rtcpHdr)
	if err != nil {
		return err
	}
	_, err = to.send(d.framed(sealed))
	return err
}

// srtpOverhead is the most SRTP or SRTCP adds to a packet without an MKI:
// a 16-byte tag and SRTCP's 4-byte index.
const srtpOverhead = 20

// sealedBuf is the part of d.sealed after framePrefix, with room for n
// bytes sealed, for pion's EncryptRTP or EncryptRTCP, which write from the
// start of the buffer they are given. d.mu held.
func (d *directPath) sealedBuf(n int) []byte {
	if need := framePrefix + n + srtpOverhead; cap(d.sealed) < need {
		d.sealed = make([]byte, framePrefix, need+64)
	}
	return d.sealed[framePrefix:framePrefix]
}

// framed returns what pion sealed into sealedBuf with the framePrefix bytes
// before it, copying it only if pion needed a larger buffer. d.mu held.
func (d *directPath) framed(sealed []byte) []byte {
	if at := d.sealed[framePrefix : framePrefix+1]; len(sealed) > 0 && &sealed[0] == &at[0] {
		return d.sealed[:framePrefix+len(sealed)]
	}
	d.sealed = append(make([]byte, framePrefix, framePrefix+len(sealed)+64), sealed...)
	return d.sealed
}

// send puts a sealed packet, after its framePrefix bytes, on the route:
// into the fan-out's batch on the UDP mux, on the peer's own UDP socket,
// or as one RFC 4571 frame in one Write on an ICE-TCP connection (pion's
// STUN and RTCP on that connection are one Write per frame too, so frames
// never interleave). It returns the packet's bytes sent.
func (r *route) send(framed []byte) (int, error) {
	p := framed[framePrefix:]
	if r.tcp == nil {
		return r.sock.WriteToAddrPort(p, r.udp)
	}
	if len(p) > 0xffff {
		return 0, errors.New("sfu: packet too large for an ICE-TCP frame")
	}
	binary.BigEndian.PutUint16(framed, uint16(len(p)))
	if _, err := r.tcp.Write(framed); err != nil {
		return 0, err
	}
	return len(p), nil
}

// route points the path at pair (routeOf). It reports whether pair is on
// a socket of the engine.
func (d *directPath) route(pair *webrtc.ICECandidatePair) bool {
	r := d.e.routeOf(pair)
	if !r.ok() {
		d.to.Store(nil)
		return false
	}
	d.to.Store(&r)
	return true
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
	ctx, gcm, err := p.secrets.localKeys()
	if err != nil {
		return nil, err
	}
	d := &directPath{e: e, ctx: ctx, gcm: gcm}
	d.to.Store(&to)
	return d, nil
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
