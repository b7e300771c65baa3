package bots

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pion/transport/v5/test"

	"github.com/sanctuary-sfu/sanctuary/auth"
	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// A breakout run against a real server: the host bot creates three rooms,
// assigns the twelve others (two speakers per room) and moves a random one
// every 200 ms. Every move is timed by the first packet the moved bot
// heard from its new room, nothing leaks across rooms past the bound of
// PROTOCOL.md, and no move renegotiates.
func TestRunBreakoutsAgainstRealServer(t *testing.T) {
	lim := test.TimeOut(90 * time.Second)
	defer lim.Stop()
	defer test.CheckRoutines(t)()
	var progress syncBuffer
	rep := runOnTestServer(t, 5, 75*time.Second, RunConfig{
		Bots: 13, Speakers: 6, Breakouts: 3, MoveEvery: 200 * time.Millisecond,
		Duration: 2 * time.Second, Warmup: 500 * time.Millisecond, JoinConcurrency: 4,
		Progress: &progress, ServerPID: os.Getpid(),
	})
	if rep.Joined != 13 || rep.Connected != 13 || rep.Failed != 0 || len(rep.Failures) != 0 ||
		len(rep.BreakoutFailures) != 0 {
		t.Fatalf("joined %d connected %d failures %v breakout failures %v", rep.Joined, rep.Connected,
			rep.Failures, rep.BreakoutFailures)
	}
	// The host does not speak: speakers are bots 1..6.
	if rep.Breakouts != 3 || rep.Speakers != 6 {
		t.Fatalf("breakouts %d speakers %d", rep.Breakouts, rep.Speakers)
	}
	// Rooms keep two speakers each, so every move lands among speakers
	// and is timed.
	if rep.Moves == 0 || rep.MovesTimed != rep.Moves || rep.MovesUnheard != 0 ||
		rep.MoveMsP50 <= 0 || rep.MoveMsP99 < rep.MoveMsP50 {
		t.Fatalf("moves %d timed %d unheard %d, move ms p50 %.2f p99 %.2f", rep.Moves, rep.MovesTimed,
			rep.MovesUnheard, rep.MoveMsP50, rep.MoveMsP99)
	}
	if rep.ForeignPackets != 0 || rep.Renegotiations != 0 || rep.SSRCChanges != 0 || rep.SeqBackwards != 0 ||
		rep.Unrecognised != 0 {
		t.Fatalf("foreign %d renegotiations %d ssrc changes %d backwards %d unrecognised %d", rep.ForeignPackets,
			rep.Renegotiations, rep.SSRCChanges, rep.SeqBackwards, rep.Unrecognised)
	}
	// Loss follows the rooms: each speaker is expected by its room-mates
	// only (at most 5 of the 12 others: rooms stay ≤ K+1 = 6), never by
	// the host; without rooms it would be by all 12.
	if rep.PacketsExpected == 0 || rep.PacketsReceived > rep.PacketsExpected ||
		rep.PacketsExpected > 5*rep.PacketsSent || rep.LossPct >= 1 {
		t.Fatalf("sent %d expected %d received %d", rep.PacketsSent, rep.PacketsExpected, rep.PacketsReceived)
	}
	if !strings.Contains(progress.String(), "moves ") {
		t.Fatalf("progress:\n%s", progress.String())
	}
}

// Without -move-every the rooms are set up and nobody moves.
func TestRunBreakoutsWithoutMoves(t *testing.T) {
	lim := test.TimeOut(60 * time.Second)
	defer lim.Stop()
	defer test.CheckRoutines(t)()
	rep := runOnTestServer(t, 3, 45*time.Second, RunConfig{
		Bots: 7, Speakers: 2, Breakouts: 2,
		Duration: time.Second, Warmup: 300 * time.Millisecond, JoinConcurrency: 3,
	})
	if rep.Joined != 7 || rep.Connected != 7 || len(rep.BreakoutFailures) != 0 || rep.Moves != 0 {
		t.Fatalf("%+v", rep)
	}
	// Six participants in two rooms of three, one speaker each: each
	// speaker is expected by its two room-mates, exactly.
	if rep.ForeignPackets != 0 || rep.PacketsExpected != 2*rep.PacketsSent || rep.LossPct >= 1 {
		t.Fatalf("foreign %d sent %d expected %d received %d", rep.ForeignPackets, rep.PacketsSent,
			rep.PacketsExpected, rep.PacketsReceived)
	}
}

