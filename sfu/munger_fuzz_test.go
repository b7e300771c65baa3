package sfu

import "testing"

// FuzzMunger drives one slot's Munger the way slot.forward does, with
// packet sequences built from the fuzz input: up to three sources with their
// own numbering (often near the 16- and 32-bit wraps), losses, DTX pauses,
// packets held back and delivered late (reordered, or from before a switch),
// duplicates, switches between sources and to silence, stretches the slot
// holds back (silence, Resume). Only packets of the slot's current source
// reach the munger, as in slot.forward.
//
// It checks what the receiver depends on, against a model of the stream it
// has heard so far:
//   - the first packet ever passes unchanged; the first after a switch
//     carries the marker and continues the stream: sequence +1, timestamp
//     advanced by the elapsed time at 48 kHz (at least 1 tick); so does
//     the first after a stretch held back, but with the source's own
//     timestamp offset when that moves the timestamp forward;
//   - within a source every sent packet is in - offset, one constant offset
//     (gaps stay gaps);
//   - a packet newer than the newest of its source (ahead in sequence
//     number, not behind in timestamp) is sent and advances the stream; its
//     timestamp too moves forward (sources here are monotone); one ahead in
//     sequence number but behind in timestamp (held back past the 16-bit
//     wrap) is dropped;
//   - an older one is sent if and only if it is inside the current source's
//     stretch (never before the switch packet), less than replayWindow
//     behind the newest, and not sent already: no sequence number twice.
func FuzzMunger(f *testing.F) {
	f.Add(uint64(0), []byte{0, 0, 0, 7 | 1<<3, 0, 0, 7 | 2<<3, 0})
	f.Add(uint64(1), []byte{0, 4, 0, 5, 0, 6, 0, 2 | 3<<3, 0})                         // hold, reorder, duplicate, loss
	f.Add(uint64(2), []byte{0, 4, 4, 7 | 1<<3, 0, 7, 5, 5 | 1<<3, 0})                  // late packets of A after switching A→B→A
	f.Add(uint64(3), []byte{0, 3 | 31<<3, 0, 7 | 1<<3, 3 | 8<<3, 0})                   // DTX pauses and a switch after one
	f.Add(uint64(0xffff_ffff_ffff_ffff), []byte{0, 0, 7 | 1<<3, 0, 7 | 2<<3, 0, 7, 0}) // near both wraps
	f.Add(uint64(4), []byte{0, 7 | 3<<3, 1, 7 | 1<<3, 0, 7 | 3<<3, 7, 0})              // silence, then back
	f.Add(uint64(5), []byte{0, 4, 0, 1 | 30<<3, 0, 5, 0, 1 | 2<<3, 7 | 1<<3, 0})       // held-back stretches, a late packet from before one, a switch pending over one
	f.Fuzz(func(t *testing.T, seed uint64, ops []byte) {
		if len(ops) > 4096 {
			ops = ops[:4096]
		}
		runMungerScript(t, seed, ops)
	})
}

// fuzzSource is one upstream stream of the script: the next packet's
// sequence number and timestamp.
type fuzzSource struct {
	seq uint16
	ts  uint32
}

type fuzzPacket struct {
	src int
	seq uint16
	ts  uint32
}

// mungerModel is what the receiver has heard so far.
type mungerModel struct {
	started  bool
	pending  bool // Switch or Resume was called: the next packet starts a source or a stretch
	resume   bool // pending by Resume alone: the source is the same
	lastSeq  uint16
	lastTS   uint32
	lastAt   int64
	seqOff   uint16 // in - out of the current source
	tsOff    uint32
	firstIn  uint16 // current source's first input sequence
	highIn   uint16 // current source's newest input sequence
	highTS   uint32 // and its input timestamp
	firstOut uint16
	sent     map[uint16]bool // output sequence numbers sent since the current source started
}

