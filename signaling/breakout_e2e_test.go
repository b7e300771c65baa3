package signaling_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/sanctuary-sfu/sanctuary/auth"
	"github.com/sanctuary-sfu/sanctuary/cmd/sanctuary-bots/bots"
	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// controller sends commands on a bot's socket and waits for their answers.
type controller struct {
	t   *testing.T
	bot *bots.Bot

	mu      sync.Mutex
	next    int
	waiting map[string]chan map[string]any
	events  []map[string]any // every event and message received, in order
}

func newController(t *testing.T) *controller {
	return &controller{t: t, waiting: map[string]chan map[string]any{}}
}

// onMessage is the bot's OnMessage hook: it routes answers to waiters.
func (c *controller) onMessage(typ string, raw []byte) {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, m)
	if id, _ := m["id"].(string); id != "" && (typ == signaling.TypeOK || typ == signaling.TypeError) {
		if ch := c.waiting[id]; ch != nil {
			ch <- m
			delete(c.waiting, id)
		}
	}
}

// do sends a command and returns its answer (ok or error).
func (c *controller) do(cmd map[string]any) map[string]any {
	c.t.Helper()
	c.mu.Lock()
	c.next++
	id := fmt.Sprintf("cmd-%d", c.next)
	ch := make(chan map[string]any, 1)
	c.waiting[id] = ch
	c.mu.Unlock()
	cmd["id"] = id
	if err := c.bot.Send(cmd); err != nil {
		c.t.Fatalf("send %v: %v", cmd["type"], err)
	}
	select {
	case m := <-ch:
		return m
	case <-time.After(time.Minute): // bounds a broken run; a busy machine only waits longer
		c.t.Fatalf("no answer to %v", cmd)
		return nil
	}
}

// must runs a command that must succeed and returns when the answer came.
func (c *controller) must(cmd map[string]any) time.Time {
	c.t.Helper()
	if m := c.do(cmd); m["type"] != signaling.TypeOK {
		c.t.Fatalf("%v: %v", cmd["type"], m)
	}
	return time.Now()
}

// seen returns the events and messages received so far.
func (c *controller) seen() []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]map[string]any(nil), c.events...)
}

// dialAs joins bot i as user "<role>-i" with a controller on its socket.
func (h *harness) dialAs(ctx context.Context, session string, i int, role string, speak bool) (*bots.Bot, *controller) {
	h.t.Helper()
	ctl := newController(h.t)
	b, err := bots.Dial(ctx, bots.Config{
		URL: h.url, Token: h.token(fmt.Sprintf("%s-%d", role, i), role, session, time.Hour), Session: session,
		Index: i, RunID: h.runID, Speak: speak, Level: uint8(20 + i), API: h.api, OnMessage: ctl.onMessage,
	})
	if err != nil {
		h.t.Fatalf("bot %d: %v", i, err)
	}
	ctl.bot = b
	h.mu.Lock()
	h.bots = append(h.bots, b)
	h.mu.Unlock()
	return b, ctl
}

// roomsOf reads the server's state: every bot's room, by bot index.
func (h *harness) roomsOf(session string, bs []*bots.Bot) map[int]string {
	h.t.Helper()
	snap, err := h.srv.Hub().Snapshot(session)
	if err != nil {
		h.t.Fatal(err)
	}
	byPID := map[string]string{}
	for _, p := range snap.Participants {
		byPID[p.ID] = p.Room
	}
	out := map[int]string{}
	for _, b := range bs {
		out[b.Index()] = byPID[b.ParticipantID()]
	}
	return out
}

// audiences sets every bot's expected audience (its room-mates) from the
// server's room map, effective for packets sent after from.
func audiences(bs []*bots.Bot, room map[int]string, from time.Time) {
	for _, b := range bs {
		mates := []int{} // empty, not nil: nil means everyone to the bots
		for _, o := range bs {
			if o != b && room[o.Index()] == room[b.Index()] {
				mates = append(mates, o.Index())
			}
		}
		b.SetAudienceFrom(mates, from)
	}
}

// widen lets each bot expect both its room-mates of before and of after a
// change, while the change is in flight: routing may be either until the
// server acknowledges it. audiences then narrows to after.
func widen(bs []*bots.Bot, before, after map[int]string) {
	for _, b := range bs {
		union := append(mates(bs, before, b), mates(bs, after, b)...)
		if union == nil {
			union = []int{}
		}
		b.SetAudience(union)
	}
}

// hearsAllSince waits until b received a packet sent after since from every
// speaker in want.
func hearsAllSince(ctx context.Context, t *testing.T, b *bots.Bot, want []int, what string) {
	t.Helper()
	before := b.Stats().ReceivedBySource
	eventually(ctx, t, what, func() bool {
		got := received(b, before)
		for _, s := range want {
			if got[s] == 0 {
				return false
			}
		}
		return true
	})
}

