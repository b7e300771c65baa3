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
	// The slot's receiver report: sequence numbers 2..203, none lost.
	if rr, ok := b.rx[0].Block(monoNs(time.Now())); !ok || rr.SSRC != 5 || rr.LastSequenceNumber != 203 || rr.TotalLost != 0 || rr.FractionLost != 0 {
		t.Fatalf("receiver report %+v (%v), want SSRC 5, last sequence number 203, none lost", rr, ok)
	}
	// From itself, from outside the audience, from another run: foreign.
	sent := time.Now().UnixNano()
	for _, s := range []Signature{{RunID: 9, Source: 1, SentAt: sent}, {RunID: 9, Source: 3, SentAt: sent}, {RunID: 8, Source: 0, SentAt: sent}} {
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

// An audience change applies to packets by the instants they were on the
// way: a packet is expected when its source was in an audience in force at
// some instant between its sending and its arrival.
func TestAudienceHistory(t *testing.T) {
	b := &Bot{}
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	b.SetAudienceFrom([]int{1, 2}, at(0))
	b.SetAudienceFrom([]int{1, 2, 3}, at(100)) // widened while a move is in flight
	b.SetAudienceFrom([]int{3}, at(110))       // narrowed when the move was acknowledged
	a := b.audience.Load()
	ns := func(ms int) int64 { return at(ms).UnixNano() }
	for _, c := range []struct {
		src            int
		sent, received int
		want           bool
	}{
		{1, 50, 60, true},    // before the move
		{1, 105, 108, true},  // in flight during the move
		{1, 108, 115, true},  // sent before the ack, arrived after it
		{1, 111, 112, false}, // sent after the ack: a leak
		{3, 111, 112, true},  // the new room-mate
		{3, 50, 60, false},   // the new room-mate, before any routing included it
		{2, 200, 201, false}, // long after
	} {
		if got := a.expects(c.src, ns(c.sent), ns(c.received)); got != c.want {
			t.Errorf("source %d sent at %d ms, received at %d ms: expected = %v, want %v", c.src, c.sent, c.received, got, c.want)
		}
	}
}
