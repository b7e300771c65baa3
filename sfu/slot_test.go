package sfu

import (
	"errors"
	"testing"

	"github.com/pion/rtp"
)

// writeResult is what the fake writer answers to one write.
type writeResult int

const (
	written  writeResult = iota // sent: the payload's length
	notReady                    // pion before SRTP is up: 0 bytes, no error
	failed                      // an error
)

// scriptedWriter is a fake rtpWriter that answers each write as scripted
// and records the headers of the packets it sent.
type scriptedWriter struct {
	next writeResult
	sent []rtp.Header
}

func (w *scriptedWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	switch w.next {
	case notReady:
		return 0, nil
	case failed:
		return 0, errors.New("write failed")
	}
	w.sent = append(w.sent, *h)
	return len(payload), nil
}

// slotStep is one packet offered to a slot and what must reach the wire.
type slotStep struct {
	src    int // source index; a change switches the slot
	seq    uint16
	ts     uint32
	atMs   int64
	write  writeResult
	outSeq uint16 // when write is written
	outTS  uint32
	marker bool
}

// A slot's stream on the wire starts with the first packet actually sent:
// packets pion drops before the subscriber's SRTP stream is open leave no
// trace in the numbering, the marker, or the timing of the next switch.
// A failed write is a loss: its number stays used, a gap on the wire.
func TestSlotForwardCountsOnlyWhatWasSent(t *testing.T) {
	cases := []struct {
		name          string
		steps         []slotStep
		notReady, err uint64
	}{
		{"packets before SRTP is up are forgotten", []slotStep{
			{seq: 100, ts: 9600, atMs: 0, write: notReady},
			{seq: 101, ts: 10560, atMs: 20, write: notReady},
			{seq: 102, ts: 11520, atMs: 40, write: written, outSeq: 102, outTS: 11520, marker: true},
			{seq: 103, ts: 12480, atMs: 60, write: written, outSeq: 103, outTS: 12480},
		}, 2, 0},
		{"a switch whose first packet was dropped marks the next one", []slotStep{
			{seq: 10, ts: 1000, atMs: 0, write: written, outSeq: 10, outTS: 1000, marker: true},
			{seq: 11, ts: 1960, atMs: 20, write: written, outSeq: 11, outTS: 1960},
			{src: 1, seq: 500, ts: 70000, atMs: 40, write: notReady},
			// 40 ms after the last packet sent: 1920 ticks.
			{src: 1, seq: 501, ts: 70960, atMs: 60, write: written, outSeq: 12, outTS: 1960 + 1920, marker: true},
			{src: 1, seq: 502, ts: 71920, atMs: 80, write: written, outSeq: 13, outTS: 1960 + 1920 + 960},
		}, 1, 0},
		{"a failed write is a loss: the gap stays", []slotStep{
			{seq: 7, ts: 0, atMs: 0, write: written, outSeq: 7, outTS: 0, marker: true},
			{seq: 8, ts: 960, atMs: 20, write: failed},
			{seq: 9, ts: 1920, atMs: 40, write: written, outSeq: 9, outTS: 1920},
		}, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srcs := []*source{{id: "a"}, {id: "b"}}
			var w scriptedWriter
			s := &slot{w: &w, ready: true}
			var c counters
			cur := -1
			for i, st := range tc.steps {
				if st.src != cur {
					s.setSource(srcs[st.src])
					cur = st.src
				}
				w.next = st.write
				n := len(w.sent)
				pkt := &rtp.Packet{Header: rtp.Header{SequenceNumber: st.seq, Timestamp: st.ts}, Payload: []byte{1}}
				sent := s.forward(srcs[st.src], pkt, st.atMs*1_000_000, &c, new([]byte))
				if sent != (st.write == written) || len(w.sent) != n+btoi(sent) {
					t.Fatalf("step %d: forward reported %v, writer sent %d packets", i, sent, len(w.sent)-n)
				}
				if !sent {
					continue
				}
				h := w.sent[n]
				if h.SequenceNumber != st.outSeq || h.Timestamp != st.outTS || h.Marker != st.marker {
					t.Fatalf("step %d: sent seq %d ts %d marker %v, want seq %d ts %d marker %v",
						i, h.SequenceNumber, h.Timestamp, h.Marker, st.outSeq, st.outTS, st.marker)
				}
			}
			if got := c.snapshot(); got.NotReadyDrops != tc.notReady || got.WriteErrors != tc.err {
				t.Fatalf("not-ready drops %d, write errors %d; want %d, %d",
					got.NotReadyDrops, got.WriteErrors, tc.notReady, tc.err)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
