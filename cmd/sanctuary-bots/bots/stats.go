package bots

import (
	"maps"
	"slices"

	"github.com/pion/rtp"
)

// Stats is a copy of a bot's counters at one instant.
type Stats struct {
	Index         int    // the bot's index in its run
	Muted         bool   // Config.Muted: what it sends is silence, owed to nobody
	ParticipantID string // the server's id for it, from the welcome
	Joined        bool   // the server welcomed it
	Connected     bool   // its PeerConnection reached connected
	Slots         int    // K, the downstream slots the welcome announced
	// JoinMs is the time from the start of the websocket dial to the
	// welcome; AnswerMs to the first answer sent; ICEMs to ICE connected;
	// ConnectMs to the PeerConnection's connected state (DTLS up);
	// FirstAudioMs to the first packet counted in ReceivedBySource. Each is
	// 0 until it happened.
	JoinMs, AnswerMs, ICEMs, ConnectMs, FirstAudioMs float64
	// Sent counts the packets the bot sent; SentInWindow those whose send
	// time lies in the window set with SetWindow.
	Sent, SentInWindow uint64
	// FirstInWindow and LastInWindow are the counters (Signature.Counter)
	// of the first and last packet sent within the window, when
	// SentInWindow > 0. The counter advances by one per packet sent.
	FirstInWindow, LastInWindow uint32
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
	// Renegotiations counts offers after the first, ICE restarts excepted.
	// Its target is 0.
	Renegotiations uint64
	// ICERestarts counts ICE restart offers answered (see RestartICE).
	ICERestarts uint64
	// Resumes counts Resume calls that kept the PeerConnection.
	Resumes uint64
	// Redirects counts the redirects joins followed to the node that owns
	// the session (several nodes on Redis).
	Redirects uint64
	// VersionGaps counts session events whose version was not one more
	// than the one before (across resumes too). Its target is 0.
	VersionGaps uint64
	// Version is the newest session version the bot applied.
	Version uint64
	// SSRCChanges, SeqGaps and SeqBackwards describe the continuity of the
	// slots' streams: an SSRC that changed within a slot, packets missing
	// between two received ones (sequence jumps of d > 1 add d-1), and
	// packets that did not advance the sequence number.
	SSRCChanges, SeqGaps, SeqBackwards uint64
	// SendErrors counts packets the local track refused to write.
	SendErrors uint64
	// ReceiverReports counts the receiver reports the bot sent, one a
	// second per slot it hears (reports.go).
	ReceiverReports uint64
	// Latency holds send→receive times of the counted packets: all of them
	// until a window is set, then those sent within the window. A copy.
	Latency *Histogram
	// SlotRecords holds, per downstream slot, the sources the slots
	// messages named and the packets received since SetWindow: what
	// Summarize judges loss by when the bot may hear more speakers than it
	// has slots (see slotAccount). nil until a window is set; a copy.
	SlotRecords []SlotRecord
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
	answerMs, iceMs                 float64
	sent, sentInWindow, sendErrors  uint64
	receiverReports                 uint64
	firstInWindow, lastInWindow     uint32 // counters; valid when sentInWindow > 0
	received                        uint64 // sum of receivedBySource
	receivedBySource                map[int]uint64
	receivedInWindow                map[int]uint64
	foreign, unrecognised           uint64
	renegotiations, iceRestarts     uint64
	resumes, versionGaps            uint64
	redirects                       uint64
	ssrcChanges, seqGaps, seqBack   uint64
	latency                         Histogram
	errors, localErrors             []string
	slots                           []slotState // indexed by slot
	// announced holds, per slot, the two latest distinct participant ids
	// the slots messages named, oldest first.
	announced [][]string
	// records is the loss record per slot; nil while no window is set.
	records []SlotRecord
}

// slotState is the continuity state of one downstream slot.
type slotState struct {
	seen bool
	ssrc uint32
	seq  uint16     // highest sequence number seen
	last SlotPacket // the packet received last, when seen
}

