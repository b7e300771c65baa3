package sfu

import (
	"sync/atomic"
	"time"
)

// Loudness smoothing, in 1/256 dB fixed point. RFC 6464 levels are -dBov
// (0 loudest, 127 silence); loudness is 127 - level, so louder is larger.
// The smoothing steps once per 20 ms frame of the source's own clock (RTP
// timestamps), not once per packet: a client using Opus DTX sends one
// packet in every few hundred milliseconds of silence (source.observeLevel).
const (
	loudnessScale = 256
	attackShift   = 2               // rising loudness follows in ~4 frames (80 ms)
	releaseShift  = 4               // falling loudness fades over ~16 frames (320 ms)
	staleAfter    = 1 * time.Second // a source silent on the wire this long ranks last

	// frameTicks is one 20 ms frame at Opus's 48 kHz RTP clock: the step
	// of the smoothing.
	frameTicks = 960
	// dtxMaxFrames bounds the frames a gap between two packets may stand
	// for (source.observeLevel): one second, the staleness bound. libopus's
	// DTX, which Chromium and Firefox use, sends at least every 400 ms
	// (muted by their tracks, they sent every 200 ms here:
	// web/e2e/selection.test.js); a longer gap is a client that stopped
	// sending (muted, or its network), whose level is not known meanwhile.
	dtxMaxFrames = 50

	// quietBelow is the loudness under which a fresh source counts as
	// silent for the ticker (Router.parkLocked): a muted browser track
	// (digital silence, level 127) or a fading voice's last dB. It is no
	// more than switchMargin, so no quiet source can displace another.
	quietBelow = 6 * loudnessScale

	// silenceHangover is how much of a silent run a source still forwards
	// before it holds the rest back (source.holdSilence), in RTP timestamp
	// ticks: half a second, 25 packets at Opus's 20 ms.
	silenceHangover = 25 * frameTicks
)

// silentLevel reports whether an RFC 6464 level byte is silence, by the
// same measure as quietBelow: below -121 dBov, under the floor of any
// 16-bit microphone, so in practice digital silence, what a muted browser
// track sends (level 127).
func silentLevel(b byte) bool {
	return uint32(127-(b&0x7f))*loudnessScale < quietBelow
}

// What a source's next packet should do to the router's ticker, as the
// ticker set it when it went to sleep (source.wakeOn).
const (
	wakeNever   = iota
	wakeOnAny   // the source was stale: any packet makes it fresh
	wakeOnVoice // the source was fresh but quiet: a packet that makes it loud
)

// source is the upstream audio of one peer: what the hot path reads from
// and what selection ranks. Fields written by the reader goroutine are
// atomics because the router's selection reads them.
type source struct {
	peer *Peer  // immutable
	id   string // the peer's id; immutable

	// slots are the slots currently carrying this source, published by
	// the router copy-on-write. Never nil after newSource.
	slots atomic.Pointer[[]*slot]

	loudness atomic.Uint32 // smoothed, fixed point; 0 before any level
	lastSeen atomic.Int64  // monotonic ns of the newest packet; 0 before any

	// wakeOn asks the reader to wake the router's ticker at a packet of
	// this source (wakeOnAny, wakeOnVoice): the ticker sleeps while the
	// source is stale or quiet, and its turning fresh or loud could change
	// what someone hears (Router.parkLocked).
	wakeOn atomic.Uint32

	// Loudness smoothing (observeLevel); reader goroutine only.
	smoothed   uint32
	lastTarget uint32 // the loudness of the last level read
	levelTS    uint32 // the RTP timestamp of the last level read
	levelSeen  bool   // a level was read: lastTarget and levelTS hold

	// Silence suppression (holdSilence). Written by the reader goroutine
	// only, before it fans the packet out; the fan-out (slot.forward, on
	// this goroutine or on a worker it hands a chunk to and waits for)
	// reads spurt.
	inSilence  bool   // the last packet read was silent
	silentFrom uint32 // the RTP timestamp of the silent run's first packet
	holding    bool   // the silent run is past the hangover: held back
	spurt      uint32 // silent runs held back so far

	rx Reception // for the reception report on this upstream (reports.go)

	// Selection state, guarded by the router's mutex.
	fresh     bool    // score in selection scoredGen
	loud      uint32  // score in selection scoredGen
	seenAt    int64   // lastSeen as the score in selection scoredGen read it
	scoredGen uint64  // the selection that took the score
	carriers  []*slot // the slots the router points at this source; slot.carrierAt indexes it
	dirty     bool    // carriers changed since the router last published slots
}

