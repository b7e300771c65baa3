package bots

import (
	"maps"
	"slices"

	"github.com/pion/rtp"
)

// Stats is a copy of a bot's counters at one instant.
type Stats struct {
	Index     int  // the bot's index in its run
	Joined    bool // the server welcomed it
	Connected bool // its PeerConnection reached connected
	Slots     int  // K, the downstream slots the welcome announced
	// JoinMs is the time from the start of the websocket dial to the
	// welcome; ConnectMs to the PeerConnection's connected state;
	// FirstAudioMs to the first packet counted in ReceivedBySource. Each is
	// 0 until it happened.
	JoinMs, ConnectMs, FirstAudioMs float64
	// Sent counts the packets the bot sent; SentInWindow those whose send
	// time lies in the window set with SetWindow.
	Sent, SentInWindow uint64
	// ReceivedBySource counts packets received per source bot index, from
	// the signature (never from the server's slot labels), excluding
	// foreign ones; ReceivedInWindowBySource counts those sent within the
	// window. Both are fresh maps the caller owns.
	ReceivedBySource         map[int]uint64
	ReceivedInWindowBySource map[int]uint64
	// Foreign counts signed packets from outside the expected audience:
	// another run, the bot itself, or a bot not in SetAudience. It must be 0.
	Foreign uint64
	// Unrecognised counts packets without a parsable signature.
	Unrecognised uint64
	// Renegotiations counts offers after the first. Its target is 0.
	Renegotiations uint64
	// SSRCChanges, SeqGaps and SeqBackwards describe the continuity of the
	// slots' streams: an SSRC that changed within a slot, packets missing
	// between two received ones (sequence jumps of d > 1 add d-1), and
	// packets that did not advance the sequence number.
	SSRCChanges, SeqGaps, SeqBackwards uint64
	// SendErrors counts packets the local track refused to write.
	SendErrors uint64
	// Latency holds send→receive times of the counted packets: all of them
	// until a window is set, then those sent within the window. A copy.
	Latency *Histogram
	// Audience is the set given to SetAudience, sorted; nil means every
	// other bot of the run.
	Audience []int
	// Errors lists the codes of the `error` messages the server sent.
	Errors []string
	// LocalErrors lists failures seen by the bot itself (first 20).
	LocalErrors []string
	// Replaced is true once the server said `replaced`.
	Replaced bool
}

// counters is the live form of Stats, guarded by Bot.mu.
type counters struct {
	joined, connected, replaced     bool
	k                               int // slots announced in the welcome
	joinMs, connectMs, firstAudioMs float64
	sent, sentInWindow, sendErrors  uint64
	received                        uint64 // sum of receivedBySource
	receivedBySource                map[int]uint64
	receivedInWindow                map[int]uint64
	foreign, unrecognised           uint64
	renegotiations                  uint64
	ssrcChanges, seqGaps, seqBack   uint64
	latency                         Histogram
	errors, localErrors             []string
	slots                           []slotState // indexed by slot
}

// slotState is the continuity state of one downstream slot.
type slotState struct {
	seen bool
	ssrc uint32
	seq  uint16 // highest sequence number seen
}

// checkContinuity updates the slot's continuity counters with h. Packets
// of tracks that are no slot (slot < 0) are not checked.
func (c *counters) checkContinuity(slot int, h *rtp.Header) {
	if slot < 0 {
		return
	}
	if slot >= len(c.slots) {
		c.slots = append(c.slots, make([]slotState, slot+1-len(c.slots))...)
	}
	s := &c.slots[slot]
	switch {
	case !s.seen:
		*s = slotState{seen: true, ssrc: h.SSRC, seq: h.SequenceNumber}
	case h.SSRC != s.ssrc:
		c.ssrcChanges++
		s.ssrc, s.seq = h.SSRC, h.SequenceNumber
	default:
		d := int16(h.SequenceNumber - s.seq) // 16-bit wrap aware
		switch {
		case d == 1:
		case d > 1:
			c.seqGaps += uint64(d - 1)
		default:
			c.seqBack++
		}
		if d > 0 {
			s.seq = h.SequenceNumber
		}
	}
}

// Stats returns a copy of the bot's counters.
func (b *Bot) Stats() Stats {
	var aud []int
	if a := b.audience.Load(); a != nil && !a.all {
		aud = slices.Sorted(maps.Keys(a.set))
		if aud == nil {
			aud = []int{}
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c := &b.st
	return Stats{
		Index:                    b.cfg.Index,
		Joined:                   c.joined,
		Connected:                c.connected,
		Slots:                    c.k,
		JoinMs:                   c.joinMs,
		ConnectMs:                c.connectMs,
		FirstAudioMs:             c.firstAudioMs,
		Sent:                     c.sent,
		SentInWindow:             c.sentInWindow,
		ReceivedBySource:         maps.Clone(c.receivedBySource),
		ReceivedInWindowBySource: maps.Clone(c.receivedInWindow),
		Foreign:                  c.foreign,
		Unrecognised:             c.unrecognised,
		Renegotiations:           c.renegotiations,
		SSRCChanges:              c.ssrcChanges,
		SeqGaps:                  c.seqGaps,
		SeqBackwards:             c.seqBack,
		SendErrors:               c.sendErrors,
		Latency:                  c.latency.Clone(),
		Audience:                 aud,
		Errors:                   slices.Clone(c.errors),
		LocalErrors:              slices.Clone(c.localErrors),
		Replaced:                 c.replaced,
	}
}

// progressCounts is the cheap part of Stats, for progress lines.
type progressCounts struct {
	joined, connected bool
	received, foreign uint64
}

// progress returns the bot's progress counters without copying maps or
// the histogram.
func (b *Bot) progress() progressCounts {
	b.mu.Lock()
	defer b.mu.Unlock()
	return progressCounts{b.st.joined, b.st.connected, b.st.received, b.st.foreign}
}