// Muted listeners in breakout rooms (the host among them): their silence
// is owed to nobody, so each speaker is still expected by its two
// room-mates exactly.
func TestRunBreakoutsWithMutedListeners(t *testing.T) {
	lim := test.TimeOut(60 * time.Second)
	defer lim.Stop()
	defer test.CheckRoutines(t)()
	rep := runOnTestServer(t, 3, 45*time.Second, RunConfig{
		Bots: 7, Speakers: 2, Breakouts: 2, MutedListeners: true,
		Duration: time.Second, Warmup: time.Second, JoinConcurrency: 3,
	})
	if rep.Connected != 7 || rep.Speakers != 2 || rep.Muted != 5 || rep.SilentPacketsSent == 0 || len(rep.BreakoutFailures) != 0 {
		t.Fatalf("%+v", rep)
	}
	if rep.ForeignPackets != 0 || rep.PacketsExpected != 2*rep.PacketsSent || rep.LossPct >= 1 {
		t.Fatalf("foreign %d sent %d expected %d received %d", rep.ForeignPackets, rep.PacketsSent,
			rep.PacketsExpected, rep.PacketsReceived)
	}
}

func TestRunRejectsBadBreakoutConfig(t *testing.T) {
	base := RunConfig{URL: "ws://127.0.0.1:1/ws", Secret: []byte("s"), Bots: 4}
	for _, f := range []func(*RunConfig){
		func(rc *RunConfig) { rc.Breakouts = -1 },
		func(rc *RunConfig) { rc.Breakouts = 51 },
		func(rc *RunConfig) { rc.MoveEvery = time.Second },                   // moves without rooms
		func(rc *RunConfig) { rc.Breakouts, rc.MoveEvery = 2, -time.Second }, // negative
		func(rc *RunConfig) { rc.Breakouts, rc.Speakers = 2, 4 },             // the host cannot speak
		func(rc *RunConfig) { rc.Breakouts, rc.Bots = 2, 1 },                 // nobody to assign
	} {
		rc := base
		f(&rc)
		if _, err := Run(context.Background(), rc); err == nil {
			t.Errorf("Run(%+v) succeeded", rc)
		}
	}
}

// roomsOf builds a room map: rooms[r] lists the bots in room "r<r>".
func roomsOf(rooms ...[]int) (map[int]string, []string) {
	room := map[int]string{0: mainRoom}
	var ids []string
	for r, members := range rooms {
		ids = append(ids, fmt.Sprintf("r%d", r))
		for _, i := range members {
			room[i] = ids[r]
		}
	}
	return room, ids
}

func speakerSet(is ...int) map[int]bool {
	m := map[int]bool{}
	for _, i := range is {
		m[i] = true
	}
	return m
}

func TestPickMoveKeepsRoomsAudible(t *testing.T) {
	// 12 participants in 3 rooms of 4, speakers 1..6 two per room, K = 5:
	// rooms stay ≤ 6, ≤ 5 speakers, none loses its last speaker; the host
	// never moves.
	room, ids := roomsOf([]int{1, 4, 7, 10}, []int{2, 5, 8, 11}, []int{3, 6, 9, 12})
	movable := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	speaker := speakerSet(1, 2, 3, 4, 5, 6)
	rnd := rand.New(rand.NewPCG(1, 2))
	for n := range 2000 {
		m, to, ok := pickMove(rnd, room, movable, ids, speaker, 5)
		if !ok || m == 0 || to == room[m] || to == mainRoom {
			t.Fatalf("move %d: bot %d from %s to %s (ok %v)", n, m, room[m], to, ok)
		}
		room[m] = to
		size, spk := roomCounts(room, ids, speaker)
		for _, r := range ids {
			if size[r] > 6 || spk[r] > 5 || spk[r] == 0 {
				t.Fatalf("move %d: room %s holds %d with %d speakers", n, r, size[r], spk[r])
			}
		}
	}
}

func TestPickMoveFallsBack(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	// Two rooms, one speaker each: no strict move exists for the speakers;
	// with K = 1, none for anyone (every room is full at K+1 = 2).
	room, ids := roomsOf([]int{1, 3}, []int{2, 4})
	for range 100 {
		m, to, ok := pickMove(rnd, room, []int{1, 2, 3, 4}, ids, speakerSet(1, 2), 1)
		if !ok || to == room[m] {
			t.Fatalf("bot %d to %s, ok %v", m, to, ok)
		}
	}
	// One room: nowhere to go.
	room, ids = roomsOf([]int{1, 2})
	if _, _, ok := pickMove(rnd, room, []int{1, 2}, ids, nil, 3); ok {
		t.Fatal("moved within one room")
	}
	// Too many for K+1: rooms stay within one more than an even split.
	if got := sizeLimit(59, 6, 5); got != 11 {
		t.Fatalf("size limit %d, want 11", got)
	}
	if got := sizeLimit(12, 3, 5); got != 6 {
		t.Fatalf("size limit %d, want 6", got)
	}
}

