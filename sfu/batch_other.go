//go:build !linux

package sfu

import "net/netip"

// msgBatch is up to batchSize datagrams with their own buffers. Without
// sendmmsg (it is Linux's), a batch goes out one datagram at a time: the
// corking still holds a fan-out together, but saves no system call.
type msgBatch struct {
	n     int
	addrs []netip.AddrPort
	bufs  [][]byte
}

func newMsgBatch() *msgBatch {
	return &msgBatch{addrs: make([]netip.AddrPort, batchSize), bufs: make([][]byte, batchSize)}
}

func batchable(p []byte, addr netip.AddrPort) bool {
	return len(p) > 0 && len(p) <= maxBatchedBytes
}

func (m *msgBatch) add(p []byte, addr netip.AddrPort) (full bool) {
	m.bufs[m.n] = append(m.bufs[m.n][:0], p...)
	m.addrs[m.n] = addr
	m.n++
	return m.n == len(m.bufs)
}

func (m *msgBatch) datagram(i int) []byte { return m.bufs[i] }

// sendFrom sends the datagram at index from; it returns 1, or 0 and why.
func (b *writeBatch) sendFrom(m *msgBatch, from int) (int, error) {
	if _, err := b.conn.WriteToUDPAddrPort(m.bufs[from], m.addrs[from]); err != nil {
		return 0, err
	}
	return 1, nil
}
