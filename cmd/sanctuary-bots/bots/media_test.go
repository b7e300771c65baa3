package bots

import (
	"testing"
	"time"

	"github.com/pion/rtp"
)

// TestReceivePathDoesNotAllocate runs what the track reader does per
// packet (unmarshal into a reused packet, parse the signature, account)
// and counts allocations.
func TestReceivePathDoesNotAllocate(t *testing.T) {
	b := &Bot{cfg: Config{Index: 1, RunID: 9}, start: time.Now()}
	b.st.receivedBySource = map[int]uint64{}
	b.st.receivedInWindow = map[int]uint64{}
	now := time.Now()
	b.SetWindow(now.Add(-time.Second), now.Add(time.Second))
	b.SetAudience([]int{0, 2})
	out := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: opusPayloadType, SequenceNumber: 1, SSRC: 5}}
	_ = out.SetExtension(1, []byte{0x8a})
	var sig Signature
	wire := make([]byte, 0, 200)
	var in rtp.Packet
	step := func() {
		sig.Counter++
		sig.RunID, sig.SentAt = 9, time.Now().UnixNano()
		out.SequenceNumber++
		out.Payload = sig.AppendOpus(out.Payload[:0])
		n, err := out.MarshalTo(wire[:cap(wire)])
		if err != nil {
			t.Fatal(err)
		}
		if err := in.Unmarshal(wire[:n]); err != nil {
			t.Fatal(err)
		}
		s, err := ParseSignature(in.Payload)
		b.account(0, &in.Header, s, err == nil, time.Now())
	}
	out.Payload = make([]byte, 0, OpusPacketBytes)
	step() // first packet: creates the map entries and the slot state; AllocsPerRun adds 1 + 200
	if n := testing.AllocsPerRun(200, step); n != 0 {
		t.Fatalf("%v allocations per received packet, want 0", n)
	}
	st := b.Stats()
	if st.ReceivedBySource[0] != 202 || st.ReceivedInWindowBySource[0] != 202 || st.SeqGaps != 0 ||
		st.Latency.Count() != 202 || st.FirstAudioMs <= 0 {
		t.Fatalf("%+v", st)
	}
	// From itself, from outside the audience, from another run: foreign.
	for _, s := range []Signature{{RunID: 9, Source: 1}, {RunID: 9, Source: 3}, {RunID: 8, Source: 0}} {
		b.account(0, &in.Header, s, true, time.Now())
	}
	b.account(0, &in.Header, Signature{}, false, time.Now())
	if st := b.Stats(); st.Foreign != 3 || st.Unrecognised != 1 {
		t.Fatalf("foreign %d unrecognised %d", st.Foreign, st.Unrecognised)
	}
}

func TestContinuity(t *testing.T) {
	var c counters
	h := func(ssrc uint32, seq uint16) *rtp.Header { return &rtp.Header{SSRC: ssrc, SequenceNumber: seq} }
	for _, x := range []*rtp.Header{
		h(1, 65534), h(1, 65535), h(1, 0), // wrap: normal
		h(1, 3),   // gap of 2
		h(1, 3),   // duplicate: backwards
		h(1, 2),   // late: backwards
		h(1, 4),   // normal (last stays 3 after late ones)
		h(2, 100), // SSRC change
		h(2, 101), // normal
	} {
		c.checkContinuity(0, x)
	}
	c.checkContinuity(2, h(7, 1)) // another slot: own state
	c.checkContinuity(-1, h(9, 1))
	if c.seqGaps != 2 || c.seqBack != 2 || c.ssrcChanges != 1 || len(c.slots) != 3 {
		t.Fatalf("gaps %d backwards %d ssrc %d slots %d", c.seqGaps, c.seqBack, c.ssrcChanges, len(c.slots))
	}
}

func TestLevelByte(t *testing.T) {
	for _, tc := range []struct {
		dBov uint32
		want byte
	}{{0, 0x80}, {20, 0x80 | 20}, {126, 0x80 | 126}, {127, 127}, {200, 127}} {
		if got := levelByte(tc.dBov); got != tc.want {
			t.Errorf("levelByte(%d) = %#x, want %#x", tc.dBov, got, tc.want)
		}
	}
}
