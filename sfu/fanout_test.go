package sfu

import (
	"sync/atomic"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/transport/v5/test"
)

// countingWriter is a fake rtpWriter that counts the packets of one slot
// and the order of their sequence numbers.
type countingWriter struct {
	packets atomic.Uint64
	last    atomic.Uint32
	order   atomic.Uint64 // packets not one after the last
}

func (w *countingWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	if w.packets.Add(1) > 1 && uint16(w.last.Load())+1 != h.SequenceNumber {
		w.order.Add(1)
	}
	w.last.Store(uint32(h.SequenceNumber))
	return len(payload), nil
}

// A fan-out to many slots is shared with the other cores, reaches every
// slot exactly once, keeps each slot's packets in order, and a small one
// stays on its reader. Closing the engine stops the workers.
func TestLargeFanoutIsSharedAcrossCores(t *testing.T) {
	defer test.CheckRoutines(t)()
	e := &Engine{parallel: 3}
	e.startWorkers()
	defer e.Close()

	fan := func(n int) ([]*countingWriter, *source) {
		src := &source{id: "speaker"}
		slots := make([]*slot, n)
		ws := make([]*countingWriter, n)
		for i := range slots {
			ws[i] = &countingWriter{}
			slots[i] = &slot{index: i, w: ws[i], ready: true}
			slots[i].setSource(src)
		}
		src.slots.Store(&slots)
		return ws, src
	}
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111}, Payload: make([]byte, 67)}

	small, smallSrc := fan(2*fanoutChunk - 1)
	for range 10 {
		pkt.SequenceNumber++
		if n := e.fanout(smallSrc, pkt, 1); n != uint64(len(small)) {
			t.Fatalf("small fan-out wrote %d, want %d", n, len(small))
		}
	}
	if s := e.Stats().FanoutSplits; s != 0 {
		t.Errorf("a fan-out of %d was split %d times, want none", len(small), s)
	}

	large, largeSrc := fan(300)
	for range 10 {
		pkt.SequenceNumber++
		if n := e.fanout(largeSrc, pkt, 1); n != uint64(len(large)) {
			t.Fatalf("large fan-out wrote %d, want %d", n, len(large))
		}
	}
	// 300 slots over 3 goroutines: two chunks per packet go to workers.
	if s := e.Stats().FanoutSplits; s != 2*10 {
		t.Errorf("%d chunks forwarded by workers, want 20", s)
	}
	for i, w := range large {
		if w.packets.Load() != 10 || w.order.Load() != 0 {
			t.Fatalf("slot %d: %d packets, %d out of order; want 10 in order", i, w.packets.Load(), w.order.Load())
		}
	}
}
