package sfu

import (
	"context"
	"testing"
	"time"

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

// TestHoldSilence: the first silenceHangover packets of a silent run go
// out, the rest are held back until a packet that is not silent, and each
// run held back counts once in spurt.
func TestHoldSilence(t *testing.T) {
	var s source
	run := func(silent bool, n int) (held int) {
		for range n {
			if s.holdSilence(silent) {
				held++
			}
		}
		return held
	}
	if held := run(false, 10); held != 0 {
		t.Errorf("%d of 10 voiced packets held back", held)
	}
	if held := run(true, silenceHangover); held != 0 || s.spurt != 0 {
		t.Errorf("the hangover: %d of %d silent packets held back, spurt %d; want 0, 0", held, silenceHangover, s.spurt)
	}
	if held := run(true, 100); held != 100 || s.spurt != 1 {
		t.Errorf("after the hangover: %d of 100 held back, spurt %d; want 100, 1", held, s.spurt)
	}
	if held := run(false, 1); held != 0 {
		t.Error("the first voiced packet after silence was held back")
	}
	// A pause shorter than the hangover loses nothing and starts no spurt.
	if held := run(true, silenceHangover-1) + run(false, 1); held != 0 || s.spurt != 1 {
		t.Errorf("a short pause: %d held back, spurt %d; want 0, 1", held, s.spurt)
	}
	if held := run(true, silenceHangover+3); held != 3 || s.spurt != 2 {
		t.Errorf("a second run: %d held back, spurt %d; want 3, 2", held, s.spurt)
	}
}

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
		return b.sentSince(bMuted, silenceHangover+50)
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
	if heard < silenceHangover-1 || heard > silenceHangover {
		t.Errorf("c heard %d of b's packets sent after it muted, want the hangover, %d (or one fewer)", heard, silenceHangover)
	}
	if n := e.Stats().SilenceHeld; n < 50 {
		t.Errorf("the engine counts %d packets of silence held back, want 50 or more", n)
	}

	b.setLevel(30)
	bTalks := uint16(b.sending.Load())
	waitFor(ctx, t, "c to hear b talk again", func() bool { return c.heardAfter('b', bTalks+10) })
	waitFor(ctx, t, "c to hear d, which sends no level, well past the hangover", func() bool {
		return c.count('d') > silenceHangover+50
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