// Twelve participants split into three breakouts of four (balanced):
// everyone hears exactly its room-mates, identified by the bots' own
// signatures. Then 200 random moves while everyone speaks: each mover hears
// its new room at once and nothing leaks across rooms past the bound of
// PROTOCOL.md. Then closing all brings everyone back to the main room.
// Zero foreign packets and zero renegotiations over the whole test.
func TestE2EBreakoutsRouteBySpeakerRecognition(t *testing.T) {
	if testing.Short() {
		t.Skip("media end-to-end test")
	}
	// The host here sends ~20 commands a second, at the default rate limit.
	h := newHarness(t, 5, func(c *signaling.Config) { c.Rate = 200 })
	// Generous: 200 moves each wait for the mover to hear its new room,
	// which on a loaded 2-core machine takes seconds, not milliseconds.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const session = "breakouts"

	host, ctl := h.dialAs(ctx, session, 100, auth.RoleHost, false)
	var ps []*bots.Bot
	for i := range 12 {
		b, _ := h.dialAs(ctx, session, i, auth.RoleParticipant, true)
		ps = append(ps, b)
	}
	everyone := append([]*bots.Bot{host}, ps...)
	waitConnected(ctx, t, everyone...)

	// Participants must not be able to run host actions.
	_, pctl := h.dialAs(ctx, session, 200, auth.RoleParticipant, false)
	if m := pctl.do(map[string]any{"type": signaling.CmdCreateBreakouts, "count": 3}); m["code"] != signaling.CodeForbidden {
		t.Fatalf("a participant created breakouts: %v", m)
	}

	ctl.must(map[string]any{"type": signaling.CmdCreateBreakouts, "count": 3})
	for _, b := range everyone { // whoever they end up with, they are all in main now
		b.SetAudience(nil)
	}
	at := ctl.must(map[string]any{"type": signaling.CmdAssign, "mode": "balanced"})
	room := h.roomsOf(session, ps)
	sizes := map[string]int{}
	for _, r := range room {
		sizes[r]++
	}
	if len(sizes) != 3 {
		t.Fatalf("balanced assignment used %d rooms: %v", len(sizes), sizes)
	}
	for r, n := range sizes {
		if n != 4 || r == rooms.MainRoom {
			t.Fatalf("balanced assignment: room sizes %v, want 4/4/4 in breakouts", sizes)
		}
	}
	audiences(ps, room, at)
	host.SetAudienceFrom([]int{}, at) // alone in the main room
	for _, b := range ps {
		hearsAllSince(ctx, t, b, mates(ps, room, b), fmt.Sprintf("bot %d hears its room", b.Index()))
	}

	// 200 random moves, rooms kept at most K+1 so everyone fits in the slots.
	rnd := rand.New(rand.NewPCG(1, 2))
	roomIDs := keys(sizes)
	for i := range 200 {
		mover := ps[rnd.IntN(len(ps))]
		var to string
		for {
			to = roomIDs[rnd.IntN(len(roomIDs))]
			if to != room[mover.Index()] && sizes[to] < 6 {
				break
			}
		}
		after := maps.Clone(room)
		after[mover.Index()] = to
		widen(ps, room, after)
		at := ctl.must(map[string]any{"type": signaling.CmdMove, "participantId": mover.ParticipantID(), "room": to})
		sizes[room[mover.Index()]]--
		sizes[to]++
		room = after
		audiences(ps, room, at)
		hearsAllSince(ctx, t, mover, mates(ps, room, mover), fmt.Sprintf("move %d: bot %d hears its new room", i, mover.Index()))
	}

	for _, b := range everyone {
		b.SetAudience(nil) // everyone is about to be in main
	}
	at = ctl.must(map[string]any{"type": signaling.CmdCloseBreakouts})
	for _, b := range ps {
		room[b.Index()] = rooms.MainRoom
	}
	audiences(everyone, mergeRoom(room, host.Index()), at)
	for _, b := range everyone {
		// 13 in the main room: each listener's K=5 slots fill with five of
		// the twelve speakers (which five depends on loudness and
		// hysteresis); all of them are now in its audience.
		hearsN(ctx, t, b, 5, fmt.Sprintf("bot %d hears five speakers of the main room", b.Index()))
	}

	for _, b := range everyone {
		st := b.Stats()
		if st.Foreign != 0 || st.Renegotiations != 0 || st.SSRCChanges != 0 || st.SeqBackwards != 0 {
			t.Errorf("bot %d: %d foreign packets, %d renegotiations, %d SSRC changes, %d backward sequence numbers",
				b.Index(), st.Foreign, st.Renegotiations, st.SSRCChanges, st.SeqBackwards)
		}
	}
	if n := h.engine.Stats().Peers; n != int64(len(everyone)+1) {
		t.Errorf("%d PeerConnections open, want %d: moves must not create any", n, len(everyone)+1)
	}
}

// mates returns the indices of b's room-mates.
func mates(bs []*bots.Bot, room map[int]string, b *bots.Bot) []int {
	var out []int
	for _, o := range bs {
		if o != b && room[o.Index()] == room[b.Index()] {
			out = append(out, o.Index())
		}
	}
	return out
}

// hearsN waits until, within one 500 ms stretch, b receives packets from
// n distinct sources.
func hearsN(ctx context.Context, t *testing.T, b *bots.Bot, n int, what string) {
	t.Helper()
	eventually(ctx, t, what, func() bool {
		before := b.Stats().ReceivedBySource
		time.Sleep(500 * time.Millisecond)
		heard := 0
		for _, k := range received(b, before) {
			if k > 0 {
				heard++
			}
		}
		return heard >= n
	})
}

func mergeRoom(room map[int]string, host int) map[int]string {
	out := map[int]string{host: rooms.MainRoom}
	for k, v := range room {
		out[k] = v
	}
	return out
}

func keys(m map[string]int) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
