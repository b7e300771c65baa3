package sfu

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/pion/rtcp"
)

// RTCP reports, sent by the engine for every connected peer on one ticker
// (reportLoop), once a second as pion's report interceptors do:
//
//   - a sender report for each slot that sent, from the slot's own counts
//     (srCounts, kept by slot.forward on either write path);
//   - a reception report on the peer's upstream (Reception, kept by its
//     reader), inside the first slot's sender report, or in a receiver
//     report before any slot sent (RFC 3550 6.4).
//
// pion's interceptors would take a lock per packet, allocate per upstream
// packet, and keep a goroutine and a ticker per PeerConnection each; its
// sender-report interceptor also sees nothing of a direct slot (direct.go).
const reportInterval = time.Second

// srCounts are what a slot's sender report says, kept by slot.forward.
// The slot's mutex guards them.
type srCounts struct {
	packets, octets uint32
	lastTS          uint32 // RTP timestamp of the newest packet
	lastAt          int64  // router clock when it was sent
}

// report returns the slot's sender report at router clock now and wall
// clock wall, and false when the slot sent nothing yet.
func (s *slot) report(now int64, wall time.Time) (rtcp.SenderReport, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sr.packets == 0 {
		return rtcp.SenderReport{}, false
	}
	return rtcp.SenderReport{
		SSRC:        s.hdr.SSRC,
		NTPTime:     ntpTime(wall),
		RTPTime:     s.sr.lastTS + rtpTicks(now-s.sr.lastAt),
		PacketCount: s.sr.packets,
		OctetCount:  s.sr.octets,
	}, true
}

// ssrc is the slot's SSRC, 0 before Bind.
func (s *slot) ssrc() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hdr.SSRC
}

// rtpTicks is a router-clock duration in Opus RTP ticks (ticksPerMs, the
// munger's clock), modulo 2^32 as RTP timestamps are.
func rtpTicks(ns int64) uint32 { return uint32(ns * ticksPerMs / 1_000_000) }

// ntpTime is t as a 64-bit NTP timestamp (RFC 3550 4).
func ntpTime(t time.Time) uint64 {
	const ntpEpochOffset = 2208988800 // 1900 to 1970, in seconds
	ns := t.UnixNano()
	secs := uint64(ns/1e9) + ntpEpochOffset
	frac := uint64(ns%1e9) << 32 / 1e9
	return secs<<32 | frac
}

// Sequence-number jumps, as RFC 3550 A.1 counts them: a packet up to
// maxDropout ahead of the newest is new (what lies between is lost), one up
// to maxMisorder behind is late; anything further is the source starting
// over, and the counts restart from it.
const (
	maxDropout  = 3000
	maxMisorder = 100
)

// Reception is what a reception report on one received stream says (RFC
// 3550 6.4.1, A.1, A.3, A.8): the stream's reader adds each packet, its
// RTCP reader each sender report, and the report loop reads them. The
// engine keeps one per upstream; the load-test bots keep one per slot
// they hear. Times are nanoseconds of one monotonic clock, of any origin;
// the RTP clock is Opus's 48 kHz.
type Reception struct {
	mu sync.Mutex
	rx rxCounts
}

type rxCounts struct {
	started  bool
	ssrc     uint32
	base     uint32 // extended sequence number of the first packet
	maxSeq   uint16 // newest sequence number
	cycles   uint32 // sequence-number wraps, << 16
	received uint32

	expectedPrior, receivedPrior uint32 // at the last report

	transit uint32  // arrival − RTP timestamp of the previous packet, in RTP ticks, modulo 2^32
	jitter  float64 // RFC 3550 A.8, in RTP ticks

	lsr   uint32 // the middle 32 bits of the newest sender report's NTP time
	lsrAt int64  // router clock when it came; 0: none yet
}

