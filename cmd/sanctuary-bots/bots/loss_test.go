package bots

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/transport/v5/test"
)

// pk is a packet of source src (-1: unsigned) with counter c on a slot
// stream at sequence number seq.
func pk(seq uint16, src int32, c uint32) SlotPacket {
	return SlotPacket{Seq: seq, Source: src, Counter: c}
}

// run returns the packets of src with counters from..to on consecutive
// sequence numbers from seq, skipping the counters in lost (which still
// take their sequence numbers).
func run(seq uint16, src int32, from, to uint32, lost ...uint32) []SlotPacket {
	var out []SlotPacket
	for c := from; c <= to; c++ {
		if !slices.Contains(lost, c) {
			out = append(out, pk(seq, src, c))
		}
		seq++
	}
	return out
}

// spans lists a counter set as [lo hi] pairs.
func spans(s counterSet) string {
	out := ""
	for _, sp := range s.spans {
		out += fmt.Sprintf("[%d %d]", sp.lo, sp.hi)
	}
	return out
}

// Participant ids p1..p4 are bots 1..4.
var testPids = map[string]int{"p1": 1, "p2": 2, "p3": 3, "p4": 4}

func TestSlotAccount(t *testing.T) {
	for _, tc := range []struct {
		name    string
		recs    []SlotRecord
		owed    map[int]string // source → owed spans
		got     map[int]uint64 // source → counters received
		unowned []int          // sources that must have no entry at all
	}{{
		name: "a gap inside a run is loss",
		recs: []SlotRecord{{Sources: []string{"p1"}, Packets: run(10, 1, 100, 109, 103, 104)}},
		owed: map[int]string{1: "[100 109]"}, got: map[int]uint64{1: 8},
	}, {
		name: "sources never in a slot are owed nothing",
		recs: []SlotRecord{
			{Sources: []string{"p1"}, Packets: run(10, 1, 100, 104)},
			{Sources: []string{"p2"}, Packets: run(500, 2, 7, 11)},
		},
		owed: map[int]string{1: "[100 104]", 2: "[7 11]"}, got: map[int]uint64{1: 5, 2: 5},
		unowned: []int{3, 4},
	}, {
		// 1 fills the slot, then 2: 1's packets after the switch are not
		// owed, and 2's before it neither.
		name: "a clean switch owes nothing across it",
		recs: []SlotRecord{{Sources: []string{"p1", "p2"},
			Packets: append(run(10, 1, 100, 104), run(15, 2, 40, 44)...)}},
		owed: map[int]string{1: "[100 104]", 2: "[40 44]"}, got: map[int]uint64{1: 5, 2: 5},
	}, {
		// A source that stops sending spends neither counters nor sequence
		// numbers: when it resumes (or a fresh source replaces it once it
		// went stale), nothing is missing.
		name: "a source that pauses",
		recs: []SlotRecord{{Sources: []string{"p1"},
			Packets: append(run(10, 1, 100, 104), run(15, 1, 105, 107)...)}},
		owed: map[int]string{1: "[100 107]"}, got: map[int]uint64{1: 8},
	}, {
		// Sequence numbers 15 and 16 are missing at the switch: two packets
		// lost, counted as 2's first ones.
		name: "a gap at a switch is loss",
		recs: []SlotRecord{{Sources: []string{"p1", "p2"},
			Packets: append(run(10, 1, 100, 104), run(17, 2, 42, 44)...)}},
		owed: map[int]string{1: "[100 104]", 2: "[40 44]"}, got: map[int]uint64{1: 5, 2: 3},
	}, {
		// The old source's last packet arrives after the new source's first
		// (and whenever the slots message came): in sequence order it is
		// before the switch, so nothing is lost.
		name: "packets in flight across a switch",
		recs: []SlotRecord{{Sources: []string{"p1", "p2"},
			Packets: []SlotPacket{pk(10, 1, 100), pk(12, 2, 40), pk(11, 1, 101), pk(13, 2, 41)}}},
		owed: map[int]string{1: "[100 101]", 2: "[40 41]"}, got: map[int]uint64{1: 2, 2: 2},
	}, {
		// 1 left for 2 and came back; all of 2's three packets were lost.
		// The sequence numbers skip 3 packets while 1 sent 10: the 3 are
		// lost, the other 7 were rightly not forwarded.
		name: "a source that left and came back",
		recs: []SlotRecord{{Sources: []string{"p1", "p2", "p1"},
			Packets: []SlotPacket{pk(10, 1, 100), pk(14, 1, 110), pk(15, 1, 111)}}},
		owed: map[int]string{1: "[100 100][107 111]"}, got: map[int]uint64{1: 3},
	}, {
		// The same packets with no switch announced: the server dropped
		// 9 packets of the run without spending sequence numbers.
		name: "a drop the sequence numbers do not show",
		recs: []SlotRecord{{Sources: []string{"p1"},
			Packets: []SlotPacket{pk(10, 1, 100), pk(14, 1, 110), pk(15, 1, 111)}}},
		owed: map[int]string{1: "[100 111]"}, got: map[int]uint64{1: 3},
	}, {
		name: "sequence numbers wrap",
		recs: []SlotRecord{{Sources: []string{"p3"}, Packets: run(65533, 3, 0, 5, 3)}},
		owed: map[int]string{3: "[0 5]"}, got: map[int]uint64{3: 5},
	}, {
		// An unsigned packet takes its sequence number: no gap around it.
		name: "an unsigned packet",
		recs: []SlotRecord{{Sources: []string{"p1"},
			Packets: []SlotPacket{pk(10, 1, 100), pk(11, -1, 0), pk(12, 1, 101)}}},
		owed: map[int]string{1: "[100 101]"}, got: map[int]uint64{1: 2},
	}, {
		// Three packets lost at a switch to a source whose first packet
		// received is its second: one is its first, two the old one's last.
		name: "a gap at a switch longer than the new source's past",
		recs: []SlotRecord{{Sources: []string{"p1", "p2"},
			Packets: []SlotPacket{pk(10, 1, 100), pk(14, 2, 1)}}},
		owed: map[int]string{1: "[100 102]", 2: "[0 1]"}, got: map[int]uint64{1: 1, 2: 1},
	}, {
		// Nothing announced (messages not recorded): runs are still runs.
		name: "no slots messages",
		recs: []SlotRecord{{Packets: append(run(10, 1, 100, 102, 101), run(13, 4, 9, 9)...)}},
		owed: map[int]string{1: "[100 102]", 4: "[9 9]"}, got: map[int]uint64{1: 2, 4: 1},
	}, {
		name: "a duplicate counts once",
		recs: []SlotRecord{{Sources: []string{"p1"}, Packets: []SlotPacket{pk(10, 1, 100), pk(10, 1, 100), pk(11, 1, 101)}}},
		owed: map[int]string{1: "[100 101]"}, got: map[int]uint64{1: 2},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			acct := slotAccount(tc.recs, testPids)
			if len(acct) != len(tc.owed) {
				t.Fatalf("sources %v, want %v", slices.Sorted(maps.Keys(acct)), slices.Sorted(maps.Keys(tc.owed)))
			}
			for src, want := range tc.owed {
				c := acct[src]
				if c == nil {
					t.Fatalf("source %d: nothing owed, want %s", src, want)
				}
				if got := spans(c.owed); got != want {
					t.Errorf("source %d owed %s, want %s", src, got, want)
				}
				if n := c.got.count(0, math.MaxUint32); n != tc.got[src] {
					t.Errorf("source %d received %d, want %d", src, n, tc.got[src])
				}
				for _, sp := range c.got.spans { // every counter received is owed
					if c.owed.count(sp.lo, sp.hi) != uint64(sp.hi-sp.lo+1) {
						t.Errorf("source %d: received %d..%d not all owed", src, sp.lo, sp.hi)
					}
				}
			}
			for _, src := range tc.unowned {
				if acct[src] != nil {
					t.Errorf("source %d owed %s", src, spans(acct[src].owed))
				}
			}
		})
	}
}

