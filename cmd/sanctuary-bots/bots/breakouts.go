package bots

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// Breakout runs.
const (
	mainRoom       = "main"          // the main room's id (rooms.MainRoom)
	commandTimeout = 5 * time.Second // for the answer to one command
	// settleGuard ends a bot's settled stretch in a room this long before
	// the command that moves it is sent: a packet sent just before, still
	// on its way to the server when the server re-routes, is rightly not
	// delivered and must not count as lost.
	settleGuard = 100 * time.Millisecond
	// maxBreakoutFailures bounds Report.BreakoutFailures.
	maxBreakoutFailures = 10
)

// breakoutRun drives the breakout part of a Run (RunConfig.Breakouts > 0):
// bot 0, the host, creates the rooms, assigns everyone (balanced), spreads
// the speakers, then moves a random bot every RunConfig.MoveEvery through
// the measurement window, with the exact leak accounting of
// Bot.SetAudienceFrom, and times each move by the first packet the moved
// bot hears from a speaker of its new room.
//
// The hooks' fields are used concurrently (moved also by the progress
// goroutine); the fields after them are owned by the Run goroutine.
type breakoutRun struct {
	rooms    int           // breakout rooms to create
	every    time.Duration // between moves; 0: no moves
	speakers int           // bots 1..speakers speak
	runID    uint32
	ctl      *Controller
	rnd      *rand.Rand

	// Used by the bots' hooks, concurrently.
	window atomic.Pointer[measureWindow] // sends and receives recorded within it
	watch  []atomic.Pointer[moveWatch]   // per bot: its latest timed move
	traces []trace                       // per bot
	moved  atomic.Int64                  // moves so far, for progress lines

	ready    bool              // setup succeeded: moves may start
	k        int               // the session's slots
	roomIDs  []string          // the breakout rooms
	bots     map[int]*Bot      // every joined bot, host included
	room     map[int]string    // every joined bot's room
	movable  []int             // connected participants (not the host), sorted
	speaker  map[int]bool      // connected speakers
	segs     map[int][]segment // per bot: settled stretches
	presence map[int][]segment // per bot: the rooms it may have been in, by send time (see present)
	watches  []*moveWatch      // every timed move, in order
	moves    int               // moves answered ok within the window
	failures []string
}

// moveWatch times one move: from the command sent to the first packet the
// moved bot receives from one of sources.
type moveWatch struct {
	bot     int          // who moved
	room    string       // to where
	sources map[int]bool // speakers of the new room
	start   int64        // unix ns, the command sent
	heard   atomic.Int64 // unix ns of the first packet from sources; 0 until then
}

// trace records, within the measurement window, a bot's sends and the
// packets it received, by their send times.
type trace struct {
	mu   sync.Mutex
	sent []sentPacket    // in the order sent, so by counter
	recv map[int][]int64 // source → send times
}

// sentPacket is one packet a bot sent: its signature's counter and send
// time.
type sentPacket struct {
	counter uint32
	at      int64 // unix ns
}

func newBreakoutRun(rc RunConfig, runID uint32) *breakoutRun {
	br := &breakoutRun{
		rooms: rc.Breakouts, every: rc.MoveEvery, speakers: rc.Speakers, runID: runID,
		ctl:      NewController(),
		rnd:      rand.New(rand.NewPCG(uint64(runID), uint64(rc.Bots))),
		watch:    make([]atomic.Pointer[moveWatch], rc.Bots),
		traces:   make([]trace, rc.Bots),
		segs:     map[int][]segment{},
		presence: map[int][]segment{},
	}
	for i := range br.traces {
		br.traces[i].recv = map[int][]int64{}
	}
	return br
}

// speaks reports whether bot i speaks in a breakout run: the first
// Speakers bots after the host.
func (br *breakoutRun) speaks(i int) bool { return i >= 1 && i <= br.speakers }

// hook sets bot i's hooks: the controller on the host, the move timing and
// the loss record on everyone.
func (br *breakoutRun) hook(c *Config) {
	i := c.Index
	if i == 0 {
		c.OnMessage = br.ctl.OnMessage
	}
	t := &br.traces[i]
	muted := c.Muted // its silence is owed to nobody: not traced
	c.OnSend = func(sig Signature) {
		if !muted && br.window.Load().contains(sig.SentAt) {
			t.mu.Lock()
			t.sent = append(t.sent, sentPacket{counter: sig.Counter, at: sig.SentAt})
			t.mu.Unlock()
		}
	}
	c.OnPacket = func(_ int, _ *rtp.Header, sig Signature, signed bool) {
		src := int(sig.Source)
		if !signed || sig.RunID != br.runID || src == i {
			return
		}
		if w := br.watch[i].Load(); w != nil && w.sources[src] && w.heard.Load() == 0 {
			w.heard.CompareAndSwap(0, time.Now().UnixNano())
		}
		if br.window.Load().contains(sig.SentAt) {
			t.mu.Lock()
			t.recv[src] = append(t.recv[src], sig.SentAt)
			t.mu.Unlock()
		}
	}
}