// OnRTP counts one packet that arrived at now.
func (r *Reception) OnRTP(ssrc uint32, seq uint16, ts uint32, now int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := &r.rx
	// In 32 bits, as RFC 3550 A.8 does: a timestamp wrapping (they start
	// anywhere) changes no difference.
	transit := rtpTicks(now) - ts
	restart := !c.started || ssrc != c.ssrc
	delta := seq - c.maxSeq
	switch {
	case restart:
	case delta == 0:
		return // a duplicate
	case delta < maxDropout:
		if seq < c.maxSeq {
			c.cycles += 1 << 16
		}
		c.maxSeq = seq
	case delta <= 1<<16-maxMisorder:
		restart = true // a jump too far to be loss: the source started over
	}
	// Otherwise a late packet: counted; it does not move the newest.
	if restart {
		*c = rxCounts{started: true, ssrc: ssrc, base: uint32(seq), maxSeq: seq, received: 1, transit: transit,
			lsr: c.lsr, lsrAt: c.lsrAt}
		return
	}
	c.received++
	d := int64(int32(transit - c.transit))
	if d < 0 {
		d = -d
	}
	c.transit = transit
	c.jitter += (float64(d) - c.jitter) / 16
}

// OnSenderReport notes the stream's sender report, for LSR and DLSR.
func (r *Reception) OnSenderReport(sr *rtcp.SenderReport, now int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rx.started && sr.SSRC != r.rx.ssrc {
		return
	}
	r.rx.lsr, r.rx.lsrAt = uint32(sr.NTPTime>>16), now
}

// Block returns the reception report at now, and false before the first
// packet. It starts the next report's interval (its fraction lost).
func (r *Reception) Block(now int64) (rtcp.ReceptionReport, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := &r.rx
	if !c.started {
		return rtcp.ReceptionReport{}, false
	}
	extMax := c.cycles + uint32(c.maxSeq)
	expected := extMax - c.base + 1
	lost := max(min(int64(expected)-int64(c.received), 0x7fffff), -0x800000) // 24 bits, signed
	expectedInterval := expected - c.expectedPrior
	receivedInterval := c.received - c.receivedPrior
	c.expectedPrior, c.receivedPrior = expected, c.received
	var fraction uint8
	if lostInterval := int64(expectedInterval) - int64(receivedInterval); expectedInterval > 0 && lostInterval > 0 {
		fraction = uint8(lostInterval << 8 / int64(expectedInterval))
	}
	var dlsr uint32
	if c.lsrAt != 0 {
		dlsr = uint32(time.Duration(now-c.lsrAt) * 65536 / time.Second)
	}
	return rtcp.ReceptionReport{
		SSRC:               c.ssrc,
		FractionLost:       fraction,
		TotalLost:          uint32(lost) & 0xffffff,
		LastSequenceNumber: extMax,
		Jitter:             uint32(c.jitter),
		LastSenderReport:   c.lsr,
		Delay:              dlsr,
	}, true
}

// addReporting and removeReporting keep the set of connected peers, for
// sendReports, and the count of those on the direct path.
func (e *Engine) addReporting(p *Peer, direct bool) {
	e.reportMu.Lock()
	defer e.reportMu.Unlock()
	if p.closed.Load() {
		return
	}
	if e.reporting == nil {
		e.reporting = make(map[*Peer]struct{})
	}
	e.reporting[p] = struct{}{}
	if direct {
		e.stats.directPeers.Add(1)
	}
}

func (e *Engine) removeReporting(p *Peer) {
	e.reportMu.Lock()
	defer e.reportMu.Unlock()
	if _, ok := e.reporting[p]; ok {
		delete(e.reporting, p)
		if p.direct.Load() != nil {
			e.stats.directPeers.Add(-1)
		}
	}
}

// reportLoop sends the reports until stop closes.
func (e *Engine) reportLoop(stop <-chan struct{}) {
	t := time.NewTicker(reportInterval)
	defer t.Stop()
	var sc reportScratch
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			e.sendReports(&sc)
		}
	}
}

// reportScratch is what sendReports reuses from one second to the next,
// so that the reports allocate nothing on the direct path.
type reportScratch struct {
	peers []*Peer
	buf   []byte // one peer's compound packet
}

