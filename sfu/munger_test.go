package sfu

import "testing"

// mungeStep is one packet offered to the munger and what must come out.
type mungeStep struct {
	name     string
	switched bool // call Switch before this packet
	seq      uint16
	ts       uint32
	atMs     int64
	ok       bool
	outSeq   uint16
	outTS    uint32
	marker   bool
}

func TestMunger(t *testing.T) {
	cases := []struct {
		name  string
		steps []mungeStep
	}{
		{"first packets pass unchanged", []mungeStep{
			{seq: 100, ts: 9600, atMs: 0, ok: true, outSeq: 100, outTS: 9600, marker: true},
			{seq: 101, ts: 10560, atMs: 20, ok: true, outSeq: 101, outTS: 10560},
		}},
		{"sequence wraps at 16 bits", []mungeStep{
			{seq: 65534, ts: 0, atMs: 0, ok: true, outSeq: 65534, outTS: 0, marker: true},
			{seq: 65535, ts: 960, atMs: 20, ok: true, outSeq: 65535, outTS: 960},
			{seq: 0, ts: 1920, atMs: 40, ok: true, outSeq: 0, outTS: 1920},
			{seq: 1, ts: 2880, atMs: 60, ok: true, outSeq: 1, outTS: 2880},
		}},
		{"timestamp wraps at 32 bits", []mungeStep{
			{seq: 5, ts: 4294966336, atMs: 0, ok: true, outSeq: 5, outTS: 4294966336, marker: true},
			{seq: 6, ts: 0, atMs: 20, ok: true, outSeq: 6, outTS: 0},
		}},
		{"switch continues sequence and advances time by elapsed", []mungeStep{
			{seq: 10, ts: 1000, atMs: 0, ok: true, outSeq: 10, outTS: 1000, marker: true},
			{seq: 11, ts: 1960, atMs: 20, ok: true, outSeq: 11, outTS: 1960},
			// new source with unrelated numbering, 30 ms after the last packet
			{switched: true, seq: 50000, ts: 7777777, atMs: 50, ok: true, outSeq: 12, outTS: 1960 + 30*48, marker: true},
			{seq: 50001, ts: 7777777 + 960, atMs: 70, ok: true, outSeq: 13, outTS: 1960 + 30*48 + 960},
		}},
		{"switch across both wraparounds", []mungeStep{
			{seq: 65535, ts: 4294967000, atMs: 0, ok: true, outSeq: 65535, outTS: 4294967000, marker: true},
			{switched: true, seq: 3, ts: 100, atMs: 20, ok: true, outSeq: 0, outTS: 4294967000 + 960 - 4294967296, marker: true},
			{seq: 4, ts: 1060, atMs: 40, ok: true, outSeq: 1, outTS: 664 + 960},
		}},
		{"switch to a source with lower numbers", []mungeStep{
			{seq: 30000, ts: 500000, atMs: 0, ok: true, outSeq: 30000, outTS: 500000, marker: true},
			{switched: true, seq: 7, ts: 10, atMs: 20, ok: true, outSeq: 30001, outTS: 500960, marker: true},
			{seq: 8, ts: 970, atMs: 40, ok: true, outSeq: 30002, outTS: 501920},
		}},
		{"a packet held back past the 16-bit wrap is dropped, not taken for the newest", []mungeStep{
			{seq: 1000, ts: 48000, atMs: 0, ok: true, outSeq: 1000, outTS: 48000, marker: true},
			{seq: 20000, ts: 48000 + 19000*960, atMs: 20, ok: true, outSeq: 20000, outTS: 48000 + 19000*960}, // after a loss
			{seq: 34000, ts: 48000 + 33000*960, atMs: 25, ok: true, outSeq: 34000, outTS: 48000 + 33000*960},
			// seq 999 is 33,001 behind, which 16 bits read as 32,535 ahead; its timestamp is behind
			{seq: 999, ts: 48000 - 960, atMs: 30, ok: false},
			{seq: 34001, ts: 48000 + 33001*960, atMs: 40, ok: true, outSeq: 34001, outTS: 48000 + 33001*960},
		}},
		{"switch at the same instant still moves time forward", []mungeStep{
			{seq: 1, ts: 0, atMs: 0, ok: true, outSeq: 1, outTS: 0, marker: true},
			{switched: true, seq: 900, ts: 123, atMs: 0, ok: true, outSeq: 2, outTS: 1, marker: true},
		}},
		{"pause within a source is preserved, not renumbered", []mungeStep{
			{seq: 1, ts: 0, atMs: 0, ok: true, outSeq: 1, outTS: 0, marker: true},
			// DTX: 10 packets not sent, the timestamp jumped with them
			{seq: 2, ts: 10 * 960, atMs: 200, ok: true, outSeq: 2, outTS: 9600},
			// loss: sequence gap of 3 stays a gap of 3
			{seq: 6, ts: 14 * 960, atMs: 280, ok: true, outSeq: 6, outTS: 14 * 960},
		}},
		{"gap after a switch is preserved", []mungeStep{
			{seq: 1, ts: 0, atMs: 0, ok: true, outSeq: 1, outTS: 0, marker: true},
			{switched: true, seq: 100, ts: 0, atMs: 20, ok: true, outSeq: 2, outTS: 960, marker: true},
			{seq: 103, ts: 2880, atMs: 80, ok: true, outSeq: 5, outTS: 3840},
		}},
		{"late packet from before the switch is dropped", []mungeStep{
			{seq: 1, ts: 0, atMs: 0, ok: true, outSeq: 1, outTS: 0, marker: true},
			{switched: true, seq: 100, ts: 0, atMs: 20, ok: true, outSeq: 2, outTS: 960, marker: true},
			{seq: 99, ts: 0, atMs: 21, ok: false},
			{seq: 101, ts: 960, atMs: 40, ok: true, outSeq: 3, outTS: 1920},
		}},
		{"duplicate is dropped", []mungeStep{
			{seq: 1, ts: 0, atMs: 0, ok: true, outSeq: 1, outTS: 0, marker: true},
			{seq: 2, ts: 960, atMs: 20, ok: true, outSeq: 2, outTS: 960},
			{seq: 2, ts: 960, atMs: 21, ok: false},
		}},
		{"reordered packet within a source keeps its place", []mungeStep{
			{seq: 10, ts: 0, atMs: 0, ok: true, outSeq: 10, outTS: 0, marker: true},
			{seq: 12, ts: 1920, atMs: 40, ok: true, outSeq: 12, outTS: 1920},
			{seq: 11, ts: 960, atMs: 41, ok: true, outSeq: 11, outTS: 960},
			{seq: 13, ts: 2880, atMs: 60, ok: true, outSeq: 13, outTS: 2880},
		}},
		{"duplicate of a reordered packet is dropped", []mungeStep{
			{seq: 10, ts: 0, atMs: 0, ok: true, outSeq: 10, outTS: 0, marker: true},
			{seq: 12, ts: 1920, atMs: 40, ok: true, outSeq: 12, outTS: 1920},
			{seq: 11, ts: 960, atMs: 41, ok: true, outSeq: 11, outTS: 960},
			{seq: 11, ts: 960, atMs: 42, ok: false},
			{seq: 13, ts: 2880, atMs: 60, ok: true, outSeq: 13, outTS: 2880},
		}},
		{"late packet beyond the replay window is dropped", []mungeStep{
			{seq: 1, ts: 0, atMs: 0, ok: true, outSeq: 1, outTS: 0, marker: true},
			{seq: 70, ts: 69 * 960, atMs: 20, ok: true, outSeq: 70, outTS: 69 * 960},
			{seq: 6, ts: 5 * 960, atMs: 21, ok: false},
			{seq: 7, ts: 6 * 960, atMs: 22, ok: true, outSeq: 7, outTS: 6 * 960},
		}},
		{"reordered packet does not move the switch reference", []mungeStep{
			{seq: 10, ts: 0, atMs: 0, ok: true, outSeq: 10, outTS: 0, marker: true},
			{seq: 12, ts: 1920, atMs: 40, ok: true, outSeq: 12, outTS: 1920},
			{seq: 11, ts: 960, atMs: 41, ok: true, outSeq: 11, outTS: 960},
			{switched: true, seq: 500, ts: 0, atMs: 60, ok: true, outSeq: 13, outTS: 1920 + 20*48, marker: true},
		}},
		{"switch back to an earlier source is continuous", []mungeStep{
			{seq: 10, ts: 0, atMs: 0, ok: true, outSeq: 10, outTS: 0, marker: true},
			{switched: true, seq: 700, ts: 5000, atMs: 20, ok: true, outSeq: 11, outTS: 960, marker: true},
			{switched: true, seq: 14, ts: 3840, atMs: 40, ok: true, outSeq: 12, outTS: 1920, marker: true},
			{seq: 15, ts: 4800, atMs: 60, ok: true, outSeq: 13, outTS: 2880},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var m Munger
			for i, s := range c.steps {
				if s.switched {
					m.Switch()
				}
				seq, ts, marker, ok := m.Rewrite(s.seq, s.ts, s.atMs*1_000_000)
				if ok != s.ok {
					t.Fatalf("step %d (in seq %d): ok = %v, want %v", i, s.seq, ok, s.ok)
				}
				if !ok {
					continue
				}
				if seq != s.outSeq || ts != s.outTS || marker != s.marker {
					t.Fatalf("step %d (in seq %d ts %d): got seq %d ts %d marker %v, want seq %d ts %d marker %v",
						i, s.seq, s.ts, seq, ts, marker, s.outSeq, s.outTS, s.marker)
				}
			}
		})
	}
}

