package sfu

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// msgBatch is up to batchSize datagrams laid out as sendmmsg(2) reads them:
// one mmsghdr each, pointing at the datagram's own iovec and address,
// built once; add fills in the bytes, the length and the address, so that
// sending is the one system call with nothing to convert (x/net's
// WriteBatch, used before, packed every message again on each call: 4 % of
// the server's CPU at 50,000 packets a second).
//
// A buffer grows to the largest datagram it held (an Opus packet is about
// 100 bytes), not to maxBatchedBytes: a server keeps as many batches as
// fan-outs ran at once, about twenty with ten speakers on one core, and
// 1,500-byte buffers made that 2 MB.
type msgBatch struct {
	n     int // queued: hdrs[:n]
	hdrs  []mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet4 // the mux socket is udp4 (batchable)
	bufs  [][]byte                // iovs[i] is bufs[i][:len]; reused
}

// mmsghdr is struct mmsghdr: one message, and the bytes the kernel sent of
// it. Go pads it to the C layout (64 bytes on 64-bit Linux).
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

func newMsgBatch() *msgBatch {
	m := &msgBatch{
		hdrs:  make([]mmsghdr, batchSize),
		iovs:  make([]unix.Iovec, batchSize),
		names: make([]unix.RawSockaddrInet4, batchSize),
		bufs:  make([][]byte, batchSize),
	}
	for i := range m.hdrs {
		h := &m.hdrs[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&m.names[i]))
		h.Namelen = unix.SizeofSockaddrInet4
		h.Iov = &m.iovs[i]
		h.SetIovlen(1)
		m.names[i].Family = unix.AF_INET
	}
	return m
}

// batchable reports whether a datagram can join a batch: one that fits,
// to an IPv4 address (the mux socket is udp4; anything else is written at
// once, and fails there as it would have).
func batchable(p []byte, addr netip.AddrPort) bool {
	return len(p) > 0 && len(p) <= maxBatchedBytes && addr.Addr().Unmap().Is4()
}

// add queues a copy of p for addr (batchable) and reports whether the
// batch is full.
func (m *msgBatch) add(p []byte, addr netip.AddrPort) (full bool) {
	i := m.n
	m.bufs[i] = append(m.bufs[i][:0], p...)
	m.iovs[i].Base = unsafe.SliceData(m.bufs[i])
	m.iovs[i].SetLen(len(p))
	sa := &m.names[i]
	sa.Addr = addr.Addr().Unmap().As4()
	port := (*[2]byte)(unsafe.Pointer(&sa.Port)) // network byte order
	port[0], port[1] = byte(addr.Port()>>8), byte(addr.Port())
	m.n++
	return m.n == len(m.hdrs)
}

// datagram returns the bytes of queued datagram i.
func (m *msgBatch) datagram(i int) []byte { return m.bufs[i][:m.iovs[i].Len] }

// sendFrom sends m's datagrams from the one at index from, in one
// sendmmsg: it returns how many the kernel took, and the error of the
// first it refused if it took none.
func (b *writeBatch) sendFrom(m *msgBatch, from int) (int, error) {
	hdrs := m.hdrs[from:m.n]
	var (
		sent  int
		errno unix.Errno
	)
	err := b.raw.Write(func(fd uintptr) bool {
		for {
			r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&hdrs[0])), uintptr(len(hdrs)), 0, 0, 0)
			switch e {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false // wait until the socket is writable
			}
			sent, errno = int(r), e
			return true
		}
	})
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, errno
	}
	return sent, nil
}