func splitmix(x *uint64) uint64 {
	*x += 0x9e3779b97f4a7c15
	z := *x
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// runMungerScript interprets ops, one byte each: the low 3 bits are the
// operation, the high 5 its argument a.
//
//	0     the current source sends its next packet (20 ms later)
//	1     a = 0: as 0; otherwise the slot holds back the current source's
//	      next a packets (silence) and resumes (Munger.Resume)
//	2     the next a+1 packets of the current source are lost on the way
//	3     DTX: the source pauses a×100 ms (timestamp jumps with it), then sends
//	4     the next packet is held back by the network
//	5     held packet a mod n arrives now (late, reordered)
//	6     the packet delivered last arrives again (duplicate)
//	7     selection points the slot at source a mod 4 (3: silence)
func runMungerScript(t *testing.T, seed uint64, ops []byte) {
	t.Helper()
	rng := seed
	srcs := make([]fuzzSource, 3)
	for i := range srcs {
		r := splitmix(&rng)
		srcs[i] = fuzzSource{seq: uint16(r), ts: uint32(r >> 16)}
		switch r >> 62 { // often close to the wraps
		case 0:
			srcs[i].seq = 65535 - uint16(r>>20)%8
		case 1:
			srcs[i].ts = ^uint32(0) - uint32(r>>20)%(960*8)
		}
	}
	var (
		m       Munger
		model   = mungerModel{sent: map[uint16]bool{}}
		cur     = 0 // current source; -1: silent
		now     = int64(1_000_000_000)
		held    []fuzzPacket
		last    *fuzzPacket
		step    int
		nextPkt = func(i int) fuzzPacket {
			p := fuzzPacket{src: i, seq: srcs[i].seq, ts: srcs[i].ts}
			srcs[i].seq++
			srcs[i].ts += 960
			return p
		}
	)
	m.Switch() // a slot's first source, as setSource does
	model.pending = true

	deliver := func(p fuzzPacket) {
		last = &p
		if p.src != cur {
			return // slot.forward: not the slot's source any more
		}
		seq, ts, marker, ok := m.Rewrite(p.seq, p.ts, now)
		model.check(t, step, p, now, seq, ts, marker, ok)
	}
	for step = 0; step < len(ops); step++ {
		op, a := ops[step]&7, int(ops[step]>>3)
		switch op {
		case 0, 1:
			if op == 1 && a > 0 {
				now += int64(a) * 20_000_000
				if cur >= 0 {
					for range a {
						nextPkt(cur)
					}
					m.Resume()
					if !model.pending {
						model.pending, model.resume = true, true
					}
				}
				continue
			}
			now += 20_000_000
			if cur >= 0 {
				deliver(nextPkt(cur))
			}
		case 2:
			now += int64(a+1) * 20_000_000
			if cur >= 0 {
				for range a + 1 {
					nextPkt(cur)
				}
			}
		case 3:
			now += int64(a) * 100_000_000
			if cur >= 0 {
				srcs[cur].ts += uint32(a) * 4800
				deliver(nextPkt(cur))
			}
		case 4:
			now += 20_000_000
			if cur >= 0 {
				held = append(held, nextPkt(cur))
			}
		case 5:
			now += 1_000_000
			if len(held) > 0 {
				i := a % len(held)
				p := held[i]
				held = append(held[:i], held[i+1:]...)
				deliver(p)
			}
		case 6:
			now += 1_000_000
			if last != nil {
				deliver(*last)
			}
		case 7:
			next := a % 4
			if next == 3 {
				next = -1
			}
			if next != cur { // slot.setSource: Switch only on a change to a source
				cur = next
				if cur >= 0 {
					m.Switch()
					model.pending, model.resume = true, false
				}
			}
		}
	}
}

// check compares one Rewrite result with the model and advances it.
func (md *mungerModel) check(t *testing.T, step int, p fuzzPacket, now int64, seq uint16, ts uint32, marker, ok bool) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("step %d, packet seq %d ts %d of source %d: "+format,
			append([]any{step, p.seq, p.ts, p.src}, args...)...)
	}
	if !md.started || md.pending {
		if !ok || !marker {
			fail("first packet of a source: ok %v marker %v, want both", ok, marker)
		}
		if !md.started {
			if seq != p.seq || ts != p.ts {
				fail("first packet ever: out seq %d ts %d, want it unchanged", seq, ts)
			}
		} else {
			ticks := uint32(1)
			if el := now - md.lastAt; el > 0 {
				ticks = max(uint32(el*ticksPerMs/1_000_000), 1)
			}
			wantTS := md.lastTS + ticks
			if own := p.ts - md.tsOff; md.resume && int32(own-md.lastTS) > 0 {
				wantTS = own
			}
			if seq != md.lastSeq+1 || ts != wantTS {
				fail("after a switch or a stretch held back (resume %v): out seq %d ts %d, want %d and %d (last %d, %d ticks)",
					md.resume, seq, ts, md.lastSeq+1, wantTS, md.lastTS, ticks)
			}
		}
		md.started, md.pending, md.resume = true, false, false
		md.seqOff, md.tsOff = p.seq-seq, p.ts-ts
		md.firstIn, md.highIn, md.highTS, md.firstOut = p.seq, p.seq, p.ts, seq
		md.lastSeq, md.lastTS, md.lastAt = seq, ts, now
		clear(md.sent)
		md.sent[seq] = true
		return
	}
	if marker {
		fail("marker within a source")
	}
	// Newer: ahead of the newest in sequence number and not behind it in
	// time. A packet held back for more than 32,768 others comes round the
	// 16-bit wrap looking ahead; its timestamp tells it is old.
	newer := int16(p.seq-md.highIn) > 0 && int32(p.ts-md.highTS) >= 0
	back := -int(int16(p.seq - md.highIn))
	late := back > 0 && back < replayWindow && int16(p.seq-md.firstIn) >= 0 && !md.sent[p.seq-md.seqOff]
	if ok != (newer || late) {
		fail("ok %v; newest of the source in %d, first in %d", ok, md.highIn, md.firstIn)
	}
	if !ok {
		return
	}
	if seq != p.seq-md.seqOff || ts != p.ts-md.tsOff {
		fail("out seq %d ts %d, want in - offset = %d, %d", seq, ts, p.seq-md.seqOff, p.ts-md.tsOff)
	}
	if md.sent[seq] {
		fail("out seq %d sent twice", seq)
	}
	md.sent[seq] = true
	if newer {
		if int16(seq-md.lastSeq) <= 0 || int32(ts-md.lastTS) <= 0 {
			fail("a newer packet goes out as seq %d ts %d after seq %d ts %d", seq, ts, md.lastSeq, md.lastTS)
		}
		md.highIn, md.highTS, md.lastSeq, md.lastTS, md.lastAt = p.seq, p.ts, seq, ts, now
		return
	}
	if int16(seq-md.lastSeq) >= 0 || int16(seq-md.firstOut) < 0 {
		fail("a late packet goes out as seq %d: newest sent %d, source started at %d", seq, md.lastSeq, md.firstOut)
	}
}
