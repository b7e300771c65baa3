package signaling_test

// The chaos test: a session under the trouble real networks bring, for a
// bounded time. Websockets are cut and resumed, UDP drops out for seconds,
// the host moves people between breakout rooms, and everyone chats.
// Afterwards nobody is doubled or lost, every record is where the host put
// it, chat arrived exactly once to everyone in its room when it was posted
// (chaos_chat_test.go), no packet crossed rooms, and everything the session
// held is given back.

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sanctuary-sfu/sanctuary/auth"
	"github.com/sanctuary-sfu/sanctuary/cmd/sanctuary-bots/bots"
	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// chaosBot is one participant of the chaos test.
type chaosBot struct {
	b       *bots.Bot
	chat    *bots.Chat
	ledger  *chatLedger // its rooms and how its chat came, from its own messages
	outage  *bots.Outage
	pid     string // its record at the start: it must keep it
	speaker bool   // speakers stay in their room
	cuts    int    // websocket cuts it resumed from; chaos goroutine only while busy
}

func (c *chaosBot) heard() uint64 {
	var n uint64
	for _, k := range c.b.Stats().ReceivedBySource {
		n += k
	}
	return n
}

// waitUntil polls cond until it holds (true) or ctx ends (false). For the
// chaos goroutines, which may not call t.Fatal.
func waitUntil(ctx context.Context, cond func() bool) bool {
	for !cond() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return true
}

