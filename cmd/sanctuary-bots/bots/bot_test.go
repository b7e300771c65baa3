package bots

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/transport/v5/test"
	"github.com/pion/webrtc/v4"

	"github.com/sanctuary-sfu/sanctuary/auth"
	"github.com/sanctuary-sfu/sanctuary/signaling"
)

const testRunID = 0x5eed

// harness is a real server (realserver_test.go) and the bots connected to
// one of its sessions.
type harness struct {
	t       *testing.T
	ctx     context.Context // bounds every wait of the test
	api     *webrtc.API
	srv     *testServer
	session string
	bots    []*Bot
}

// newHarness starts a real server with k slots and checks, at the end of
// the test, that every bot and server goroutine is gone.
func newHarness(t *testing.T, k int) *harness {
	t.Helper()
	lim := test.TimeOut(60 * time.Second)
	report := test.CheckRoutines(t)
	api, err := NewAPI(true)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	h := &harness{t: t, ctx: ctx, api: api, srv: newTestServer(t, k), session: t.Name()}
	t.Cleanup(func() {
		cancel()
		for _, b := range h.bots {
			if err := b.Close(); err != nil {
				t.Errorf("bot %d close: %v", b.Index(), err)
			}
		}
		h.srv.Close()
		lim.Stop()
		report()
	})
	return h
}

// dial joins a bot as user "bot-<index>" (unless c names a token) and
// waits for its media.
func (h *harness) dial(c Config) *Bot {
	h.t.Helper()
	c.URL, c.API, c.RunID, c.Session = h.srv.wsURL(), h.api, testRunID, h.session
	if c.Token == "" {
		c.Token = h.srv.token(h.t, fmt.Sprintf("bot-%d", c.Index), auth.RoleParticipant, h.session)
	}
	ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
	defer cancel()
	b, err := Dial(ctx, c)
	if err != nil {
		h.t.Fatalf("dial bot %d: %v", c.Index, err)
	}
	h.bots = append(h.bots, b)
	if err := b.WaitConnected(ctx); err != nil {
		h.t.Fatalf("bot %d: %v", c.Index, err)
	}
	return b
}

