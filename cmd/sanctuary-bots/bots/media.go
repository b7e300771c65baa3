package bots

import (
	"errors"
	"io"
	"math/rand/v2"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Audio level extension (RFC 6464): one byte, V bit then -dBov.
const (
	levelVoiceBit = 0x80
	levelSilence  = 127 // -dBov of digital silence
)

// readBufferBytes is the size of a track reader's buffer: one UDP datagram.
const readBufferBytes = 1500

// speak sends one signed Opus packet every 20 ms while the bot speaks. It
// starts sending once the PeerConnection is connected.
func (b *Bot) speak() {
	select {
	case <-b.connected:
	case <-b.closing:
		return
	}
	var (
		pkt     rtp.Packet
		payload = make([]byte, 0, OpusPacketBytes)
		level   [1]byte
		counter uint32
		last    time.Time // when the previous packet was sent
	)
	pkt.Version = 2
	pkt.PayloadType = opusPayloadType
	pkt.SequenceNumber = uint16(rand.Uint32())
	pkt.Timestamp = rand.Uint32()
	if id := uint8(b.extID.Load()); id != 0 {
		_ = pkt.SetExtension(id, level[:]) // 1 byte, valid id: cannot fail
	}
	ticker := time.NewTicker(packetInterval)
	defer ticker.Stop()
	marker := true      // first packet of a talkspurt
	frames := uint32(0) // frames since the last packet sent (DTX skips some)
	for {
		if !b.speaking.Load() {
			select {
			case <-b.wake:
				marker = true
				continue
			case <-b.closing:
				return
			}
		}
		select {
		case <-ticker.C:
		case <-b.wake:
			continue
		case <-b.closing:
			return
		}
		// speakMu makes SetSpeaking(false) a barrier: once it returns, no
		// packet is sent, even one whose tick had already fired, and every
		// packet sent is counted.
		b.speakMu.Lock()
		if !b.speaking.Load() {
			b.speakMu.Unlock()
			continue
		}
		frames++
		if b.cfg.Muted && b.dtx.Load() && frames < dtxEvery && !last.IsZero() {
			b.speakMu.Unlock()
			continue // Opus DTX: this frame of silence is not sent
		}
		now := time.Now()
		seq, ts := pkt.SequenceNumber, pkt.Timestamp
		if !last.IsZero() {
			pkt.SequenceNumber++
			steps := max(uint32(now.Sub(last)/packetInterval), 1)
			if !marker {
				steps = frames // a late tick is jitter, not silence; DTX skipped frames-1
			}
			pkt.Timestamp += steps * opusSamplesPerPacket
		}
		level[0] = levelByte(b.level.Load())
		sent := now.UnixNano()
		sig := Signature{RunID: b.cfg.RunID, Source: uint32(b.cfg.Index), Counter: counter, SentAt: sent}
		payload = sig.AppendOpus(payload[:0])
		pkt.Payload = payload
		pkt.Marker = marker
		err := b.track.WriteRTP(&pkt)
		if err != nil {
			// Nothing was sent: the next packet takes this one's counter and
			// sequence number, so receivers see no gap where nothing was lost.
			pkt.SequenceNumber, pkt.Timestamp = seq, ts
		} else {
			last, marker, frames = now, false, 0
			counter++
		}
		w := b.window.Load()
		b.mu.Lock()
		if err != nil {
			b.st.sendErrors++
		} else {
			b.st.sent++
			if w.contains(sent) {
				if b.st.sentInWindow == 0 {
					b.st.firstInWindow = sig.Counter
				}
				b.st.lastInWindow = sig.Counter
				b.st.sentInWindow++
			}
		}
		b.mu.Unlock()
		if err == nil && b.cfg.OnSend != nil {
			b.cfg.OnSend(sig)
		}
		b.speakMu.Unlock()
	}
}

// levelByte is the RFC 6464 audio level byte for a level in -dBov: the
// voice activity bit is set unless the level is digital silence (127).
func levelByte(dBov uint32) byte {
	l := byte(min(dBov, levelSilence))
	if l < levelSilence {
		l |= levelVoiceBit
	}
	return l
}

// onTrack starts a reader for a remote track, attributed to the slot of
// its transceiver's mid, and a reader of its receiver's RTCP.
func (b *Bot) onTrack(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	mid := ""
	for _, tr := range b.pc.GetTransceivers() {
		if tr.Receiver() == r {
			mid = tr.Mid()
		}
	}
	slot := -1
	b.mu.Lock()
	for i, m := range b.slotMids {
		if m == mid {
			slot = i
		}
	}
	b.mu.Unlock()
	if slot < 0 {
		b.localError("remote track on mid " + mid + ", which is no slot")
	}
	b.goTracked(func() { b.readTrack(t, slot) })
	b.goTracked(func() { b.readSenderReports(r.ReadRTCP, slot) })
}

// readTrack reads one remote track until it ends, with one reused buffer
// and one reused packet: nothing is allocated per packet (while a window
// is set, the slots' loss records grow by doubling).
func (b *Bot) readTrack(t *webrtc.TrackRemote, slot int) {
	buf := make([]byte, readBufferBytes)
	var pkt rtp.Packet
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				select {
				case <-b.closing:
				default:
					b.localError("read track: " + err.Error())
				}
			}
			return
		}
		now := time.Now()
		if err := pkt.Unmarshal(buf[:n]); err != nil {
			b.mu.Lock()
			b.st.unrecognised++
			b.mu.Unlock()
			continue
		}
		sig, err := ParseSignature(pkt.Payload)
		b.account(slot, &pkt.Header, sig, err == nil, now)
		if b.cfg.OnPacket != nil {
			b.cfg.OnPacket(slot, &pkt.Header, sig, err == nil)
		}
	}
}

// account counts one received packet: slot continuity, the slot's loss
// record, attribution by signature, window counts, latency and first audio.
func (b *Bot) account(slot int, h *rtp.Header, sig Signature, signed bool, now time.Time) {
	audience := b.audience.Load()
	b.mu.Lock()
	defer b.mu.Unlock()
	// Read under the lock SetWindow holds while it resets the counts, so a
	// packet is counted against the window it was counted in.
	w := b.window.Load()
	b.st.checkContinuity(slot, h)
	if slot >= 0 {
		b.receptionLocked(slot).OnRTP(h.SSRC, h.SequenceNumber, h.Timestamp, monoNs(now))
	}
	recorded := SlotPacket{Seq: h.SequenceNumber, Source: -1, Counter: sig.Counter}
	if signed && sig.RunID == b.cfg.RunID {
		recorded.Source = int32(sig.Source)
	}
	b.st.recordPacket(slot, recorded)
	if !signed {
		b.st.unrecognised++
		return
	}
	src := int(sig.Source)
	if sig.RunID != b.cfg.RunID || src == b.cfg.Index || !audience.expects(src, sig.SentAt, now.UnixNano()) {
		b.st.foreign++
		return
	}
	b.st.received++
	b.st.receivedBySource[src]++
	inWindow := w.contains(sig.SentAt)
	if inWindow {
		b.st.receivedInWindow[src]++
	}
	if w == nil || inWindow {
		b.st.latency.Record(now.Sub(time.Unix(0, sig.SentAt)))
	}
	if b.st.firstAudioMs == 0 {
		b.st.firstAudioMs = ms(now.Sub(b.start))
		if b.st.connectMs == 0 || b.st.connectMs > b.st.firstAudioMs {
			// pion reports "connected" from another goroutine, a moment
			// after SRTP can already carry a packet: media proves it.
			b.st.connectMs = b.st.firstAudioMs
		}
	}
}
