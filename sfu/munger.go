package sfu

// ticksPerMs is the Opus RTP clock: 48 kHz.
const ticksPerMs = 48

// replayWindow is how far behind the newest packet (in packets) a late
// packet may still be sent: the SRTP replay window of receivers (64), and
// the width of Munger.sent.
const replayWindow = 64

// Munger rewrites the sequence numbers and timestamps of one outgoing slot
// so that the subscriber sees a single continuous RTP stream while the
// slot's source changes underneath it.
//
// Within one source the mapping is a constant offset (out = in - offset),
// so the source's own gaps (loss, DTX pauses) stay gaps. On a switch the
// offsets are chosen so that the first packet of the new source follows the
// last packet sent: sequence number +1, timestamp advanced by the real time
// elapsed since that packet, at 48 kHz. Packets of the current source that
// are older than its first forwarded packet are dropped: they belong to a
// stretch the subscriber never heard, and forwarding them would make the
// sequence go backwards across the switch. So are repeats of a packet
// already sent, packets more than replayWindow behind the newest one
// (receivers' SRTP replay protection would drop them anyway), and packets
// ahead of the newest in sequence number but behind it in timestamp.
//
// A slot may also hold back a stretch of its current source (silence,
// source.holdSilence). The first packet after it then continues the
// stream as after a switch, sequence number +1 and the marker set, but
// keeps the source's own timestamp offset: the same source's clock says
// exactly how much time passed, where the arrival time would add the
// network's jitter. Only if that would not move the timestamp forward
// (the source restarted its clock) does it count the elapsed time instead.
//
// Munger is pure arithmetic: no clock, no locks, no allocation. The zero
// value is ready to use; the first packet passes through unchanged. It is
// not safe for concurrent use: the slot that owns it serialises access.
type Munger struct {
	started bool // a packet has been sent
	pending bool // the next packet is the first of a new source, or of a stretch after a gap (resume)
	resume  bool // pending because of Resume, not Switch: the source is the same

	seqOffset uint16 // in - out, for the current source
	tsOffset  uint32 // in - out, for the current source

	firstIn   uint16 // input sequence of the current source's first packet
	highestIn uint16 // highest input sequence seen from the current source
	highestTS uint32 // input timestamp of that packet
	sent      uint64 // bit i: input highestIn - i was sent (i < replayWindow)

	lastSeq uint16 // output sequence of the newest packet sent
	lastTS  uint32 // output timestamp of the newest packet sent
	lastAt  int64  // when the newest packet was sent, in nanoseconds
}

// Switch marks the next packet as the first one of a new source.
func (m *Munger) Switch() { m.pending, m.resume = true, false }

// Resume marks the next packet as the first one after a stretch of the
// current source that the slot held back. A Switch pending stays one.
func (m *Munger) Resume() {
	if !m.pending {
		m.pending, m.resume = true, true
	}
}

// Rewrite maps one incoming packet of the current source, received at
// nowNs (any monotonic nanosecond clock), to its outgoing sequence number
// and timestamp. marker is true on the first packet after a switch (the
// caller ORs it with the packet's own marker). ok is false when the packet
// must not be sent: a duplicate of a packet sent, a late packet from before
// the current source's first packet, one more than replayWindow packets
// behind the newest, or one ahead of the newest in sequence number but
// behind it in timestamp.
func (m *Munger) Rewrite(seq uint16, ts uint32, nowNs int64) (outSeq uint16, outTS uint32, marker, ok bool) {
	if !m.started || m.pending {
		if m.started {
			ticks := uint32(1)
			if elapsed := nowNs - m.lastAt; elapsed > 0 {
				ticks = max(uint32(elapsed*ticksPerMs/1_000_000), 1)
			}
			m.seqOffset = seq - (m.lastSeq + 1)
			if !m.resume || int32(ts-m.tsOffset-m.lastTS) <= 0 {
				m.tsOffset = ts - (m.lastTS + ticks)
			}
		}
		m.started, m.pending, m.resume = true, false, false
		m.firstIn, m.highestIn, m.highestTS, m.sent = seq, seq, ts, 1
		m.commit(seq, ts, nowNs)
		return m.lastSeq, m.lastTS, true, true
	}

	switch d := int16(seq - m.highestIn); {
	case d > 0 && int32(ts-m.highestTS) < 0:
		// Ahead in numbering but behind in time: an old packet come round
		// the 16-bit wrap of sequence numbers (held back for more than
		// 32,768 packets), or a forged one. Taken for the newest it would
		// move the stream's timestamp backwards and make every packet after
		// it look too late.
		return 0, 0, false, false
	case d > 0:
		m.highestIn, m.highestTS = seq, ts
		if d < replayWindow {
			m.sent = m.sent<<d | 1
		} else {
			m.sent = 1
		}
		m.commit(seq, ts, nowNs)
		return m.lastSeq, m.lastTS, false, true
	case d == 0:
		return 0, 0, false, false // duplicate
	case int16(seq-m.firstIn) < 0:
		return 0, 0, false, false // from before this source's first packet
	case -int(d) >= replayWindow:
		return 0, 0, false, false // too late: the receiver would drop it
	case m.sent&(1<<-int(d)) != 0:
		return 0, 0, false, false // a duplicate of a late packet sent already
	default:
		// Reordered within the current source: send it in its place; the
		// receiver's jitter buffer puts it back in order.
		m.sent |= 1 << -int(d)
		return seq - m.seqOffset, ts - m.tsOffset, false, true
	}
}

func (m *Munger) commit(seq uint16, ts uint32, nowNs int64) {
	m.lastSeq = seq - m.seqOffset
	m.lastTS = ts - m.tsOffset
	m.lastAt = nowNs
}