func TestCounterSet(t *testing.T) {
	var s counterSet
	for _, a := range [][2]int64{{10, 12}, {20, 20}, {13, 14}, {1, 2}, {16, 18}, {15, 15}, {30, 29}, {0, 40}} {
		s.add(a[0], a[1])
		for i := 1; i < len(s.spans); i++ {
			if s.spans[i].lo <= s.spans[i-1].hi+1 {
				t.Fatalf("after %v: spans %s overlap or touch", a, spans(s))
			}
		}
	}
	if got := spans(s); got != "[0 40]" {
		t.Fatalf("spans %s", got)
	}
	s = counterSet{}
	s.add(1, 3)
	s.add(7, 9)
	s.add(5, 5)
	if spans(s) != "[1 3][5 5][7 9]" || s.count(2, 8) != 5 || s.count(4, 4) != 0 || !s.has(5) || s.has(6) {
		t.Fatalf("spans %s count(2,8) %d", spans(s), s.count(2, 8))
	}
}

// Five bots, K = 2. Bots 1..4 speak. Bot 0 listens to all four: more than
// its slots, so it is owed what its slots carried: slot 0 carried 1 (one
// packet lost inside the run), slot 1 carried 2 and then 3 (one packet lost
// at the switch). Bot 4 was never in a slot: owed nothing. Bot 1 hears only
// 2 and 3 (no more than K): every packet of both, strictly, though it
// missed some.
func TestSummarizeOwesWhatTheSlotsCarried(t *testing.T) {
	speaker := func(i int, first, last uint32) Stats {
		return Stats{Index: i, ParticipantID: fmt.Sprintf("p%d", i), Joined: true, Connected: true, Slots: 2,
			Sent: uint64(last + 10), SentInWindow: uint64(last - first + 1), FirstInWindow: first, LastInWindow: last,
			Audience: []int{}}
	}
	// The window holds counters 100..149 of every speaker.
	stats := []Stats{
		{Index: 0, ParticipantID: "p0", Joined: true, Connected: true, Slots: 2,
			SlotRecords: []SlotRecord{
				// Counters 90..160 of 1: the record runs past both window
				// edges; 120 is lost.
				{Sources: []string{"p1"}, Packets: run(1000, 1, 90, 160, 120)},
				// 2 until counter 129, then 3 from its 130: sequence numbers
				// 40 (2's 130) and 41 (3's 130) are lost at the switch, and
				// counted as 3's 129 and 130.
				{Sources: []string{"p2", "p3"}, Packets: append(run(0, 2, 90, 129), run(42, 3, 131, 160)...)},
			},
			ReceivedInWindowBySource: map[int]uint64{1: 49, 2: 30, 3: 19}},
		speaker(1, 100, 149),
		speaker(2, 100, 149),
		speaker(3, 100, 149),
		speaker(4, 100, 149),
	}
	stats[1].Audience = []int{2, 3} // bot 1 hears 2 and 3 only
	stats[1].ReceivedInWindowBySource = map[int]uint64{2: 50, 3: 45}
	r := Summarize(stats, time.Second)
	// Bot 0: 1's 100..149 (50, 49 received) + 2's 100..129 (30, 30) + 3's
	// 129..149 (21, 19). Bot 1: 2's and 3's 50 each (100, 95).
	if r.PacketsExpected != 50+30+21+100 || r.PacketsReceived != 49+30+19+95 {
		t.Fatalf("expected %d received %d, want %d and %d", r.PacketsExpected, r.PacketsReceived,
			50+30+21+100, 49+30+19+95)
	}
	if want := 100 * 8.0 / 201; math.Abs(r.LossPct-want) > 1e-9 {
		t.Fatalf("loss %.4f%%, want %.4f%%", r.LossPct, want)
	}
}

