package sfu

import (
	"testing"

	"github.com/pion/rtp"
)

// discardWriter is a fake rtpWriter: it stands in for pion's SRTP stream so
// the benchmark measures the SFU's own per-packet work (routing, rewriting)
// apart from encryption and the send syscall, which `make bench` measures
// end to end with real peers.
type discardWriter struct{ packets, bytes int }

func (w *discardWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	w.packets++
	w.bytes += len(payload)
	return len(payload), nil
}

// BenchmarkFanout100 forwards one packet from one source to 100 slots:
// source lookup, per-slot lock, munger and header rewrite, write.
func BenchmarkFanout100(b *testing.B) {
	src := &source{id: "speaker"}
	var w discardWriter
	slots := make([]*slot, 100)
	for i := range slots {
		s := &slot{index: i, w: &w, ready: true, hdr: rtp.Header{Version: 2, SSRC: uint32(1000 + i), PayloadType: 111}}
		s.setSource(src)
		slots[i] = s
	}
	src.slots.Store(&slots)
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SSRC: 42}, Payload: make([]byte, 67)}
	var c counters
	var buf []byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		pkt.SequenceNumber++
		pkt.Timestamp += 960
		for _, s := range *src.slots.Load() {
			s.forward(src, pkt, int64(i)*20_000_000, &c, &buf)
		}
	}
	b.StopTimer()
	if w.packets != 100*b.N {
		b.Fatalf("wrote %d packets, want %d", w.packets, 100*b.N)
	}
}
