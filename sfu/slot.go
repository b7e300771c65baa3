package sfu

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// rtpWriter is where a slot's packets go: pion's TrackLocalWriter in
// production, a counting fake in the fan-out benchmark.
type rtpWriter interface {
	WriteRTP(header *rtp.Header, payload []byte) (int, error)
}

// slot is one downstream audio track of a subscriber. It implements
// webrtc.TrackLocal so pion binds it to the subscriber's PeerConnection
// once; after that the slot writes rewritten packets straight into the
// bound stream.
//
// The slot's mutex serialises everything that touches the outgoing stream:
// the source pointer, the munger and the write itself, so packets of the old
// and the new source can never interleave on the wire across a switch.
type slot struct {
	owner  *Peer // the subscriber; immutable
	index  int   // position among the owner's slots; immutable
	id     string
	sender *webrtc.RTPSender // set once by setup; its RTCP is read only with NACK (drainSlotRTCP)

	draining atomic.Bool   // a goroutine reads the sender's RTCP
	bound    atomic.Uint64 // 1<<32 | the slot's SSRC, once Bind has run; 0 before

	mu     sync.Mutex
	src    *source     // current source; nil when the slot is silent
	munger Munger      // continuity across sources
	spurt  uint32      // the source's spurt at the last packet forwarded (source.holdSilence)
	w      rtpWriter   // nil until bound
	hdr    rtp.Header  // reused for every packet; Version, SSRC and PayloadType set by Bind
	ready  bool        // the owner's write path is chosen (Peer.choosePath)
	direct *directPath // non-nil: the slot seals and sends itself (direct.go), not through w
	stream rtpStream   // the direct path's own sealing of the slot's SSRC (srtpseal.go)
	sr     srCounts    // for the slot's sender reports (Engine.sendReports)

	// The router's view, guarded by the router's mutex: the router is the
	// only one to set src, through pointLocked, which keeps routed == src.
	routed    *source
	carrierAt int // index in routed.carriers
}

func newSlot(owner *Peer, index int) *slot {
	return &slot{owner: owner, index: index, id: "slot-" + strconv.Itoa(index)}
}

// forward writes one packet of src to the slot if src is still the slot's
// source. It reports whether the packet was written. buf is the fan-out's
// scratch buffer, which a direct path seals in.
func (s *slot) forward(src *source, pkt *rtp.Packet, nowNs int64, c *counters, buf *[]byte) (sent bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.src != src {
		c.staleDrops.Add(1)
		return false
	}
	if s.w == nil {
		return false
	}
	if !s.ready {
		// The peer's write path is not chosen yet (Peer.choosePath, when
		// its PeerConnection first connects): nothing is sent, and the
		// munger has not seen the packet.
		c.notReadyDrops.Add(1)
		return false
	}
	if s.spurt != src.spurt {
		// src held back a silent run since this slot's last packet of it
		// (source.holdSilence): this one begins a new talkspurt.
		s.spurt = src.spurt
		s.munger.Resume()
	}
	before := s.munger // a copy: no allocation
	seq, ts, marker, ok := s.munger.Rewrite(pkt.SequenceNumber, pkt.Timestamp, nowNs)
	if !ok {
		return false
	}
	s.hdr.SequenceNumber = seq
	s.hdr.Timestamp = ts
	s.hdr.Marker = marker || pkt.Marker
	var n int
	var err error
	if s.direct != nil {
		n, err = s.direct.writeRTP(&s.stream, &s.hdr, pkt.Payload, buf)
	} else {
		n, err = s.w.WriteRTP(&s.hdr, pkt.Payload)
	}
	switch {
	case err != nil:
		c.writeErrors.Add(1)
		return false
	case n == 0:
		// pion binds a slot when the answer is applied but opens its SRTP
		// stream only once DTLS is up; a write in between is dropped and
		// returns 0 bytes and no error. Nothing reached the wire, so the
		// munger forgets the packet: the first packet that does go out is
		// the stream's first, with its marker, and the timestamp of the
		// next switch counts from a packet the subscriber really got.
		s.munger = before
		c.notReadyDrops.Add(1)
		return false
	}
	s.sr.packets++
	s.sr.octets += uint32(len(pkt.Payload))
	s.sr.lastTS, s.sr.lastAt = ts, nowNs
	return true
}

// setSource points the slot at src (nil: silence). It reports whether the
// source changed.
func (s *slot) setSource(src *source) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.src == src {
		return false
	}
	s.src = src
	if src != nil {
		s.munger.Switch()
	}
	return true
}

// source returns the slot's current source.
func (s *slot) source() *source {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.src
}

// Bind is called by pion when the subscriber's transport is negotiated.
func (s *slot) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if c.MimeType == webrtc.MimeTypeOpus {
			s.owner.drainSlotRTCP(s, slices.ContainsFunc(c.RTCPFeedback, func(f webrtc.RTCPFeedback) bool {
				return f.Type == webrtc.TypeRTCPFBNACK && f.Parameter == ""
			}))
			s.bound.Store(1<<32 | uint64(ctx.SSRC())) // after draining is set: rtcpUnread reads both
			s.mu.Lock()
			s.w = ctx.WriteStream()
			// The fields that never change are set once, not per packet.
			s.hdr.Version, s.hdr.SSRC, s.hdr.PayloadType = 2, uint32(ctx.SSRC()), uint8(c.PayloadType)
			s.mu.Unlock()
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, fmt.Errorf("sfu: %s: %w", s.id, errNoOpus)
}

// rtcpUnread reports whether ssrc is the slot's and nobody reads its RTCP:
// Bind has run and did not start a reader (drainSlotRTCP). Lock-free: pion
// may ask while the slot's mutex is held (its first write opens the
// stream).
func (s *slot) rtcpUnread(ssrc uint32) bool {
	return s.bound.Load() == 1<<32|uint64(ssrc) && !s.draining.Load()
}

// Unbind is called by pion when the sender stops.
func (s *slot) Unbind(webrtc.TrackLocalContext) error {
	s.mu.Lock()
	s.w = nil
	s.mu.Unlock()
	return nil
}

// ID is the track id the subscriber sees: "slot-<index>".
func (s *slot) ID() string { return s.id }

// RID is empty: audio has no simulcast.
func (s *slot) RID() string { return "" }

// StreamID groups every slot of a subscriber in one media stream.
func (s *slot) StreamID() string { return "sanctuary" }

// Kind is audio.
func (s *slot) Kind() webrtc.RTPCodecType { return webrtc.RTPCodecTypeAudio }
