package bots

import (
	"slices"
	"sort"
)

// Loss when a listener may hear more speakers than it has slots.
//
// The server then forwards only the K loudest, so a listener is owed the
// packets the server put in its slots, not every speaker's. Each slot is
// one RTP stream whose sequence numbers the server keeps contiguous across
// source switches (the munger: +1 on a switch, a source's own gaps kept as
// gaps), and every packet names its source and that source's counter in
// its signature. So, taking a slot's packets in sequence order:
//
//   - Within a run of one source in one slot, every counter between two
//     packets received is owed: a gap inside a run is loss.
//   - At a switch, the packets the sequence numbers skip are owed: they
//     are the old source's last packets and the new source's first, lost.
//     The receiver cannot tell how such a gap divides between the two, so
//     they are counted as the new source's packets just before the first
//     one received.
//   - The slots messages say which source filled the slot, in order; they
//     tell a source that left the slot and came back (two runs) from one
//     run with a gap. Only their order is used, not their arrival time,
//     which lags the switch by the websocket's delay.
//   - A source that never fills a slot is owed nothing; neither is a
//     source's packet sent while it was out of the slot, whether it was
//     outside the K loudest, stopped sending, or moved away.
//
// Packets in flight across a switch need no care: the old source's last
// packets have lower sequence numbers than the new source's first, in
// whatever order they and the slots message arrive. What no receiver can
// see is a packet the server should have sent and did not, without
// spending a sequence number; where speakers ≤ K, the strict rule (every
// speaker's every packet) still catches it.

// SlotPacket is one packet received on a slot, as the loss accounting
// records it.
type SlotPacket struct {
	Seq uint16 // the slot stream's RTP sequence number
	// Source is the sending bot's index from the signature; -1 for a packet
	// without one or from another run (it still takes its sequence number).
	Source  int32
	Counter uint32 // the signature's counter
}

// SlotRecord is what a bot heard on one downstream slot since its window
// was set (SetWindow).
type SlotRecord struct {
	// Sources are the participant ids the slots messages put in the slot,
	// in order, without repeats ("" for silence). It starts with the two
	// latest before the window was set, so packets still in flight then
	// find their source.
	Sources []string
	// Packets are the packets received, in arrival order. The first is the
	// last one received before the window was set, if any.
	Packets []SlotPacket
}

// span is an inclusive range of counters.
type span struct{ lo, hi int64 }

// counterSet is a set of counters: sorted, disjoint, non-adjacent spans.
type counterSet struct{ spans []span }

// add adds the counters lo..hi (nothing when hi < lo).
func (s *counterSet) add(lo, hi int64) {
	if hi < lo {
		return
	}
	n := len(s.spans)
	if n == 0 || lo > s.spans[n-1].hi+1 { // the usual case: after every span
		s.spans = append(s.spans, span{lo, hi})
		return
	}
	// i: the first span that touches or follows lo; j: the first after hi.
	i := sort.Search(n, func(k int) bool { return s.spans[k].hi+1 >= lo })
	j := sort.Search(n, func(k int) bool { return s.spans[k].lo > hi+1 })
	if i < j {
		lo, hi = min(lo, s.spans[i].lo), max(hi, s.spans[j-1].hi)
	}
	s.spans = slices.Replace(s.spans, i, j, span{lo, hi})
}

// count returns how many counters of the set lie in lo..hi.
func (s *counterSet) count(lo, hi int64) uint64 {
	var n uint64
	i := sort.Search(len(s.spans), func(k int) bool { return s.spans[k].hi >= lo })
	for ; i < len(s.spans) && s.spans[i].lo <= hi; i++ {
		n += uint64(min(hi, s.spans[i].hi) - max(lo, s.spans[i].lo) + 1)
	}
	return n
}

// has reports whether c is in the set.
func (s *counterSet) has(c int64) bool { return s.count(c, c) == 1 }

// slotCounts is what one listener was owed and received of one source.
type slotCounts struct{ owed, got counterSet }

// slotAccount applies the rule above to a listener's slot records. index
// maps participant ids to bot indices (an id it lacks is no bot of the
// run). It returns, per source index, the counters owed and received;
// every counter received is owed. It is a pure function.
func slotAccount(recs []SlotRecord, index map[string]int) map[int]*slotCounts {
	out := map[int]*slotCounts{}
	of := func(src int64) *slotCounts {
		c := out[int(src)]
		if c == nil {
			c = &slotCounts{}
			out[int(src)] = c
		}
		return c
	}
	for i := range recs {
		tenures := make([]int64, len(recs[i].Sources))
		for j, id := range recs[i].Sources {
			tenures[j] = -1
			if b, ok := index[id]; ok && id != "" {
				tenures[j] = int64(b)
			}
		}
		var prev *seqPacket
		p := 0 // the tenure of the latest packet
		for _, q := range inSeqOrder(recs[i].Packets) {
			if prev != nil && q.ext == prev.ext {
				continue // a duplicate
			}
			if q.src < 0 {
				prev = &q
				continue
			}
			lo := q.c // the first counter owed up to this packet
			switch {
			case prev != nil && prev.src == q.src && q.c > prev.c:
				ds, dc := q.ext-prev.ext, q.c-prev.c
				lo = prev.c + 1 // one run: every counter between
				if ds < dc {    // the stream skipped fewer packets than the source sent
					if next := returnOf(tenures, p, q.src); next >= 0 {
						p, lo = next, q.c-(ds-1) // it left the slot and came back
					}
					// Otherwise the server dropped packets within the run
					// without spending sequence numbers: lost all the same.
				}
			case prev != nil && prev.src == q.src:
				// A counter that did not advance: nothing between to owe.
			default:
				if p >= len(tenures) || tenures[p] != q.src {
					if next := returnOf(tenures, p, q.src); next >= 0 {
						p = next
					}
				}
				if prev != nil {
					lo = q.c - max(q.ext-prev.ext-1, 0) // a gap at the switch: the new source's head
					if lo < 0 {
						if prev.src >= 0 { // what its counters cannot hold: the old source's tail
							of(prev.src).owed.add(prev.c+1, prev.c-lo)
						}
						lo = 0
					}
				}
			}
			c := of(q.src)
			c.owed.add(lo, q.c)
			c.got.add(q.c, q.c)
			prev = &q
		}
	}
	return out
}

// returnOf returns the first tenure after p whose source is src, or -1.
func returnOf(tenures []int64, p int, src int64) int {
	for j := p + 1; j < len(tenures); j++ {
		if tenures[j] == src {
			return j
		}
	}
	return -1
}

// seqPacket is a SlotPacket with its sequence number extended past 16 bits.
type seqPacket struct {
	ext    int64 // extended sequence number
	src, c int64 // source index (-1: none) and counter
}

// inSeqOrder extends the packets' sequence numbers, in arrival order, and
// sorts them by it: the order the server sent them in.
func inSeqOrder(ps []SlotPacket) []seqPacket {
	out := make([]seqPacket, len(ps))
	for i, p := range ps {
		ext := int64(p.Seq)
		if i > 0 {
			ext = out[i-1].ext + int64(int16(p.Seq-ps[i-1].Seq))
		}
		out[i] = seqPacket{ext: ext, src: int64(p.Source), c: int64(p.Counter)}
	}
	slices.SortStableFunc(out, func(a, b seqPacket) int { return int(a.ext - b.ext) })
	return out
}
