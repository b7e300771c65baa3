package sfu

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"golang.org/x/net/ipv4"
)

// batchSize is how many datagrams a batch holds before it is sent: one
// sendmmsg per batchSize packets of a large fan-out.
const batchSize = 64

// writeBatch sends the fan-out of one packet in a few sendmmsg calls
// instead of one sendto per subscriber, on the socket every peer shares
// (the ICE UDP mux).
//
// Forwarding corks the socket around a fan-out (cork, then uncork when the
// packet went to every slot). While at least one fan-out is corked, writes
// to the socket — the fan-out's own, and any other goroutine's (RTCP, ICE)
// — are copied into the batch, which goes out when it is full and when the
// fan-out that is last to finish uncorks. With no fan-out corked, a write
// goes out at once. So nothing waits longer than one fan-out, and no timer
// is involved: a packet is never held back for a batch to fill.
//
// pion writes through ice.AddrPortReaderWriter and hands us its own
// buffer, which it reuses once the call returns: the batch copies.
type writeBatch struct {
	conn *net.UDPConn
	pc   *ipv4.PacketConn // conn, for WriteBatch (sendmmsg on Linux)

	mu    sync.Mutex
	corks int
	n     int // queued datagrams: msgs[:n]
	msgs  []ipv4.Message
	addrs []net.UDPAddr // msgs[i].Addr points at addrs[i]; reused
	bufs  [][]byte      // msgs[i].Buffers[0] is bufs[i][:len]; reused

	calls    atomic.Uint64 // sendmmsg calls made
	packets  atomic.Uint64 // datagrams sent through them
	failures atomic.Uint64 // datagrams the kernel refused
}

func newWriteBatch(conn *net.UDPConn) *writeBatch {
	b := &writeBatch{
		conn:  conn,
		pc:    ipv4.NewPacketConn(conn),
		msgs:  make([]ipv4.Message, batchSize),
		addrs: make([]net.UDPAddr, batchSize),
		bufs:  make([][]byte, batchSize),
	}
	for i := range b.msgs {
		b.addrs[i].IP = make(net.IP, 0, net.IPv6len)
		b.bufs[i] = make([]byte, 0, 1500)
		b.msgs[i].Buffers = [][]byte{nil}
		b.msgs[i].Addr = &b.addrs[i]
	}
	return b
}

// cork starts a fan-out: writes are queued until the matching uncork.
func (b *writeBatch) cork() {
	b.mu.Lock()
	b.corks++
	b.mu.Unlock()
}

// uncork ends a fan-out and sends what is queued.
func (b *writeBatch) uncork() {
	b.mu.Lock()
	b.corks--
	b.flushLocked()
	b.mu.Unlock()
}

// WriteToAddrPort queues p for addr while a fan-out is corked, and sends it
// at once otherwise. A queued datagram reports success: a send that fails
// later is counted in failures (UDP gives no delivery guarantee anyway).
func (b *writeBatch) WriteToAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	b.mu.Lock()
	if b.corks == 0 || len(p) > cap(b.bufs[0]) {
		b.mu.Unlock()
		return b.conn.WriteToUDPAddrPort(p, addr)
	}
	i := b.n
	b.bufs[i] = append(b.bufs[i][:0], p...)
	b.msgs[i].Buffers[0] = b.bufs[i]
	a := &b.addrs[i]
	ip := addr.Addr().Unmap()
	if ip.Is4() {
		v := ip.As4()
		a.IP = append(a.IP[:0], v[:]...)
	} else {
		v := ip.As16()
		a.IP = append(a.IP[:0], v[:]...)
	}
	a.Port = int(addr.Port())
	a.Zone = ""
	b.n++
	if b.n == len(b.msgs) {
		b.flushLocked()
	}
	b.mu.Unlock()
	return len(p), nil
}

// flushLocked sends the queued datagrams; one the kernel refuses is
// skipped and counted, the rest still go.
func (b *writeBatch) flushLocked() {
	for sent := 0; sent < b.n; {
		n, err := b.pc.WriteBatch(b.msgs[sent:b.n], 0)
		b.calls.Add(1)
		if n > 0 {
			b.packets.Add(uint64(n))
			sent += n
		}
		if err != nil {
			b.failures.Add(1)
			sent++ // the datagram at msgs[sent] failed
		}
	}
	b.n = 0
}