// In a breakout run, a listener is owed every packet while its room holds
// no more speakers than it has slots, and what its slots carried while it
// holds more: here speaker 4 is in room a over [300, 600), when listener 1
// (K = 2) may hear 2, 3 and 4.
func TestSettledLossFollowsCrowding(t *testing.T) {
	ms := func(v int64) int64 { return v * int64(time.Millisecond) }
	every20 := func(from, to int64) []int64 {
		var out []int64
		for v := from; v < to; v += 20 {
			out = append(out, ms(v))
		}
		return out
	}
	always := segment{room: "a", from: 0, to: math.MaxInt64}
	lr := &lossRecord{
		segs: map[int][]segment{1: {always}, 2: {always}, 3: {always}, 4: {{room: "a", from: ms(300), to: ms(600)}}},
		presence: map[int][]segment{1: {always}, 2: {always}, 3: {always},
			4: {{room: "b", from: 0, to: ms(320)}, {room: "a", from: ms(300), to: ms(620)}, {room: "b", from: ms(600), to: math.MaxInt64}}},
		k:    map[int]int{1: 2},
		sent: map[int][]int64{2: every20(0, 1000), 3: every20(0, 1000), 4: every20(0, 1000)},
		recv: map[int]map[int][]int64{1: {
			// Strictly owed, 2 and 3 over [0, 300) and [620, 1000): one of
			// 3's packets lost at 700.
			2: every20(0, 1000),
			3: slices.DeleteFunc(every20(0, 1000), func(v int64) bool { return v == ms(700) }),
			4: every20(300, 600),
		}},
		// While crowded, the slots carried 2 and 4, one of 4's lost at 400;
		// 3 not at all.
		owed: map[int]map[int][]int64{1: {2: every20(300, 620), 4: every20(300, 600)}},
		got: map[int]map[int][]int64{1: {2: every20(300, 620),
			4: slices.DeleteFunc(every20(300, 600), func(v int64) bool { return v == ms(400) })}},
	}
	exp, got := settledLoss(lr, []int{1})
	// 2: 50 owed (strict 15 + 19 + crowded 16), 50 received. 3: strict
	// 15 + 19 = 34, 33 received. 4: crowded 15, 14 received.
	if exp != 50+34+15 || got != 50+33+14 {
		t.Fatalf("expected %d received %d, want %d and %d", exp, got, 50+34+15, 50+33+14)
	}
	if p := crowding(lr, 1, "a", 0, ms(1000)); len(p) != 3 || !p[1].crowded || p[1].from != ms(300) || p[1].to != ms(620) {
		t.Fatalf("pieces %+v", p)
	}
}

