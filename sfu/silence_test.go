package sfu

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/transport/v5/test"
)

func TestSilentLevel(t *testing.T) {
	for _, c := range []struct {
		level  byte
		silent bool
	}{
		{127, true}, {0x80 | 127, true}, {122, true}, // the voice bit does not count
		{121, false}, {60, false}, {0, false}, {0x80 | 30, false},
	} {
		if got := silentLevel(c.level); got != c.silent {
			t.Errorf("silentLevel(%#x) = %v, want %v", c.level, got, c.silent)
		}
	}
}

// TestOfferAsksForOpusDTX: the offer asks the client to send with Opus
// DTX on the m-line of its microphone (RFC 7587 usedtx): browsers then send
// a packet every few hundred milliseconds in silence instead of 50 a
// second (BENCHMARKS.md, "Opus DTX"). With NoDTX it does not, and the
// other Opus parameters are the same either way.
func TestOfferAsksForOpusDTX(t *testing.T) {
	for _, noDTX := range []bool{false, true} {
		_, r, closeRouter := newTestRouter(t, Config{LoopbackOnly: true, NoDTX: noDTX, Logger: slog.New(slog.DiscardHandler)}, 2)
		params := upstreamFmtp(t, offerOf(t, r, "p"))
		closeRouter()
		got := strings.Split(params, ";")
		if slices.Contains(got, "usedtx=1") == noDTX || !slices.Contains(got, "minptime=10") || !slices.Contains(got, "useinbandfec=1") {
			t.Fatalf("NoDTX %v: the microphone's Opus fmtp is %q", noDTX, params)
		}
	}
}

// upstreamFmtp returns the Opus fmtp parameters of the offer's microphone
// m-line.
func upstreamFmtp(t *testing.T, o Offer) string {
	t.Helper()
	var d sdp.SessionDescription
	if err := d.UnmarshalString(o.SDP); err != nil {
		t.Fatal(err)
	}
	for _, m := range d.MediaDescriptions {
		if mid, _ := m.Attribute("mid"); mid != o.UpstreamMid {
			continue
		}
		fmtp, _ := m.Attribute("fmtp")
		params, ok := strings.CutPrefix(fmtp, "111 ")
		if !ok {
			t.Fatalf("the microphone's m-line has fmtp %q, not Opus's (111)", fmtp)
		}
		return params
	}
	t.Fatalf("no m-line with the upstream mid %q in the offer", o.UpstreamMid)
	return ""
}

// TestHoldSilence: the first half second of a silent run (by the RTP
// clock) goes out, the rest is held back until a packet that is not
// silent, and each run held back counts once in spurt; the same whether
// the client sends a packet every 20 ms or, with DTX, one in 400 ms.
func TestHoldSilence(t *testing.T) {
	var s source
	var ts uint32
	// run reads n packets, every frames*20 ms, and counts those held back.
	run := func(silent bool, n int, frames uint32) (held int) {
		for range n {
			ts += frames * frameTicks
			if s.holdSilence(silent, ts) {
				held++
			}
		}
		return held
	}
	if held := run(false, 10, 1); held != 0 {
		t.Errorf("%d of 10 voiced packets held back", held)
	}
	if held := run(true, 25, 1); held != 0 || s.spurt != 0 {
		t.Errorf("the hangover: %d of 25 silent packets held back, spurt %d; want 0, 0", held, s.spurt)
	}
	if held := run(true, 100, 1); held != 100 || s.spurt != 1 {
		t.Errorf("after the hangover: %d of 100 held back, spurt %d; want 100, 1", held, s.spurt)
	}
	if held := run(false, 1, 1); held != 0 {
		t.Error("the first voiced packet after silence was held back")
	}
	// A pause shorter than the hangover loses nothing and starts no spurt.
	if held := run(true, 24, 1) + run(false, 1, 1); held != 0 || s.spurt != 1 {
		t.Errorf("a short pause: %d held back, spurt %d; want 0, 1", held, s.spurt)
	}
	if held := run(true, 28, 1); held != 3 || s.spurt != 2 {
		t.Errorf("a second run: %d held back, spurt %d; want 3, 2", held, s.spurt)
	}
	// Opus DTX: a packet every 400 ms. The run's first two (0 and 400 ms)
	// go out, the rest of the half second's worth is held back.
	run(false, 1, 1)
	if held := run(true, 10, 20); held != 8 || s.spurt != 3 {
		t.Errorf("DTX: %d of 10 held back, spurt %d; want 8, 3", held, s.spurt)
	}
	// The clock going back starts the run again rather than holding it for good.
	run(false, 1, 1)
	run(true, 5, 1)
	ts -= 100 * frameTicks
	if held := run(true, 25, 1); held != 0 || s.spurt != 3 {
		t.Errorf("after the clock went back: %d of 25 held back, spurt %d; want 0, 3", held, s.spurt)
	}
}