// waitFor polls cond every 10 ms until it holds; the harness context
// bounds a broken run. Tests assert counts, not how fast they came.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	for !cond() {
		select {
		case <-h.ctx.Done():
			h.t.Fatalf("gave up waiting: %s", what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// measure sets a window of d on every bot, waits for it to pass, for
// every speaker's count of the window to be final and for each of those
// packets to reach the bots that hear its source (hears(listener, source)),
// and returns every bot's stats. It waits for packets, not for a margin of
// time: one that never arrives fails the test at the harness deadline.
func (h *harness) measure(d time.Duration, hears func(listener, source int) bool) []Stats {
	from := time.Now().Add(100 * time.Millisecond)
	to := from.Add(d)
	for _, b := range h.bots {
		b.SetWindow(from, to)
	}
	time.Sleep(time.Until(to)) // the window itself
	stats := func() []Stats {
		st := make([]Stats, len(h.bots))
		for i, b := range h.bots {
			st[i] = b.Stats()
		}
		return st
	}
	// A speaker counts a packet after sending it: one packet sent within
	// the window may still be uncounted now, but the second one counted
	// from now on was sent after it.
	sent := stats()
	h.waitFor("every speaker sends past the window", func() bool {
		for i, b := range h.bots {
			if b.speaking.Load() && b.Stats().Sent < sent[i].Sent+2 {
				return false
			}
		}
		return true
	})
	h.waitFor("every packet of the window arrives", func() bool {
		st := stats()
		for l := range st {
			for s := range st {
				if l != s && hears(l, s) && st[l].ReceivedInWindowBySource[s] < st[s].SentInWindow {
					return false
				}
			}
		}
		return true
	})
	return stats()
}

// slotsWatch records the latest `slots` message a bot received, for tests
// that must know when the server has switched a slot. Attribution stays
// with the packets' signatures.
type slotsWatch struct {
	mu    sync.Mutex
	slots []string
}

func (w *slotsWatch) onMessage(typ string, raw []byte) {
	if typ != signaling.TypeSlots {
		return
	}
	var m signaling.Slots
	if json.Unmarshal(raw, &m) == nil {
		w.mu.Lock()
		w.slots = m.Slots
		w.mu.Unlock()
	}
}

func (w *slotsWatch) is(ids ...string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Equal(w.slots, ids)
}

func TestBotsSpeakListenAndCount(t *testing.T) {
	h := newHarness(t, 3)
	var mu sync.Mutex
	var seen []string
	h.dial(Config{Index: 0, Speak: true, Level: 10, OnMessage: func(typ string, _ []byte) {
		mu.Lock()
		seen = append(seen, typ)
		mu.Unlock()
	}})
	h.dial(Config{Index: 1, Speak: true, Level: 20})
	h.dial(Config{Index: 2})
	h.waitFor("every bot hears every speaker", func() bool {
		for _, b := range h.bots {
			got := b.Stats().ReceivedBySource
			for src := range 2 {
				if src != b.Index() && got[src] == 0 {
					return false
				}
			}
		}
		return true
	})
	st := h.measure(time.Second, func(_, src int) bool { return src < 2 }) // bots 0 and 1 speak
	// Each bot reports on the slots it hears, once a second (reports.go).
	h.waitFor("every bot sends a receiver report", func() bool {
		for _, b := range h.bots {
			if b.Stats().ReceiverReports == 0 {
				return false
			}
		}
		return true
	})

	for _, s := range st {
		if !s.Joined || !s.Connected || s.JoinMs <= 0 || s.ConnectMs < s.JoinMs || s.Slots != 3 {
			t.Errorf("bot %d: joined %v connected %v join %.1f ms connect %.1f ms slots %d",
				s.Index, s.Joined, s.Connected, s.JoinMs, s.ConnectMs, s.Slots)
		}
		if s.Foreign+s.Unrecognised+s.Renegotiations+s.SSRCChanges+s.SeqGaps+s.SeqBackwards+s.SendErrors != 0 ||
			len(s.LocalErrors)+len(s.Errors) != 0 {
			t.Errorf("bot %d: unexpected counts %+v", s.Index, s)
		}
		var inWindow uint64
		for src := range 2 {
			if src == s.Index {
				continue
			}
			want, got := st[src].SentInWindow, s.ReceivedInWindowBySource[src]
			if want == 0 || got != want {
				t.Errorf("bot %d from %d: received %d in window, sent %d", s.Index, src, got, want)
			}
			if s.ReceivedBySource[src] < got {
				t.Errorf("bot %d from %d: total %d < window %d", s.Index, src, s.ReceivedBySource[src], got)
			}
			inWindow += got
		}
		if _, ok := s.ReceivedBySource[s.Index]; ok {
			t.Errorf("bot %d counted itself", s.Index)
		}
		if s.FirstAudioMs < s.ConnectMs {
			t.Errorf("bot %d: first audio %.1f ms before connect %.1f ms", s.Index, s.FirstAudioMs, s.ConnectMs)
		}
		// Once a window is set, the histogram holds exactly the window's packets.
		if n := s.Latency.Count(); n != inWindow || s.Latency.Quantile(0.5) <= 0 {
			t.Errorf("bot %d: %d latencies (p50 %v) for %d packets in the window",
				s.Index, n, s.Latency.Quantile(0.5), inWindow)
		}
	}
	if st[2].Sent != 0 {
		t.Errorf("silent bot sent %d", st[2].Sent)
	}
	mu.Lock()
	// The server sends the welcome, then its offer, and holds its
	// candidates and slot assignments back until the offer is out.
	offer := slices.Index(seen, signaling.TypeOffer)
	cand, slots := slices.Index(seen, signaling.TypeCandidate), slices.Index(seen, signaling.TypeSlots)
	if len(seen) == 0 || seen[0] != signaling.TypeWelcome || offer < 0 || cand < offer || slots < offer {
		t.Errorf("OnMessage saw %v, want welcome, the offer, then candidates and slots", seen)
	}
	mu.Unlock()

	// Narrow bot 2's audience to bot 0: bot 1's packets become foreign.
	h.bots[2].SetAudience([]int{0})
	h.waitFor("bot 1's packets counted foreign", func() bool { return h.bots[2].Stats().Foreign > 0 })
	if s := h.bots[2].Stats(); !slices.Equal(s.Audience, []int{0}) {
		t.Errorf("after SetAudience([0]): audience %v", s.Audience)
	}
	h.bots[2].SetAudience(nil)
	if s := h.bots[2].Stats(); s.Audience != nil {
		t.Errorf("SetAudience(nil) left audience %v", s.Audience)
	}
}

// heard is what a listener's OnPacket saw of one source, in arrival order.
type heard struct {
	mu   sync.Mutex
	pkts []heardPacket
}

type heardPacket struct {
	seq     uint16
	ts      uint32
	marker  bool
	counter uint32 // the sender's packet counter
	sentAt  int64
}

func (h *heard) onPacket(src int) func(int, *rtp.Header, Signature, bool) {
	return func(_ int, hdr *rtp.Header, sig Signature, signed bool) {
		if !signed || int(sig.Source) != src {
			return
		}
		h.mu.Lock()
		h.pkts = append(h.pkts, heardPacket{hdr.SequenceNumber, hdr.Timestamp, hdr.Marker, sig.Counter, sig.SentAt})
		h.mu.Unlock()
	}
}

func (h *heard) snapshot() []heardPacket {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.pkts)
}

// caughtUp reports whether the newest packet heard is the sender's last.
func (h *heard) caughtUp(sent uint64) bool {
	p := h.snapshot()
	return len(p) > 0 && uint64(p[len(p)-1].counter)+1 == sent
}

// A muted bot whose offer asked for Opus DTX (the server's does) sends one
// frame in dtxEvery, each the next sequence number with the timestamp of
// its frame, as DTX does: a listener hears the first half second of it
// (the server's hangover: the packets at 0, 200 and 400 ms) with
// timestamps dtxEvery frames apart.
func TestMutedBotSendsAsDTX(t *testing.T) {
	h := newHarness(t, 3)
	var got heard
	h.dial(Config{Index: 1, OnPacket: got.onPacket(0)}) // first: the hangover begins with the muted bot
	h.dial(Config{Index: 0, Speak: true, Muted: true})
	h.waitFor("the listener hears two packets of the muted bot", func() bool { return len(got.snapshot()) >= 2 })
	pkts := got.snapshot()
	for i := 1; i < len(pkts); i++ {
		p, q := pkts[i], pkts[i-1]
		if p.seq != q.seq+1 || p.ts-q.ts != dtxEvery*opusSamplesPerPacket || p.counter != q.counter+1 {
			t.Fatalf("packet %d: seq %d ts %d after seq %d ts %d; want the next seq, %d ticks later",
				i, p.seq, p.ts, q.seq, q.ts, dtxEvery*opusSamplesPerPacket)
		}
	}
}

// A speaker that pauses sends nothing; when it resumes, the stream a
// listener receives through the real server goes on with the next sequence
// number, a marker bit, and a timestamp advanced by the silence.
func TestSpeakingPausesAndResumes(t *testing.T) {
	h := newHarness(t, 3)
	var got heard
	speaker := h.dial(Config{Index: 0, Speak: true, Level: 20})
	listener := h.dial(Config{Index: 1, OnPacket: got.onPacket(0)})
	h.waitFor("the listener hears the speaker", func() bool { return len(got.snapshot()) >= 5 })

	speaker.SetSpeaking(false)
	sent := speaker.Stats().Sent
	h.waitFor("the packets in flight", func() bool { return got.caughtUp(sent) })
	const silence = 300 * time.Millisecond
	time.Sleep(silence)
	if now := speaker.Stats().Sent; now != sent {
		t.Fatalf("sent %d packets while not speaking", now-sent)
	}
	before := len(got.snapshot())
	speaker.SetSpeaking(true)
	h.waitFor("the listener hears the speaker again", func() bool { return len(got.snapshot()) >= before+10 })
	speaker.SetSpeaking(false)
	total := speaker.Stats().Sent
	h.waitFor("the packets in flight", func() bool { return got.caughtUp(total) })

	pkts := got.snapshot()
	first := pkts[0].counter // earlier packets were sent before the listener joined
	if uint64(len(pkts)) != total-uint64(first) {
		t.Fatalf("heard %d packets, sent %d since the first heard", len(pkts), total-uint64(first))
	}
	var markers int
	for i, p := range pkts {
		if p.marker {
			markers++
		}
		if i == 0 {
			continue
		}
		q := pkts[i-1]
		if p.counter != q.counter+1 || p.seq != q.seq+1 {
			t.Fatalf("packet %d: counter %d seq %d after counter %d seq %d", i, p.counter, p.seq, q.counter, q.seq)
		}
		step := p.ts - q.ts
		switch {
		case i == before:
			// The new talkspurt: marked, and its timestamp advanced by the
			// whole 20 ms periods elapsed since the previous packet (±1 for
			// the wall clock the signature carries against the monotonic
			// one the speaker uses).
			periods := uint32(time.Duration(p.sentAt-q.sentAt) / packetInterval)
			if !p.marker || step < periods*opusSamplesPerPacket-opusSamplesPerPacket ||
				step > periods*opusSamplesPerPacket+opusSamplesPerPacket ||
				step < uint32(silence/packetInterval)*opusSamplesPerPacket {
				t.Fatalf("resume: marker %v, timestamp step %d for %v of silence", p.marker, step,
					time.Duration(p.sentAt-q.sentAt))
			}
		case p.marker || step != opusSamplesPerPacket:
			t.Fatalf("packet %d: marker %v, timestamp step %d within a talkspurt", i, p.marker, step)
		}
	}
	// The first packet the listener heard (the slot's first: the server
	// marks it) and the first of the new talkspurt.
	if !pkts[0].marker || markers != 2 {
		t.Fatalf("%d marked packets (first marked: %v), want 2", markers, pkts[0].marker)
	}
	if s := listener.Stats(); s.SeqGaps+s.SeqBackwards+s.SSRCChanges != 0 {
		t.Fatalf("listener: gaps %d, backwards %d, ssrc changes %d", s.SeqGaps, s.SeqBackwards, s.SSRCChanges)
	}
}

// With one slot, the real server gives a listener the loudest speaker by
// the levels the bots send; a speaker set to silence (127) loses the slot.
func TestLevelsDecideWhoIsHeard(t *testing.T) {
	h := newHarness(t, 1)
	var slots slotsWatch
	quiet := h.dial(Config{Index: 0, Speak: true, Level: 40})
	loud := h.dial(Config{Index: 1, Speak: true, Level: 10})
	listener := h.dial(Config{Index: 2, OnMessage: slots.onMessage})

	check := func(want, other *Bot) {
		t.Helper()
		h.waitFor(fmt.Sprintf("the slot carries bot %d", want.Index()), func() bool {
			return slots.is(want.ParticipantID())
		})
		st := h.measure(500*time.Millisecond, func(l, src int) bool {
			return l == listener.Index() && src == want.Index()
		})
		got := st[listener.Index()].ReceivedInWindowBySource
		if sent := st[want.Index()].SentInWindow; sent == 0 || got[want.Index()] != sent || got[other.Index()] != 0 {
			t.Fatalf("listener heard %v in the window; bot %d sent %d", got, want.Index(), sent)
		}
	}
	check(loud, quiet)
	loud.SetLevel(127)
	check(quiet, loud)
}

// Ping is a client request; the server answers with a pong of the same id.
func TestSendPing(t *testing.T) {
	h := newHarness(t, 1)
	pongs := make(chan string, 4)
	b := h.dial(Config{Index: 0, OnMessage: func(typ string, raw []byte) {
		var env signaling.Envelope
		if typ == signaling.TypePong && json.Unmarshal(raw, &env) == nil {
			pongs <- env.ID
		}
	}})
	if err := b.Send(signaling.Envelope{Type: signaling.TypePing, ID: "ping-7"}); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-pongs:
		if id != "ping-7" {
			t.Fatalf("pong id %q", id)
		}
	case <-h.ctx.Done():
		t.Fatal("no pong")
	}
}