// fail records a problem of the breakout run.
func (br *breakoutRun) fail(err error) {
	if len(br.failures) < maxBreakoutFailures {
		br.failures = append(br.failures, err.Error())
	}
}

// setup creates the rooms, assigns everyone and spreads the speakers, once
// every bot has joined. It records why it failed; moves need it to succeed.
func (br *breakoutRun) setup(ctx context.Context, r *runner) {
	host := r.bots[0].Load()
	if host == nil {
		br.fail(errors.New("the host (bot 0) did not join: no breakouts"))
		return
	}
	br.ctl.Attach(host)
	br.k = host.Stats().Slots
	br.bots, br.room, br.speaker = map[int]*Bot{}, map[int]string{}, map[int]bool{}
	start := time.Now().UnixNano()
	for i := range r.bots {
		b := r.bots[i].Load()
		if b == nil {
			continue
		}
		br.bots[i] = b
		br.room[i] = mainRoom
		br.segs[i] = []segment{{room: mainRoom, from: start, to: math.MaxInt64}}
		br.presence[i] = []segment{{room: mainRoom, from: start, to: math.MaxInt64}}
		select {
		case <-b.connected:
			if i != 0 {
				br.movable = append(br.movable, i)
				br.speaker[i] = br.speaks(i)
			}
		default:
		}
	}
	if err := br.create(ctx); err != nil {
		br.fail(err)
		return
	}
	if err := br.assign(ctx); err != nil {
		br.fail(err)
		return
	}
	for range 2 * len(br.movable) { // bounded: spreadStep converges well before
		m, to, ok := spreadStep(br.room, br.movable, br.roomIDs, br.speaker)
		if !ok {
			break
		}
		if err := br.move(ctx, m, to, nil); err != nil {
			br.fail(fmt.Errorf("spreading the speakers: %w", err))
			return
		}
	}
	br.ready = true
}

// do runs one command with its own timeout.
func (br *breakoutRun) do(ctx context.Context, cmd signaling.Command) (Answer, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	return br.ctl.Do(ctx, cmd)
}

// create opens the rooms and learns their ids.
func (br *breakoutRun) create(ctx context.Context) error {
	a, err := br.do(ctx, signaling.Command{Envelope: signaling.Envelope{Type: signaling.CmdCreateBreakouts}, Count: br.rooms})
	if err != nil {
		return fmt.Errorf("breakouts.create: %w", err)
	}
	if a.Event != nil && a.Event.Event == signaling.EventBreakoutsCreated {
		for _, room := range a.Event.Rooms {
			br.roomIDs = append(br.roomIDs, room.ID)
		}
	} else { // not expected (PROTOCOL.md): ask for the state instead
		snap, err := br.snapshot(ctx)
		if err != nil {
			return err
		}
		for _, room := range snap.Rooms {
			br.roomIDs = append(br.roomIDs, room.ID)
		}
	}
	if len(br.roomIDs) != br.rooms {
		return fmt.Errorf("breakouts.create: %d rooms open, want %d", len(br.roomIDs), br.rooms)
	}
	return nil
}

// snapshot asks for the session state.
func (br *breakoutRun) snapshot(ctx context.Context) (*signaling.Snapshot, error) {
	a, err := br.do(ctx, signaling.Command{Envelope: signaling.Envelope{Type: signaling.TypeSnapshot}})
	if err != nil || a.Snapshot == nil {
		return nil, fmt.Errorf("snapshot: %w (answer %q)", err, a.Type)
	}
	return a.Snapshot, nil
}

// assign assigns everyone, balanced. Until the answer, every bot may hear
// anyone (their audiences are still the default, everyone), since where
// each one goes is known only from the answer.
func (br *breakoutRun) assign(ctx context.Context) error {
	pids := map[string]int{}
	for i, b := range br.bots {
		pids[b.ParticipantID()] = i
		b.SetAudience(nil)
	}
	sent := time.Now()
	br.leave(slices.Collect(maps.Keys(br.bots)), sent)
	a, err := br.do(ctx, signaling.Command{Envelope: signaling.Envelope{Type: signaling.CmdAssign}, Mode: "balanced"})
	if err != nil {
		return fmt.Errorf("breakouts.assign: %w", err)
	}
	after := maps.Clone(br.room)
	var placed []signaling.Participant
	if a.Event != nil && a.Event.Event == signaling.EventBreakoutsAssigned {
		placed = a.Event.Moves
	} else if a.Event == nil {
		snap, err := br.snapshot(ctx)
		if err != nil {
			return err
		}
		placed = snap.Participants
	}
	for _, p := range placed {
		if i, ok := pids[p.ID]; ok {
			after[i] = p.Room
		}
	}
	for i, r := range after {
		if r != br.room[i] {
			br.present(i, r, sent, a.At)
		}
	}
	br.settle(slices.Collect(maps.Keys(br.bots)), after, a.At)
	return nil
}