func TestSpreadStep(t *testing.T) {
	// Speakers 1..4 all in r0 (sizes 5/3/3): spread to 2/1/1, then sizes
	// to within one.
	room, ids := roomsOf([]int{1, 2, 3, 4, 5}, []int{6, 7, 8}, []int{9, 10, 11})
	movable := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	speaker := speakerSet(1, 2, 3, 4)
	steps := 0
	for ; steps < 2*len(movable); steps++ {
		m, to, ok := spreadStep(room, movable, ids, speaker)
		if !ok {
			break
		}
		room[m] = to
	}
	size, spk := roomCounts(room, ids, speaker)
	lo, hi := math.MaxInt, 0
	for _, r := range ids {
		lo, hi = min(lo, size[r]), max(hi, size[r])
		if spk[r] < 1 || spk[r] > 2 {
			t.Fatalf("after %d steps: speakers %v", steps, spk)
		}
	}
	if hi-lo > 1 || steps == 0 || steps == 2*len(movable) {
		t.Fatalf("after %d steps: sizes %v", steps, size)
	}
}

func TestSettledLoss(t *testing.T) {
	ms := func(v int64) int64 { return v * int64(time.Millisecond) }
	// Listener 1 and speaker 2 share room a over [100, 300) and, after 1
	// moved, room b over [500, 700) where 2 moved too; speaker 3 is
	// settled in b over [400, ∞).
	segs := map[int][]segment{
		1: {{room: "a", from: ms(0), to: ms(300)}, {room: "b", from: ms(400), to: math.MaxInt64}},
		2: {{room: "a", from: ms(100), to: ms(450)}, {room: "b", from: ms(500), to: ms(700)}},
		3: {{room: "b", from: ms(400), to: math.MaxInt64}},
	}
	every20 := func(from, to int64) []int64 {
		var out []int64
		for v := from; v < to; v += 20 {
			out = append(out, ms(v))
		}
		return out
	}
	sent := map[int][]int64{2: every20(0, 1000), 3: every20(0, 1000)}
	recv := map[int]map[int][]int64{
		// 1 heard 2 over [100, 300) but one packet, and in b all of it;
		// extra packets outside settled time count for nothing.
		1: {2: append(append(every20(100, 280), ms(310), ms(470)), every20(500, 700)...), 3: every20(400, 1000)},
	}
	lr := &lossRecord{segs: segs, sent: sent, recv: recv} // no slots known: every packet is owed
	exp, got := settledLoss(lr, []int{1})
	// 1 expects 2: [100, 300) 10 + [500, 700) 10; 3: [400, 1000) 30.
	if exp != 50 || got != 49 {
		t.Fatalf("expected %d received %d, want 50 and 49", exp, got)
	}
	// Speaker 3 listening hears 2 in b over [500, 700): 10 expected, none received.
	if exp, got := settledLoss(lr, []int{3}); exp != 10 || got != 0 {
		t.Fatalf("expected %d received %d", exp, got)
	}
}

// The controller against a real server: answers are matched by id, an
// error answer is a *ServerError, an ok carries its command's event, and a
// snapshot request its snapshot.
func TestControllerAgainstRealServer(t *testing.T) {
	h := newHarness(t, 3)
	hostCtl, partCtl := NewController(), NewController()
	host := h.dial(Config{Index: 0, OnMessage: hostCtl.OnMessage,
		Token: h.srv.token(t, "host", auth.RoleHost, h.session)})
	hostCtl.Attach(host)
	part := h.dial(Config{Index: 1, OnMessage: partCtl.OnMessage})
	partCtl.Attach(part)

	create := signaling.Command{Envelope: signaling.Envelope{Type: signaling.CmdCreateBreakouts}, Count: 2}
	_, err := partCtl.Do(h.ctx, create)
	var se *ServerError
	if !errors.As(err, &se) || se.Code != signaling.CodeForbidden {
		t.Fatalf("a participant created rooms: %v", err)
	}
	a, err := hostCtl.Do(h.ctx, create)
	if err != nil || a.Type != signaling.TypeOK || a.Version == 0 || a.At.IsZero() || a.Event == nil ||
		a.Event.Event != signaling.EventBreakoutsCreated || len(a.Event.Rooms) != 2 {
		t.Fatalf("create: %+v, %v", a, err)
	}
	room := a.Event.Rooms[1].ID
	a, err = hostCtl.Do(h.ctx, signaling.Command{Envelope: signaling.Envelope{Type: signaling.CmdMove},
		ParticipantID: part.ParticipantID(), Room: room})
	if err != nil || a.Event == nil || a.Event.Event != signaling.EventParticipantMoved ||
		a.Event.Participant == nil || a.Event.Participant.Room != room {
		t.Fatalf("move: %+v, %v", a, err)
	}
	a, err = hostCtl.Do(h.ctx, signaling.Command{Envelope: signaling.Envelope{Type: signaling.TypeSnapshot}})
	if err != nil || a.Snapshot == nil || len(a.Snapshot.Rooms) != 2 || len(a.Snapshot.Participants) != 2 {
		t.Fatalf("snapshot: %+v, %v", a, err)
	}
	if _, err := NewController().Do(h.ctx, create); !errors.Is(err, ErrClosed) {
		t.Fatalf("no bot attached: %v", err)
	}
}
