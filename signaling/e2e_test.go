package signaling_test

import (
	"context"
	"testing"
	"time"

	"github.com/sanctuary-sfu/sanctuary/cmd/sanctuary-bots/bots"
)

// Six participants, K=3, three of them speaking: every listener receives
// every speaker it may hear (speakers hear the two others), nobody hears
// itself, and there is no SDP exchange after the first.
func TestE2ESixParticipantsThreeSpeakers(t *testing.T) {
	if testing.Short() {
		t.Skip("media end-to-end test")
	}
	h := newHarness(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var bs []*bots.Bot
	for i := range 6 {
		bs = append(bs, h.dial(ctx, "six", i, i < 3, uint8(20+10*i)))
	}
	waitConnected(ctx, t, bs...)
	eventually(ctx, t, "every listener hears every speaker", func() bool {
		for _, b := range bs {
			got := b.Stats().ReceivedBySource
			for s := range 3 {
				if s != b.Index() && got[s] == 0 {
					return false
				}
			}
		}
		return true
	})

	// Over a window that starts once media flows, every listener gets every
	// packet each speaker sent in it.
	stats := measure(ctx, t, bs, 3*time.Second, func(l, s int) bool { return s < 3 })
	for _, st := range stats {
		for s := range 3 {
			if s == st.Index {
				continue
			}
			sent, got := stats[s].SentInWindow, st.ReceivedInWindowBySource[s]
			if sent == 0 || got != sent {
				t.Errorf("bot %d got %d of the %d packets speaker %d sent in the window", st.Index, got, sent, s)
			}
		}
	}
}

// K=2 with four speakers at different loudness: a listener receives the two
// loudest; when loudness changes the slots switch, and each slot's stream
// stays one continuous stream (same SSRC, no sequence jump).
func TestE2ELoudestSpeakersFillTheSlots(t *testing.T) {
	if testing.Short() {
		t.Skip("media end-to-end test")
	}
	h := newHarness(t, 2, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	levels := []uint8{20, 30, 40, 50} // -dBov: speaker 0 loudest
	var speakers []*bots.Bot
	for i, l := range levels {
		speakers = append(speakers, h.dial(ctx, "loud", i, true, l))
	}
	listener := h.dial(ctx, "loud", 4, false, 127)
	waitConnected(ctx, t, append(speakers, listener)...)

	// assertHears waits for the slots to settle on want, then checks that
	// over one second the listener hears exactly the speakers in want.
	assertHears := func(want ...int) {
		t.Helper()
		eventually(ctx, t, "slots settle", func() bool {
			before := listener.Stats().ReceivedBySource
			time.Sleep(300 * time.Millisecond)
			got := received(listener, before)
			for s := range levels {
				if wanted := contains(want, s); wanted != (got[s] > 0) {
					return false
				}
			}
			return true
		})
		// Over a one-second window, the listener gets every packet the
		// wanted speakers sent in it and none of the others'.
		all := append([]*bots.Bot{listener}, speakers...)
		st := measure(ctx, t, all, time.Second, func(l, s int) bool { return l == listener.Index() && contains(want, s) })
		for s := range levels {
			got, sent := st[listener.Index()].ReceivedInWindowBySource[s], st[s].SentInWindow
			switch {
			case contains(want, s) && (sent == 0 || got != sent):
				t.Errorf("speaker %d (wanted) sent %d packets in the window, the listener got %d", s, sent, got)
			case !contains(want, s) && got != 0:
				t.Errorf("speaker %d (not among the %d loudest) reached the listener %d times", s, len(want), got)
			}
		}
	}
	assertHears(0, 1)

	speakers[3].SetLevel(5)  // now the loudest
	speakers[0].SetLevel(60) // now the quietest
	assertHears(1, 3)

	switches := h.engine.Stats().SlotSwitches
	if switches == 0 {
		t.Error("no slot switch counted")
	}
	st := listener.Stats()
	if st.SSRCChanges != 0 || st.SeqBackwards != 0 || st.SeqGaps != 0 {
		t.Errorf("slot streams not continuous across switches: %d SSRC changes, %d backwards, %d gaps",
			st.SSRCChanges, st.SeqBackwards, st.SeqGaps)
	}
	if st.Renegotiations != 0 || st.Foreign != 0 {
		t.Errorf("%d renegotiations, %d foreign packets", st.Renegotiations, st.Foreign)
	}
}

func contains(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