// recordPacket records a packet of a slot for the loss accounting: it is
// the slot's last packet, and goes into its record while a window is set.
// Packets of tracks that are no slot (slot < 0) are not recorded.
func (c *counters) recordPacket(slot int, p SlotPacket) {
	if slot < 0 {
		return
	}
	c.slots[slot].last = p // checkContinuity made the slot's state
	if c.records == nil {
		return
	}
	if slot >= len(c.records) {
		c.records = append(c.records, make([]SlotRecord, slot+1-len(c.records))...)
	}
	c.records[slot].Packets = append(c.records[slot].Packets, p)
}

// announce records a slots message: ids[i] is slot i's participant id.
func (c *counters) announce(ids []string) {
	for i, id := range ids {
		if i >= len(c.announced) {
			c.announced = append(c.announced, nil)
		}
		a := c.announced[i]
		if len(a) > 0 && a[len(a)-1] == id {
			continue
		}
		c.announced[i] = append(a[max(len(a)-1, 0):], id)
		if c.records != nil {
			if i >= len(c.records) {
				c.records = append(c.records, make([]SlotRecord, i+1-len(c.records))...)
			}
			c.records[i].Sources = append(c.records[i].Sources, id)
		}
	}
}

// startRecords starts a fresh loss record per slot, holding the two latest
// sources announced and the last packet received on it, so that the record
// begins in the middle of its slot's stream rather than at its start.
// perSlot is the capacity given to each slot's packets.
func (c *counters) startRecords(perSlot int) {
	n := max(len(c.slots), len(c.announced), c.k)
	c.records = make([]SlotRecord, n)
	for i := range c.records {
		r := &c.records[i]
		r.Packets = make([]SlotPacket, 0, perSlot)
		if i < len(c.announced) {
			r.Sources = slices.Clone(c.announced[i])
		}
		if i < len(c.slots) && c.slots[i].seen {
			r.Packets = append(r.Packets, c.slots[i].last)
		}
	}
}

// copyRecords returns a deep copy of the loss records.
func (c *counters) copyRecords() []SlotRecord {
	if c.records == nil {
		return nil
	}
	out := make([]SlotRecord, len(c.records))
	for i, r := range c.records {
		out[i] = SlotRecord{Sources: slices.Clone(r.Sources), Packets: slices.Clone(r.Packets)}
	}
	return out
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
		Muted:                    b.cfg.Muted,
		ParticipantID:            b.participantID,
		Joined:                   c.joined,
		Connected:                c.connected,
		Slots:                    c.k,
		JoinMs:                   c.joinMs,
		AnswerMs:                 c.answerMs,
		ICEMs:                    c.iceMs,
		ConnectMs:                c.connectMs,
		FirstAudioMs:             c.firstAudioMs,
		Sent:                     c.sent,
		SentInWindow:             c.sentInWindow,
		FirstInWindow:            c.firstInWindow,
		LastInWindow:             c.lastInWindow,
		ReceivedBySource:         maps.Clone(c.receivedBySource),
		ReceivedInWindowBySource: maps.Clone(c.receivedInWindow),
		Foreign:                  c.foreign,
		Unrecognised:             c.unrecognised,
		Renegotiations:           c.renegotiations,
		ICERestarts:              c.iceRestarts,
		Resumes:                  c.resumes,
		Redirects:                c.redirects,
		VersionGaps:              c.versionGaps,
		Version:                  b.version,
		SSRCChanges:              c.ssrcChanges,
		SeqGaps:                  c.seqGaps,
		SeqBackwards:             c.seqBack,
		SendErrors:               c.sendErrors,
		ReceiverReports:          c.receiverReports,
		Latency:                  c.latency.Clone(),
		SlotRecords:              c.copyRecords(),
		Audience:                 aud,
		Errors:                   slices.Clone(c.errors),
		LocalErrors:              slices.Clone(c.localErrors),
		Replaced:                 c.replaced,
	}
}

// receivedInWindowTotal is how many packets sent within the window the bot
// received, without copying its maps.
func (b *Bot) receivedInWindowTotal() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	var n uint64
	for _, k := range b.st.receivedInWindow {
		n += k
	}
	return n
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