func chaosDuration(t *testing.T) time.Duration {
	if v := os.Getenv("CHAOS_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("CHAOS_DURATION: %v", err)
		}
		return d
	}
	return 2 * time.Minute
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func TestE2EChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test: 30 bots for 2 minutes")
	}
	const (
		n       = 30
		session = "chaos"
	)
	dur := chaosDuration(t)
	h := newHarness(t, 3, nil) // the default reconnect grace (20 s): every outage here is shorter
	ctx, cancel := context.WithTimeout(context.Background(), dur+6*time.Minute)
	defer cancel()
	heap0, base := heapAlloc(), h.usage()

	// The host (bot 0) moves people and is never cut. Bots 1–8 speak, two
	// per room, and stay put; 9–29 are moved around and only listen.
	host, ctl := h.dialAs(ctx, session, 0, auth.RoleHost, false)
	everyone := []*chaosBot{{b: host, pid: host.ParticipantID()}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 1; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			api, outage, err := bots.NewAPIWithOutage(true)
			if err != nil {
				errs <- err
				return
			}
			chat, ledger := bots.NewChat(), newChatLedger()
			b, err := bots.Dial(ctx, bots.Config{
				URL: h.url, Token: h.token(fmt.Sprint("chaos-", i), auth.RoleParticipant, session, time.Hour),
				Session: session, Index: i, RunID: h.runID, Speak: i <= 8, Level: 30, API: api, Chat: chat,
				OnMessage: ledger.onMessage,
			})
			if err != nil {
				errs <- fmt.Errorf("bot %d: %w", i, err)
				return
			}
			mu.Lock()
			everyone = append(everyone, &chaosBot{b: b, chat: chat, ledger: ledger, outage: outage, pid: b.ParticipantID(), speaker: i <= 8})
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	slices.SortFunc(everyone, func(a, b *chaosBot) int { return a.b.Index() - b.b.Index() })
	defer func() { // a failed test's bots; nil once the leak check let go of them
		for _, c := range everyone {
			_ = c.b.Close()
		}
	}()
	var bs []*bots.Bot
	for _, c := range everyone {
		bs = append(bs, c.b)
	}
	waitConnected(ctx, t, bs...)

	// Three breakout rooms; speakers two per room, listeners spread.
	ctl.must(map[string]any{"type": signaling.CmdCreateBreakouts, "count": 3})
	snap, err := h.srv.Hub().Snapshot(session)
	if err != nil || len(snap.Rooms) != 3 {
		t.Fatalf("rooms: %v %v", snap.Rooms, err)
	}
	roomIDs := []string{rooms.MainRoom, snap.Rooms[0].ID, snap.Rooms[1].ID, snap.Rooms[2].ID}
	room := map[int]string{}
	for _, c := range everyone {
		room[c.b.Index()] = rooms.MainRoom
	}
	audiences(bs, room, time.Time{})
	move := func(i int, to string) {
		after := maps.Clone(room)
		after[i] = to
		widen(bs, room, after)
		ctl.must(map[string]any{"type": signaling.CmdMove, "participantId": everyone[i].pid, "room": to})
		audiences(bs, after, time.Now())
		room = after
	}
	for i := 1; i < n; i++ {
		if to := roomIDs[(i-1)/2%4]; i <= 8 && to != rooms.MainRoom {
			move(i, to)
		} else if i > 8 && roomIDs[i%4] != rooms.MainRoom {
			move(i, roomIDs[i%4])
		}
	}

	// The chaos. Each bot is in at most one trouble at a time (busy).
	rnd := rand.New(rand.NewPCG(uint64(h.runID), 7))
	busy := map[int]bool{}
	down := map[int]bool{} // bots whose websocket is cut and not resumed yet
	pick := func() *chaosBot {
		mu.Lock()
		defer mu.Unlock()
		for range 20 {
			c := everyone[1+rnd.IntN(n-1)]
			if !busy[c.b.Index()] {
				busy[c.b.Index()] = true
				return c
			}
		}
		return nil
	}
	done := func(c *chaosBot) {
		mu.Lock()
		defer mu.Unlock()
		busy[c.b.Index()] = false
	}
	var (
		troubles    sync.WaitGroup
		cutsDone    int
		pausesDone  int
		posts       int
		resumeTimes []time.Duration
	)
	cut := func(c *chaosBot, hold time.Duration) {
		defer troubles.Done()
		defer done(c)
		before := c.heard()
		c.b.Cut()
		mu.Lock()
		down[c.b.Index()] = true
		mu.Unlock()
		defer func() {
			mu.Lock()
			delete(down, c.b.Index())
			mu.Unlock()
		}()
		// A websocket cut is not an audio cut: the room goes on being heard.
		if !waitUntil(ctx, func() bool { return c.heard() >= before+10 }) {
			t.Errorf("bot %d heard nothing while its websocket was down", c.b.Index())
		}
		time.Sleep(hold) // the cut itself: its room chats on, and the host may move it
		start := time.Now()
		if err := c.b.Resume(ctx); err != nil {
			t.Errorf("bot %d: resume: %v", c.b.Index(), err)
			return
		}
		took := time.Since(start) // new socket, join, welcome and the missed events
		c.chat.Retry()
		mu.Lock()
		resumeTimes = append(resumeTimes, took)
		c.cuts++
		cutsDone++
		mu.Unlock()
	}
	pause := func(c *chaosBot, d time.Duration) {
		defer troubles.Done()
		defer done(c)
		c.outage.Set(true)
		time.Sleep(d) // the outage itself
		c.outage.Set(false)
		before := c.heard()
		if !waitUntil(ctx, func() bool { return c.heard() >= before+10 }) {
			t.Errorf("bot %d heard nothing after its network came back", c.b.Index())
		}
		mu.Lock()
		pausesDone++
		mu.Unlock()
	}

	end := time.Now().Add(dur)
	tick := time.NewTicker(100 * time.Millisecond)
	for step := 0; time.Now().Before(end); step++ {
		<-tick.C
		if step%30 == 0 { // a cut every 3 s
			if c := pick(); c != nil {
				troubles.Add(1)
				go cut(c, time.Duration(rnd.IntN(1500))*time.Millisecond)
			}
		}
		if step%50 == 25 { // an outage of 1–4 s every 5 s
			if c := pick(); c != nil {
				troubles.Add(1)
				go pause(c, time.Second+time.Duration(rnd.IntN(3000))*time.Millisecond)
			}
		}
		if step%10 == 5 { // the host moves a listener every second; every other time one whose socket is down
			i := 9 + rnd.IntN(n-9)
			if step%20 == 5 {
				mu.Lock()
				if cut := slices.Sorted(maps.Keys(down)); len(cut) > 0 && cut[len(cut)-1] >= 9 {
					i = cut[len(cut)-1]
				}
				mu.Unlock()
			}
			to := roomIDs[rnd.IntN(4)]
			for to == room[i] {
				to = roomIDs[rnd.IntN(4)]
			}
			move(i, to)
		}
		if step%3 == 0 { // someone chats to their room
			c := everyone[1+rnd.IntN(n-1)]
			c.chat.Post("room", fmt.Sprintf("step %d from %d", step, c.b.Index()))
			posts++
		}
	}
	tick.Stop()
	troubles.Wait()

	// Settle: every message answered, and one more from each bot, whose
	// answer comes after its socket's replay; then one more event, so that
	// a bot that applied it has had every chat frame queued for it before.
	for _, c := range everyone[1:] {
		c.chat.Retry()
		if err := c.chat.WaitAnswered(ctx); err != nil {
			t.Fatalf("bot %d: chat not answered: %v", c.b.Index(), err)
		}
		if _, err := c.chat.Send(ctx, "room", fmt.Sprint("bye from ", c.b.Index())); err != nil {
			t.Fatalf("bot %d: last chat: %v", c.b.Index(), err)
		}
		posts++
	}
	ctl.must(map[string]any{"type": signaling.CmdHand, "enabled": true})
	eventually(ctx, t, "every bot has applied every event", func() bool {
		v := version(t, h, session)
		for _, c := range everyone {
			if c.b.Stats().Version != v {
				return false
			}
		}
		return true
	})

	// Records: one each, the same as at the start, in the room the host
	// put it in, connected.
	snap, err = h.srv.Hub().Snapshot(session)
	if err != nil {
		t.Fatal(err)
	}
	byPID := map[string]rooms.Participant{}
	for _, p := range snap.Participants {
		byPID[p.ID] = p
	}
	if len(snap.Participants) != n || len(byPID) != n {
		t.Errorf("%d records (%d distinct), want %d", len(snap.Participants), len(byPID), n)
	}
	for _, c := range everyone {
		i := c.b.Index()
		p, ok := byPID[c.pid]
		switch {
		case !ok:
			t.Errorf("bot %d lost its record %s", i, c.pid)
		case p.Room != room[i]:
			t.Errorf("bot %d is in %s, the host put it in %s", i, p.Room, room[i])
		case c.b.ParticipantID() != c.pid:
			t.Errorf("bot %d changed record: %s → %s", i, c.pid, c.b.ParticipantID())
		}
		st := c.b.Stats()
		if st.Resumes != uint64(c.cuts) || st.VersionGaps != 0 || st.Renegotiations != 0 || st.Replaced ||
			st.Foreign != 0 || st.SSRCChanges != 0 {
			t.Errorf("bot %d: resumes %d of %d cuts, version gaps %d, renegotiations %d, replaced %v, foreign %d, SSRC changes %d",
				i, st.Resumes, c.cuts, st.VersionGaps, st.Renegotiations, st.Replaced, st.Foreign, st.SSRCChanges)
		}
	}
	if got := h.engine.Stats().Peers; got != n {
		t.Errorf("%d PeerConnections for %d participants: a resume made a new one", got, n)
	}

	// Chat: every message accepted; none arrived twice anywhere; each
	// arrived exactly once at every bot in its room when it was posted, and
	// live at nobody else.
	var refs []signaling.ChatRef
	for _, c := range everyone[1:] {
		if f := c.chat.Failed(); len(f) != 0 {
			t.Errorf("bot %d: chat refused: %v", c.b.Index(), f)
		}
		refs = slices.AppendSeq(refs, maps.Values(c.chat.Acked()))
	}
	for _, c := range everyone[1:] {
		for ref, k := range c.chat.Counts() {
			if k != 1 {
				t.Errorf("bot %d got message %v %d times", c.b.Index(), ref, k)
			}
		}
	}
	tally := checkChaosChat(t, everyone[1:], refs)
	t.Logf("chaos for %v: %d websocket cuts resumed, %d UDP outages, %d chat messages posted (%d accepted), session version %d",
		dur, cutsDone, pausesDone, posts, len(refs), snap.Version)
	t.Logf("chat: %d deliveries owed (the bot was in the room at the post) and checked exactly once: %d to speakers, who stay; "+
		"%d to listeners, who move, %d of them by a replay after a cut, %d of those after a move away from the room; "+
		"%d more replayed as room history; %d unchecked (room at the post hidden by a snapshot)",
		tally.stayers+tally.movers, tally.stayers, tally.movers, tally.replayed, tally.movedAway, tally.history, tally.unknown)
	slices.Sort(resumeTimes)
	if k := len(resumeTimes); k > 0 {
		t.Logf("resume (dial → welcome with the missed events): p50 %v, p99 %v over %d", resumeTimes[k/2],
			resumeTimes[(k*99)/100], k)
	}
	if cutsDone == 0 || pausesDone == 0 || len(refs) == 0 || tally.stayers == 0 || tally.movers == 0 {
		t.Errorf("the chaos did not happen: %d cuts, %d outages, %d messages, %d owed deliveries to stayers and %d to movers",
			cutsDone, pausesDone, len(refs), tally.stayers, tally.movers)
	}

	// Leak check: everyone leaves; goroutines, records, PeerConnections and
	// heap go back to where they were. The test lets go of its bots first,
	// so that the heap shows what the server kept.
	peak := heapAlloc()
	for _, c := range everyone {
		_ = c.b.Close()
	}
	h.waitBaseline(ctx, base)
	h.forgetBots()
	everyone, bs, host, ctl = nil, nil, nil, nil
	heapCtx, cancelHeap := context.WithTimeout(ctx, 30*time.Second)
	defer cancelHeap()
	var heap1 uint64
	if !waitUntil(heapCtx, func() bool {
		heap1 = heapAlloc()
		return heap1 <= heap0+(peak-min(peak, heap0))/4
	}) {
		t.Errorf("heap after everyone left: %d KiB; %d KiB before the session, %d KiB at its peak: more than a quarter of the growth kept",
			heap1>>10, heap0>>10, peak>>10)
	}
	t.Logf("heap: %d KiB before, %d KiB at the end of the chaos, %d KiB after everyone left",
		heap0>>10, peak>>10, heap1>>10)
}