// The same user joining again takes over the record: the first bot is told
// `replaced`, its socket closes, and the second one has media.
func TestDoneAfterReplaced(t *testing.T) {
	h := newHarness(t, 1)
	tok := h.srv.token(t, "twice", auth.RoleParticipant, h.session)
	first := h.dial(Config{Index: 0, Token: tok})
	second := h.dial(Config{Index: 1, Token: tok})
	select {
	case <-first.Done():
	case <-h.ctx.Done():
		t.Fatal("Done not closed after the server took the record over")
	}
	if !first.Stats().Replaced {
		t.Fatal("Replaced not recorded")
	}
	if second.Stats().Replaced || second.ParticipantID() != first.ParticipantID() {
		t.Fatalf("second: replaced %v, participant %q (first %q)", second.Stats().Replaced,
			second.ParticipantID(), first.ParticipantID())
	}
}

func TestJoinRefused(t *testing.T) {
	h := newHarness(t, 1)
	for _, tc := range []struct{ token, code string }{
		{"bad", signaling.CodeTokenInvalid},
		{h.srv.token(t, "elsewhere", auth.RoleParticipant, "another-session"), signaling.CodeWrongSession},
	} {
		_, err := Dial(h.ctx, Config{URL: h.srv.wsURL(), Token: tc.token, Session: h.session, API: h.api})
		var se *ServerError
		if !errors.As(err, &se) || se.Code != tc.code {
			t.Errorf("err = %v, want a ServerError %s", err, tc.code)
		}
	}
}

