package sfu

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
)

// batchSize is how many datagrams a batch holds before it is sent: one
// sendmmsg per batchSize packets of a large fan-out. maxBatchedBytes is
// the largest datagram a batch takes; a larger one is sent at once.
const (
	batchSize       = 64
	maxBatchedBytes = 1500
)

// writeBatch sends the fan-out of one packet in a few sendmmsg calls
// instead of one sendto per subscriber, on the socket every peer shares
// (the ICE UDP mux).
//
// Forwarding corks the socket around a fan-out (cork, then uncork when the
// packet went to every slot). While at least one fan-out is corked, writes
// to the socket — the fan-out's own, and any other goroutine's (RTCP, ICE)
// — are copied into the open batch, which goes out when it is full and
// when a fan-out uncorks. With no fan-out corked, a write goes out at once.
// So nothing waits longer than one fan-out, and no timer is involved: a
// packet is never held back for a batch to fill.
//
// The mutex is the one lock the packet path shares across the server: it
// guards a copy into the open batch (about 100 bytes) and is never held
// across a system call; a batch is sent after it was taken out under the
// lock, so fan-outs on several cores send in parallel. Two batches sent at
// once may reach the wire in either order; one slot's packets are a packet
// interval (20 ms) apart, far longer than a batch takes to send.
//
// pion writes through ice.AddrPortReaderWriter and hands us its own
// buffer, which it reuses once the call returns: the batch copies.
type writeBatch struct {
	conn *net.UDPConn
	raw  syscall.RawConn // conn's descriptor, for sendmmsg (batch_linux.go)

	mu    sync.Mutex
	corks int
	open  *msgBatch   // being filled; never nil
	spare []*msgBatch // sent batches, for reuse

	calls    atomic.Uint64 // sendmmsg calls made
	packets  atomic.Uint64 // datagrams sent through them
	failures atomic.Uint64 // datagrams the kernel refused
}

// newWriteBatch returns the batch of the socket conn, or an error if its
// descriptor cannot be had.
func newWriteBatch(conn *net.UDPConn) (*writeBatch, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &writeBatch{conn: conn, raw: raw, open: newMsgBatch()}, nil
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
	var out *msgBatch
	if b.open.n > 0 {
		out = b.takeLocked()
	}
	b.mu.Unlock()
	if out != nil {
		b.send(out)
	}
}

// WriteToAddrPort queues p for addr while a fan-out is corked, and sends it
// at once otherwise. A queued datagram reports success: a send that fails
// later is counted in failures (UDP gives no delivery guarantee anyway).
func (b *writeBatch) WriteToAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	b.mu.Lock()
	if b.corks == 0 || len(p) > maxBatchedBytes {
		b.mu.Unlock()
		return b.conn.WriteToUDPAddrPort(p, addr)
	}
	var out *msgBatch
	if !batchable(p, addr) {
		b.mu.Unlock()
		return b.conn.WriteToUDPAddrPort(p, addr)
	}
	if b.open.add(p, addr) {
		out = b.takeLocked()
	}
	b.mu.Unlock()
	if out != nil {
		b.send(out)
	}
	return len(p), nil
}

// takeLocked takes the open batch out, to be sent, and opens another.
func (b *writeBatch) takeLocked() *msgBatch {
	out := b.open
	if n := len(b.spare); n > 0 {
		b.open, b.spare = b.spare[n-1], b.spare[:n-1]
	} else {
		b.open = newMsgBatch()
	}
	return out
}

// send sends a taken batch, then returns it for reuse. A datagram the
// kernel refuses is skipped and counted; the rest still go.
func (b *writeBatch) send(m *msgBatch) {
	for sent := 0; sent < m.n; {
		n, err := b.sendFrom(m, sent)
		b.calls.Add(1)
		if n > 0 {
			b.packets.Add(uint64(n))
			sent += n
		}
		if err != nil {
			b.failures.Add(1)
			sent++ // the datagram at sent failed
		}
	}
	m.n = 0
	b.mu.Lock()
	b.spare = append(b.spare, m)
	b.mu.Unlock()
}