// A moved bot may be in its new room from settleGuard before the command
// was sent (a packet sent then may reach the server after it re-routed)
// and in its old one until the answer; with no answer, in both from then on.
func TestPresenceOfAMovedBot(t *testing.T) {
	t0 := time.Unix(100, 0)
	br := &breakoutRun{presence: map[int][]segment{1: {{room: "a", from: 0, to: math.MaxInt64}}}}
	br.present(1, "b", t0, t0.Add(30*time.Millisecond))
	br.present(1, "c", t0.Add(time.Second), time.Time{})
	ns := func(d time.Duration) int64 { return t0.Add(d).UnixNano() }
	want := []segment{
		{room: "a", from: 0, to: ns(30 * time.Millisecond)},
		{room: "b", from: ns(-settleGuard), to: math.MaxInt64},
		{room: "c", from: ns(time.Second - settleGuard), to: math.MaxInt64},
	}
	if !slices.Equal(br.presence[1], want) {
		t.Fatalf("presence %+v, want %+v", br.presence[1], want)
	}
}

// A bot records, from SetWindow on, the sources the slots messages name
// and the packets of each slot, starting from where each slot's stream and
// announcements stood.
func TestBotRecordsSlots(t *testing.T) {
	b := &Bot{cfg: Config{Index: 0, RunID: 9}, start: time.Now()}
	b.st.receivedBySource = map[int]uint64{}
	b.st.receivedInWindow = map[int]uint64{}
	slots := func(ids string) { b.handle([]byte(`{"type":"slots","slots":` + ids + `}`)) }
	packet := func(slot int, seq uint16, src uint32, c uint32) {
		b.account(slot, &rtp.Header{SSRC: uint32(slot + 1), SequenceNumber: seq},
			Signature{RunID: 9, Source: src, Counter: c, SentAt: time.Now().UnixNano()}, true, time.Now())
	}
	slots(`["", ""]`)
	slots(`["p1", ""]`)
	packet(0, 10, 1, 100)
	slots(`["p1", "p2"]`)
	slots(`["p3", "p2"]`)
	packet(0, 11, 1, 101)
	if st := b.Stats(); st.SlotRecords != nil {
		t.Fatalf("records before a window: %+v", st.SlotRecords)
	}
	now := time.Now()
	b.SetWindow(now, now.Add(time.Second))
	packet(0, 12, 3, 7)
	slots(`["p3", "p2"]`) // no change
	slots(`["p3", ""]`)
	packet(1, 50, 2, 20)
	b.account(1, &rtp.Header{SSRC: 2, SequenceNumber: 51}, Signature{}, false, time.Now())
	packet(1, 52, 4, 30)
	// A packet of another run takes its sequence number, with no source.
	b.account(1, &rtp.Header{SSRC: 2, SequenceNumber: 53}, Signature{RunID: 8, Source: 1, Counter: 5}, true, time.Now())
	got := b.Stats().SlotRecords
	want := []SlotRecord{
		{Sources: []string{"p1", "p3"}, Packets: []SlotPacket{pk(11, 1, 101), pk(12, 3, 7)}},
		{Sources: []string{"", "p2", ""}, Packets: []SlotPacket{pk(50, 2, 20), pk(51, -1, 0), pk(52, 4, 30), pk(53, -1, 5)}},
	}
	if len(got) != len(want) {
		t.Fatalf("records %+v", got)
	}
	for i := range want {
		if !slices.Equal(got[i].Sources, want[i].Sources) || !slices.Equal(got[i].Packets, want[i].Packets) {
			t.Errorf("slot %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

// A whole run against a real server with more speakers than slots: four
// speakers, K = 2. Every listener is owed the two loudest it may hear, and
// gets them; the quietest speaker is in nobody's slots and owed to nobody.
// The old rule (every speaker's every packet) would have expected
// 4 × sent and found half of it lost.
func TestRunMoreSpeakersThanSlots(t *testing.T) {
	lim := test.TimeOut(60 * time.Second)
	defer lim.Stop()
	defer test.CheckRoutines(t)()
	srv := newTestServer(t, 2)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	rep, err := Run(ctx, RunConfig{
		URL: srv.wsURL(), Secret: testSecret, Bots: 5, Speakers: 4, LoopbackOnly: true,
		Duration: 1500 * time.Millisecond, Warmup: 300 * time.Millisecond, JoinConcurrency: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", rep)
	if rep.Slots != 2 || rep.Connected != 5 || rep.Speakers != 4 || len(rep.Failures) != 0 {
		t.Fatalf("%+v", rep)
	}
	// Speakers 0..3, loudest first. Listeners 2, 3 and 4 are owed 0 and 1;
	// 0 is owed 1 and 2; 1 is owed 0 and 2: 4·s0 + 4·s1 + 2·s2, about
	// 2.5 × sent, at most 3 × sent while the speakers send alike.
	if rep.PacketsSent == 0 || rep.PacketsExpected == 0 || rep.PacketsExpected > 3*rep.PacketsSent ||
		rep.LossPct >= 1 || rep.ForeignPackets != 0 {
		t.Fatalf("sent %d expected %d received %d loss %.2f%% foreign %d", rep.PacketsSent,
			rep.PacketsExpected, rep.PacketsReceived, rep.LossPct, rep.ForeignPackets)
	}
}