func newSource(p *Peer) *source {
	s := &source{peer: p, id: p.id}
	s.slots.Store(&[]*slot{})
	return s
}

// observeLevel folds one RFC 6464 audio level byte, carried by the packet
// of RTP timestamp ts, into the smoothed loudness. Reader goroutine only.
//
// The smoothing steps once per 20 ms frame of the source's clock. A gap of
// up to dtxMaxFrames between this packet and the last is frames the client
// did not send, as Opus DTX does in silence (the server asks for it:
// NewEngine); each counts as the level of the last frame it did send, which
// with DTX is the silence that started the pause. So a voice fading into
// DTX fades in 320 ms, as it does at a packet every 20 ms, not over 16
// packets spread across six seconds. A longer gap, or a timestamp going
// back, steps once, as for the next frame.
func (s *source) observeLevel(b byte, ts uint32) {
	if s.levelSeen {
		if gap := int32(ts-s.levelTS)/frameTicks - 1; gap > 0 && gap < dtxMaxFrames {
			for range gap {
				s.step(s.lastTarget)
			}
		}
	}
	target := uint32(127-(b&0x7f)) * loudnessScale
	s.levelSeen, s.levelTS, s.lastTarget = true, ts, target
	s.step(target)
	s.loudness.Store(s.smoothed)
}

// step moves the smoothed loudness one frame towards target.
func (s *source) step(target uint32) {
	if target > s.smoothed {
		s.smoothed += (target - s.smoothed) >> attackShift
	} else {
		s.smoothed -= (s.smoothed - target) >> releaseShift
	}
}

// holdSilence reports whether the packet just read, silent or not, of RTP
// timestamp ts, is to be held back: a browser muted by its track keeps
// sending digital silence (50 packets a second, or a few with Opus DTX),
// which every slot carrying the source would otherwise seal and send to
// its listener, and whose browser would decode it. The first half second
// (silenceHangover, by the source's clock) of a silent run still goes
// out, so that a listener's decoder ends on real silence, not on
// concealment of a voice cut off, and a pause within speech loses
// nothing; the rest is held back until a packet that is not silent.
// Reader goroutine only.
//
// Holding packets back would leave gaps in each slot's sequence numbers,
// which receivers count as loss (and NACK). So each held-back run counts
// in spurt, and a slot that sees the count move (slot.forward) rewrites
// the next packet as the first of a new talkspurt (Munger.Resume): the
// next sequence number, the source's own timestamp, the marker bit set
// (RFC 3551 section 4.1). To the listener it looks like Opus DTX.
func (s *source) holdSilence(silent bool, ts uint32) bool {
	switch {
	case !silent:
		s.inSilence, s.holding = false, false
	case s.holding:
	case !s.inSilence || int32(ts-s.silentFrom) < 0: // a run begins (or the clock went back)
		s.inSilence, s.silentFrom = true, ts
	case int32(ts-s.silentFrom) >= silenceHangover:
		s.holding = true
		s.spurt++
	}
	return s.holding
}

// heard records a packet received at now, after observeLevel if it had a
// level, and wakes the router's ticker if it asked for this packet
// (wakeOn). Reader goroutine only; one atomic load per packet beyond the
// store.
//
// lastSeen and loudness are stored before the flag is read, and the ticker
// sets the flag before it reads them again (Router.parkLocked): with Go's
// sequentially consistent atomics, a packet that comes as the ticker goes
// to sleep is seen by one side or the other, so it is never missed.
func (s *source) heard(now int64) {
	s.lastSeen.Store(now)
	switch w := s.wakeOn.Load(); {
	case w == wakeNever, w == wakeOnVoice && s.smoothed < quietBelow:
	default:
		if s.wakeOn.CompareAndSwap(w, wakeNever) {
			s.peer.r.wakeTicker()
		}
	}
}

// score ranks the source for selection: sources heard recently rank above
// stale ones; among those, louder ranks higher. last is the lastSeen it read.
func (s *source) score(nowNs int64) (fresh bool, loud uint32, last int64) {
	last = s.lastSeen.Load()
	return last != 0 && nowNs-last < int64(staleAfter), s.loudness.Load(), last
}

// clock is the monotonic nanosecond clock of the hot path and selection.
type clock struct{ start time.Time }

func newClock() clock { return clock{start: time.Now()} }

// now returns monotonic nanoseconds since the clock started; never 0.
func (c clock) now() int64 { return int64(time.Since(c.start)) + 1 }