// move moves bot m to room to with the exact leak accounting: before the
// command, every bot whose room-mates change expects the union of its
// room-mates before and after; once the server answered, the room-mates
// after, for packets sent from the answer on (the server re-routes before
// it answers). w, when set, is started as the command is sent. An error
// answer leaves the rooms as they were; no answer leaves every affected
// bot widened and unsettled, and the run should stop moving.
func (br *breakoutRun) move(ctx context.Context, m int, to string, w *moveWatch) error {
	before := br.room
	after := maps.Clone(before)
	after[m] = to
	var affected []int
	for i, r := range before {
		if i == m || r == before[m] || r == to {
			affected = append(affected, i)
		}
	}
	for _, i := range affected {
		union := append(br.mates(before, i), br.mates(after, i)...)
		if union == nil {
			union = []int{}
		}
		br.bots[i].SetAudience(union)
	}
	sent := time.Now()
	br.leave([]int{m}, sent)
	if w != nil {
		w.start = sent.UnixNano()
	}
	br.watch[m].Store(w) // nil too: an earlier move's watch must not see this room
	a, err := br.do(ctx, signaling.Command{Envelope: signaling.Envelope{Type: signaling.CmdMove},
		ParticipantID: br.bots[m].ParticipantID(), Room: to})
	var se *ServerError
	switch {
	case errors.As(err, &se):
		br.watch[m].CompareAndSwap(w, nil)
		br.settle(affected, before, a.At)
		return fmt.Errorf("move bot %d to %s: %w", m, to, err)
	case err != nil:
		br.watch[m].CompareAndSwap(w, nil)
		br.present(m, to, sent, time.Time{}) // it may be in either room from now on
		return fmt.Errorf("move bot %d to %s: %w", m, to, err)
	}
	br.present(m, to, sent, a.At)
	br.settle(affected, after, a.At)
	return nil
}

// present records that bot i, moved by a command sent at sent, may be in
// room to from then on, and in no other room from left on (zero: it may
// still be). Presence is counted in send time, as settled stretches are:
// a packet sent up to settleGuard before the command may reach the server
// after it re-routed, so the new room counts from settleGuard before sent.
func (br *breakoutRun) present(i int, to string, sent, left time.Time) {
	p := br.presence[i]
	if !left.IsZero() {
		for j := range p {
			if p[j].to == math.MaxInt64 && p[j].room != to {
				p[j].to = max(left.UnixNano(), p[j].from)
			}
		}
	}
	br.presence[i] = append(p, segment{room: to, from: sent.Add(-settleGuard).UnixNano(), to: math.MaxInt64})
}

// mates returns the bots in i's room, other than i; empty, not nil.
func (br *breakoutRun) mates(room map[int]string, i int) []int {
	out := []int{}
	for j, r := range room {
		if j != i && r == room[i] {
			out = append(out, j)
		}
	}
	return out
}

// leave ends the settled stretch of each bot of which, settleGuard before t.
func (br *breakoutRun) leave(which []int, t time.Time) {
	end := t.Add(-settleGuard).UnixNano()
	for _, i := range which {
		if s := br.segs[i]; len(s) > 0 && s[len(s)-1].to == math.MaxInt64 {
			s[len(s)-1].to = max(end, s[len(s)-1].from)
		}
	}
}

// settle makes room the rooms of record and, for each bot of which, its
// room-mates its audience for packets sent from at on; the bots whose room
// changed (or was left by leave) start a settled stretch at at.
func (br *breakoutRun) settle(which []int, room map[int]string, at time.Time) {
	br.room = room
	for _, i := range which {
		br.bots[i].SetAudienceFrom(br.mates(room, i), at)
		if s := br.segs[i]; len(s) == 0 || s[len(s)-1].to != math.MaxInt64 {
			br.segs[i] = append(s, segment{room: room[i], from: at.UnixNano(), to: math.MaxInt64})
		}
	}
}