// The two tests below need a server that breaks the protocol, which the
// real one never does: see misbehavingserver_test.go.

func TestRenegotiationIsCountedAndAnswered(t *testing.T) {
	lim := test.TimeOut(30 * time.Second)
	defer lim.Stop()
	defer test.CheckRoutines(t)()
	api, err := NewAPI(true)
	if err != nil {
		t.Fatal(err)
	}
	srv := newMisbehavingServer(t, api, 2, true, false)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := Dial(ctx, Config{URL: srv.wsURL(), Token: "any", API: api})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for srv.answers.Load() < 2 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	if n := srv.answers.Load(); n != 2 {
		t.Fatalf("server got %d answers, want 2", n)
	}
	if s := b.Stats(); s.Renegotiations != 1 || len(s.LocalErrors) != 0 {
		t.Fatalf("renegotiations %d, errors %v", s.Renegotiations, s.LocalErrors)
	}
}

func TestUpstreamMidChecked(t *testing.T) {
	lim := test.TimeOut(30 * time.Second)
	defer lim.Stop()
	defer test.CheckRoutines(t)()
	api, err := NewAPI(true)
	if err != nil {
		t.Fatal(err)
	}
	srv := newMisbehavingServer(t, api, 2, false, true)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = Dial(ctx, Config{URL: srv.wsURL(), Token: "any", API: api})
	if !errors.Is(err, ErrUpstreamMid) {
		t.Fatalf("err = %v, want ErrUpstreamMid", err)
	}
}

func TestDialNoServer(t *testing.T) {
	lim := test.TimeOut(20 * time.Second)
	defer lim.Stop()
	defer test.CheckRoutines(t)()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := Dial(ctx, Config{URL: "ws://127.0.0.1:1/ws"}); err == nil {
		t.Fatal("Dial to a closed port succeeded")
	}
}