// TestMungerLongRunContinuity drives many switches between sources with random
// numbering and checks the output never repeats or goes backwards.
func TestMungerLongRunContinuity(t *testing.T) {
	var m Munger
	type src struct {
		seq uint16
		ts  uint32
	}
	srcs := []src{{65000, 4294960000}, {3, 17}, {40000, 1 << 31}}
	cur, lastSeq, now := 0, uint16(0), int64(0)
	for i := range 5000 {
		if i%37 == 0 {
			cur = (cur + 1) % len(srcs)
			m.Switch()
		}
		for j := range srcs { // every source keeps producing, heard or not
			srcs[j].seq++
			srcs[j].ts += 960
		}
		now += 20_000_000
		seq, _, _, ok := m.Rewrite(srcs[cur].seq, srcs[cur].ts, now)
		if !ok {
			t.Fatalf("packet %d dropped", i)
		}
		if i > 0 && seq != lastSeq+1 {
			t.Fatalf("packet %d: seq %d after %d", i, seq, lastSeq)
		}
		lastSeq = seq
	}
}

func BenchmarkMungerRewrite(b *testing.B) {
	var m Munger
	seq, ts := uint16(0), uint32(0)
	b.ReportAllocs()
	for i := range b.N {
		if i%500 == 0 {
			m.Switch()
		}
		seq++
		ts += 960
		m.Rewrite(seq, ts, int64(i)*20_000_000)
	}
}