// moveUntil moves a random bot every br.every until the window ends at to,
// timing the moves into rooms with a speaker. It stops moving, and waits
// for to, when a command gets no answer or setup failed.
func (br *breakoutRun) moveUntil(ctx context.Context, to time.Time) error {
	if !br.ready || br.every <= 0 {
		return sleepCtx(ctx, time.Until(to))
	}
	tick := time.NewTicker(br.every)
	defer tick.Stop()
	for n := int(time.Until(to)/br.every) + 1; n > 0; n-- { // bounded in count as in time
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if !time.Now().Before(to) {
			break
		}
		movable := br.settledMovable()
		if len(movable) == 0 {
			continue // everyone movable is still waiting to hear its new room
		}
		m, room, ok := pickMove(br.rnd, br.room, movable, br.roomIDs, br.speaker, br.k)
		if !ok {
			break
		}
		var w *moveWatch
		if src := br.speakersIn(room, m); len(src) > 0 {
			w = &moveWatch{bot: m, room: room, sources: src}
		}
		err := br.move(ctx, m, room, w)
		var se *ServerError
		if errors.As(err, &se) {
			br.fail(err) // refused: the rooms are as they were
			continue
		}
		if err != nil {
			br.fail(fmt.Errorf("%w; no more moves", err))
			break
		}
		br.moves++
		br.moved.Add(1)
		if w != nil {
			br.watches = append(br.watches, w)
		}
	}
	return sleepCtx(ctx, time.Until(to))
}

// settledMovable returns the movable bots that have heard the room of
// their last timed move (or have none pending): moving a bot again before
// it heard its new room would leave that move unmeasurable and count it
// unheard, which a slow answer (a server waiting on its store) made happen.
// A move that is never heard still shows: its bot is not moved again and
// the move counts in Report.MovesUnheard.
func (br *breakoutRun) settledMovable() []int {
	out := make([]int, 0, len(br.movable))
	for _, m := range br.movable {
		if w := br.watch[m].Load(); w == nil || w.heard.Load() != 0 {
			out = append(out, m)
		}
	}
	return out
}

// speakersIn returns the speakers in room other than bot except.
func (br *breakoutRun) speakersIn(room string, except int) map[int]bool {
	out := map[int]bool{}
	for i, r := range br.room {
		if r == room && i != except && br.speaker[i] {
			out[i] = true
		}
	}
	return out
}

// fill adds the breakout figures to a report: the moves and their times,
// and loss over settled time only (see Report.PacketsExpected).
func (br *breakoutRun) fill(rep *Report, stats []Stats) {
	rep.Breakouts = br.rooms
	rep.Moves = br.moves
	rep.BreakoutFailures = slices.Clone(br.failures)
	var times []float64
	for _, w := range br.watches {
		if h := w.heard.Load(); h != 0 {
			times = append(times, ms(time.Duration(h-w.start)))
		} else {
			rep.MovesUnheard++
			rep.Failures = append(rep.Failures, fmt.Sprintf("the move of bot %d to %s at %s was never heard there",
				w.bot, w.room, time.Unix(0, w.start).UTC().Format("15:04:05.000")))
		}
	}
	rep.MovesTimed = len(times)
	rep.MoveMsP50, rep.MoveMsP99 = percentile(times, 0.5), percentile(times, 0.99)
	if !br.ready {
		return
	}
	lr := lossRecord{segs: br.segs, presence: br.presence, k: map[int]int{},
		sent: map[int][]int64{}, recv: map[int]map[int][]int64{},
		owed: map[int]map[int][]int64{}, got: map[int]map[int][]int64{}}
	logs := map[int][]sentPacket{}
	for i := range br.traces {
		t := &br.traces[i]
		t.mu.Lock()
		if len(t.sent) > 0 {
			logs[i] = slices.Clone(t.sent)
		}
		lr.recv[i] = map[int][]int64{}
		for src, ts := range t.recv {
			lr.recv[i][src] = slices.Clone(ts)
			slices.Sort(lr.recv[i][src])
		}
		t.mu.Unlock()
	}
	for i, log := range logs {
		for _, p := range log {
			lr.sent[i] = append(lr.sent[i], p.at)
		}
		slices.Sort(lr.sent[i])
	}
	pids := participantIndex(stats)
	var listeners []int
	for _, s := range stats {
		if !s.Joined || !s.Connected {
			continue
		}
		listeners = append(listeners, s.Index)
		lr.k[s.Index] = s.Slots
		lr.owed[s.Index], lr.got[s.Index] = map[int][]int64{}, map[int][]int64{}
		for src, c := range slotAccount(s.SlotRecords, pids) {
			for _, p := range logs[src] { // the counters owed and received, by send time
				if c.owed.has(int64(p.counter)) {
					lr.owed[s.Index][src] = append(lr.owed[s.Index][src], p.at)
				}
				if c.got.has(int64(p.counter)) {
					lr.got[s.Index][src] = append(lr.got[s.Index][src], p.at)
				}
			}
			slices.Sort(lr.owed[s.Index][src])
			slices.Sort(lr.got[s.Index][src])
		}
	}
	rep.PacketsExpected, rep.PacketsReceived = settledLoss(&lr, listeners)
	rep.LossPct = 0
	if rep.PacketsExpected > 0 {
		rep.LossPct = 100 * (float64(rep.PacketsExpected) - float64(rep.PacketsReceived)) / float64(rep.PacketsExpected)
	}
}