// TestLoudnessStepsByTheSourceClock: the smoothing steps per 20 ms frame
// of RTP time, so a voice fading into Opus DTX (one packet in 400 ms)
// fades as it does at a packet every 20 ms, exactly; a gap longer than
// dtxMaxFrames, or a timestamp going back, steps once.
func TestLoudnessStepsByTheSourceClock(t *testing.T) {
	voice := func(s *source) uint32 {
		for i := range uint32(50) {
			s.observeLevel(20, 1000+i*frameTicks)
		}
		return s.levelTS
	}
	var every, dtx source
	ts := voice(&every)
	voice(&dtx)
	// 820 ms of silence: 41 packets, or with DTX the first frame of
	// silence, then one packet every 20 frames (400 ms): 3.
	for i := uint32(1); i <= 41; i++ {
		every.observeLevel(100, ts+i*frameTicks)
		if i == 1 || (i-1)%20 == 0 {
			dtx.observeLevel(100, ts+i*frameTicks)
		}
	}
	if got, want := dtx.loudness.Load(), every.loudness.Load(); got != want {
		t.Errorf("after 820 ms of silence: loudness %d with DTX, %d at a packet every 20 ms", got, want)
	}
	if got := dtx.loudness.Load(); got >= quietBelow+(127-100)*loudnessScale {
		t.Errorf("a voice did not fade to within 6 dB of the silence in 820 ms of DTX: loudness %d", got)
	}

	// A voice, a frame of silence, then a gap of a minute (the client
	// stopped sending): the gap's frames are not taken for that silence,
	// and the next packet steps once; so does a packet whose timestamp
	// went back.
	for _, next := range []uint32{ts + 60*50*frameTicks, ts - 10*frameTicks} {
		var s, once source
		for _, x := range []*source{&s, &once} {
			voice(x)
			x.observeLevel(127, ts+frameTicks)
		}
		s.observeLevel(127, next)
		once.observeLevel(127, ts+2*frameTicks)
		if got, want := s.loudness.Load(), once.loudness.Load(); got != want {
			t.Errorf("after a gap to timestamp %d: loudness %d, want %d (one step)", next, got, want)
		}
	}
}

// hangoverPackets is the hangover in packets of 20 ms, as testClient sends.
const hangoverPackets = silenceHangover / frameTicks

// TestMutedSilenceIsHeldBack: with real pion peers, a speaker who mutes
// and keeps sending digital silence, as browsers do, reaches a listener
// for the hangover only; when it talks again the listener's slot goes on
// with the next sequence number, the source's own timestamps (the time
// held back included) and the marker bit: a talkspurt, no loss. A speaker
// whose packets carry no audio level is never held back.
func TestMutedSilenceIsHeldBack(t *testing.T) {
	lim := test.TimeOut(30 * time.Second)
	defer lim.Stop()
	defer test.CheckRoutines(t)()

	e, r, closeRouter := newTestRouter(t, Config{LoopbackOnly: true}, 3)
	defer closeRouter()
	api := newTestAPI(t)
	a, _ := connect(t, api, r, "a", 'a')
	b, _ := connect(t, api, r, "b", 'b')
	c, _ := connect(t, api, r, "c", 'c')
	d, _ := connect(t, api, r, "d", 'd')
	defer a.close()
	defer b.close()
	defer c.close()
	defer d.close()
	all := map[string]string{"a": "g", "b": "g", "c": "g", "d": "g"}
	r.SetRouting(1, Routing{Hear: all, Speak: all})
	a.speak(30)
	b.speak(30)
	d.noLevel = true
	d.speak(127)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	waitFor(ctx, t, "c to hear a and b", func() bool { return c.count('a') > 10 && c.count('b') > 10 })

	// Every packet b sends after bMuted is silent (setLevel is stored
	// before sending is read; speak stores sending before it reads the
	// level).
	b.setLevel(127)
	bMuted := uint16(b.sending.Load())
	waitFor(ctx, t, "b to send the hangover and 50 packets more", func() bool {
		return b.sentSince(bMuted, hangoverPackets+50)
	})
	aLater := uint16(a.sending.Load())
	waitFor(ctx, t, "c to hear a packet a sent later", func() bool { return c.heardAfter('a', aLater) })
	heard := 0
	c.mu.Lock()
	for _, p := range c.got {
		if p.src == 'b' && int16(p.srcSeq-bMuted) > 0 {
			heard++
		}
	}
	c.mu.Unlock()
	// The run began at bMuted or the packet after it.
	if heard < hangoverPackets-1 || heard > hangoverPackets {
		t.Errorf("c heard %d of b's packets sent after it muted, want the hangover, %d (or one fewer)", heard, hangoverPackets)
	}
	if n := e.Stats().SilenceHeld; n < 50 {
		t.Errorf("the engine counts %d packets of silence held back, want 50 or more", n)
	}

	b.setLevel(30)
	bTalks := uint16(b.sending.Load())
	waitFor(ctx, t, "c to hear b talk again", func() bool { return c.heardAfter('b', bTalks+10) })
	waitFor(ctx, t, "c to hear d, which sends no level, well past the hangover", func() bool {
		return c.count('d') > hangoverPackets+50
	})

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.jumps != 0 || c.ssrcChg != 0 {
		t.Errorf("c's slots: %d sequence discontinuities, %d SSRC changes; want none", c.jumps, c.ssrcChg)
	}
	// On b's slot, packet after packet: the timestamp moves as b's own
	// (960 a packet), and the marker is set exactly where packets were
	// held back.
	var prev *received
	spurts := 0
	for i := range c.got {
		p := &c.got[i]
		if p.src != 'b' {
			continue
		}
		if prev != nil && p.slot == prev.slot {
			step := p.srcSeq - prev.srcSeq
			if p.ts-prev.ts != uint32(step)*960 {
				t.Errorf("b's packet %d after %d: timestamp step %d, want %d", p.srcSeq, prev.srcSeq, p.ts-prev.ts, uint32(step)*960)
			}
			if p.marker != (step > 1) {
				t.Errorf("b's packet %d after %d: marker %v", p.srcSeq, prev.srcSeq, p.marker)
			}
			if step > 1 {
				spurts++
			}
		}
		prev = p
	}
	if spurts != 1 {
		t.Errorf("b's slot at c resumed %d times after silence, want 1", spurts)
	}
}