// sendReports sends each connected peer one compound RTCP packet: the
// sender reports of its slots, the first carrying the reception report of
// its upstream. A peer on the direct path gets it sealed and sent there;
// any other through pion's WriteRTCP. Either way pion never seals RTCP
// for the peer's SSRCs itself, so their SRTCP indexes have one keeper.
func (e *Engine) sendReports(sc *reportScratch) {
	e.reportMu.Lock()
	sc.peers = sc.peers[:0]
	for p := range e.reporting {
		sc.peers = append(sc.peers, p)
	}
	e.reportMu.Unlock()
	wall := time.Now()
	for i, p := range sc.peers {
		sc.peers[i] = nil // let a peer that leaves go
		if p.closed.Load() {
			continue
		}
		var srs, rrs uint64
		sc.buf, srs, rrs = p.appendReports(sc.buf[:0], p.r.clock.now(), wall)
		if len(sc.buf) == 0 {
			continue
		}
		var err error
		if d := p.direct.Load(); d != nil {
			err = d.writeRTCP(sc.buf)
		} else {
			raw := rtcp.RawPacket(sc.buf)
			err = p.pc.WriteRTCP([]rtcp.Packet{&raw})
		}
		if err == nil {
			e.stats.reportsSent.Add(srs)
			e.stats.receptionReports.Add(rrs)
		}
	}
}

// appendReports appends the peer's compound RTCP packet to b (nothing when
// it has nothing to report), and counts its sender and reception reports.
func (p *Peer) appendReports(b []byte, now int64, wall time.Time) (_ []byte, srs, rrs uint64) {
	block, hasBlock := p.src.rx.Block(now)
	for _, s := range p.slots {
		sr, ok := s.report(now, wall)
		if !ok {
			continue
		}
		if srs == 0 && hasBlock {
			b = appendSenderReport(b, &sr, &block)
			rrs++
		} else {
			b = appendSenderReport(b, &sr, nil)
		}
		srs++
	}
	if srs == 0 && hasBlock && len(p.slots) > 0 {
		// No slot sent yet: a receiver report, from the first slot's SSRC.
		b = appendReceiverReport(b, p.slots[0].ssrc(), &block)
		rrs++
	}
	return b, srs, rrs
}

// appendSenderReport appends sr with the reception report rr, if any, as
// RFC 3550 6.4.1 lays them out (what rtcp.SenderReport.Marshal gives,
// without its allocations).
func appendSenderReport(b []byte, sr *rtcp.SenderReport, rr *rtcp.ReceptionReport) []byte {
	n := 0
	if rr != nil {
		n = 1
	}
	b = append(b, 0x80|byte(n), byte(rtcp.TypeSenderReport)) // version 2, report count
	b = binary.BigEndian.AppendUint16(b, uint16(6+6*n))      // length in 32-bit words, minus one
	b = binary.BigEndian.AppendUint32(b, sr.SSRC)
	b = binary.BigEndian.AppendUint64(b, sr.NTPTime)
	b = binary.BigEndian.AppendUint32(b, sr.RTPTime)
	b = binary.BigEndian.AppendUint32(b, sr.PacketCount)
	b = binary.BigEndian.AppendUint32(b, sr.OctetCount)
	if rr != nil {
		b = appendReceptionReport(b, rr)
	}
	return b
}

// appendReceiverReport appends a receiver report from ssrc with rr
// (RFC 3550 6.4.2).
func appendReceiverReport(b []byte, ssrc uint32, rr *rtcp.ReceptionReport) []byte {
	b = append(b, 0x80|1, byte(rtcp.TypeReceiverReport))
	b = binary.BigEndian.AppendUint16(b, 1+6)
	b = binary.BigEndian.AppendUint32(b, ssrc)
	return appendReceptionReport(b, rr)
}

// appendReceptionReport appends one report block; TotalLost is already
// its 24 bits (Reception.Block).
func appendReceptionReport(b []byte, rr *rtcp.ReceptionReport) []byte {
	b = binary.BigEndian.AppendUint32(b, rr.SSRC)
	b = append(b, rr.FractionLost, byte(rr.TotalLost>>16), byte(rr.TotalLost>>8), byte(rr.TotalLost))
	b = binary.BigEndian.AppendUint32(b, rr.LastSequenceNumber)
	b = binary.BigEndian.AppendUint32(b, rr.Jitter)
	b = binary.BigEndian.AppendUint32(b, rr.LastSenderReport)
	return binary.BigEndian.AppendUint32(b, rr.Delay)
}
