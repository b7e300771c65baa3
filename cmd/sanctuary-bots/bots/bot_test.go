package bots

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/transport/v5/test"
	"github.com/pion/webrtc/v4"

	"github.com/sanctuary-sfu/sanctuary/signaling"
)

const testRunID = 0x5eed

// harness is a fake server and the bots connected to it.
type harness struct {
	t    *testing.T
	api  *webrtc.API
	srv  *fakeServer
	bots []*Bot
}

// newHarness starts a fake server with k slots and checks, at the end of
// the test, that every bot and server goroutine is gone.
func newHarness(t *testing.T, k int) *harness {
	t.Helper()
	lim := test.TimeOut(60 * time.Second)
	report := test.CheckRoutines(t)
	api, err := NewAPI()
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, api: api, srv: newFakeServer(t, api, k)}
	t.Cleanup(func() {
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

// dial connects bot i and waits for its media.
func (h *harness) dial(c Config) *Bot {
	h.t.Helper()
	c.URL, c.API, c.RunID = h.srv.wsURL(), h.api, testRunID
	if c.Token == "" {
		c.Token = "ok"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
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

// measure sets a window on every bot, waits for it to pass and for the
// packets in flight, and returns every bot's stats.
func (h *harness) measure(d time.Duration) []Stats {
	from := time.Now().Add(100 * time.Millisecond)
	to := from.Add(d)
	for _, b := range h.bots {
		b.SetWindow(from, to)
	}
	time.Sleep(time.Until(to) + 300*time.Millisecond)
	st := make([]Stats, len(h.bots))
	for i, b := range h.bots {
		st[i] = b.Stats()
	}
	return st
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
	st := h.measure(time.Second)

	for _, s := range st {
		if !s.Joined || !s.Connected || s.JoinMs <= 0 || s.ConnectMs < s.JoinMs {
			t.Errorf("bot %d: joined %v connected %v join %.1f ms connect %.1f ms",
				s.Index, s.Joined, s.Connected, s.JoinMs, s.ConnectMs)
		}
		if s.Foreign+s.Unrecognised+s.Renegotiations+s.SSRCChanges+s.SeqGaps+s.SeqBackwards != 0 ||
			len(s.LocalErrors)+len(s.Errors) != 0 {
			t.Errorf("bot %d: unexpected counts %+v", s.Index, s)
		}
		for src := range 2 {
			if src == s.Index {
				continue
			}
			want, got := st[src].SentInWindow, s.ReceivedInWindowBySource[src]
			if want < 40 || got != want {
				t.Errorf("bot %d from %d: received %d in window, sent %d", s.Index, src, got, want)
			}
			if s.ReceivedBySource[src] < got {
				t.Errorf("bot %d from %d: total %d < window %d", s.Index, src, s.ReceivedBySource[src], got)
			}
		}
		if _, ok := s.ReceivedBySource[s.Index]; ok {
			t.Errorf("bot %d counted itself", s.Index)
		}
		if s.FirstAudioMs < s.ConnectMs {
			t.Errorf("bot %d: first audio %.1f ms before connect %.1f ms", s.Index, s.FirstAudioMs, s.ConnectMs)
		}
		if s.Latency.Count() == 0 || s.Latency.Quantile(0.99) > 100*time.Millisecond {
			t.Errorf("bot %d: latency count %d p99 %v", s.Index, s.Latency.Count(), s.Latency.Quantile(0.99))
		}
	}
	if st[2].Sent != 0 {
		t.Errorf("silent bot sent %d", st[2].Sent)
	}
	mu.Lock()
	// The fake server trickles candidates as soon as it sets its offer, so
	// some arrive before the offer: the bot queued them.
	if len(seen) < 2 || seen[0] != signaling.TypeWelcome || !slices.Contains(seen, signaling.TypeOffer) {
		t.Errorf("OnMessage saw %v, want welcome, then an offer", seen)
	}
	mu.Unlock()

	// Narrow bot 2's audience to bot 0: bot 1's packets become foreign.
	h.bots[2].SetAudience([]int{0})
	time.Sleep(200 * time.Millisecond)
	s := h.bots[2].Stats()
	if s.Foreign == 0 || !slices.Equal(s.Audience, []int{0}) {
		t.Errorf("after SetAudience([0]): foreign %d audience %v", s.Foreign, s.Audience)
	}
	h.bots[2].SetAudience(nil)
	if s := h.bots[2].Stats(); s.Audience != nil {
		t.Errorf("SetAudience(nil) left audience %v", s.Audience)
	}
}

func TestSpeakingPausesAndResumes(t *testing.T) {
	h := newHarness(t, 3)
	speaker := h.dial(Config{Index: 0, Speak: true, Level: 20})
	listener := h.dial(Config{Index: 1})
	time.Sleep(200 * time.Millisecond)
	speaker.SetSpeaking(false)
	time.Sleep(100 * time.Millisecond)
	sent := speaker.Stats().Sent
	time.Sleep(200 * time.Millisecond)
	if now := speaker.Stats().Sent; now != sent {
		t.Fatalf("sent %d packets while not speaking", now-sent)
	}
	up := h.srv.peer(speaker.ParticipantID())
	if l := up.level.Load(); l != 0x80|20 {
		t.Fatalf("audio level byte %#x, want V bit and 20 dBov", l)
	}
	if m := up.markers.Load(); m != 1 {
		t.Fatalf("%d packets with the marker bit, want 1 (the first)", m)
	}
	if j := up.tsJump.Load(); j != opusSamplesPerPacket {
		t.Fatalf("timestamp step %d, want %d", j, opusSamplesPerPacket)
	}
	speaker.SetLevel(127)
	speaker.SetSpeaking(true)
	time.Sleep(300 * time.Millisecond)
	speaker.SetSpeaking(false)
	time.Sleep(100 * time.Millisecond) // packets in flight
	s, total := listener.Stats(), speaker.Stats().Sent
	if total <= sent || s.SeqGaps != 0 || s.SeqBackwards != 0 || s.ReceivedBySource[0] != total {
		t.Fatalf("after resume: speaker sent %d, listener got %d, gaps %d, backwards %d",
			total, s.ReceivedBySource[0], s.SeqGaps, s.SeqBackwards)
	}
	// Silence: level 127 without the V bit; a new talkspurt: a second
	// marker and a timestamp jump of the ~300 ms spent silent.
	if l := up.level.Load(); l != 127 {
		t.Fatalf("audio level byte %#x after SetLevel(127), want 0x7f", l)
	}
	if m := up.markers.Load(); m != 2 {
		t.Fatalf("%d marker bits after resume, want 2", m)
	}
	if j := up.tsJump.Load(); j < 10*opusSamplesPerPacket || j > 25*opusSamplesPerPacket {
		t.Fatalf("timestamp jump after ~300 ms of silence: %d samples", j)
	}
}

func TestRenegotiationIsCountedAndAnswered(t *testing.T) {
	h := newHarness(t, 2)
	b := h.dial(Config{Index: 0})
	p := h.srv.peer(b.ParticipantID())
	if p == nil {
		t.Fatalf("no server peer for %q", b.ParticipantID())
	}
	if err := p.renegotiate(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.answers.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := p.answers.Load(); n != 2 {
		t.Fatalf("server got %d answers, want 2", n)
	}
	if s := b.Stats(); s.Renegotiations != 1 || len(s.LocalErrors) != 0 {
		t.Fatalf("renegotiations %d, errors %v", s.Renegotiations, s.LocalErrors)
	}
}

func TestPingIsAnsweredWithPong(t *testing.T) {
	h := newHarness(t, 1)
	b := h.dial(Config{Index: 0})
	p := h.srv.peer(b.ParticipantID())
	p.send(signaling.Envelope{Type: signaling.TypePing, ID: "ping-7"})
	select {
	case id := <-p.pongs:
		if id != "ping-7" {
			t.Fatalf("pong id %q", id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no pong")
	}
}

func TestDoneAfterReplaced(t *testing.T) {
	h := newHarness(t, 1)
	b := h.dial(Config{Index: 0})
	p := h.srv.peer(b.ParticipantID())
	p.send(signaling.Replaced{Envelope: signaling.Envelope{Type: signaling.TypeReplaced}, Message: "elsewhere"})
	_ = p.ws.Close()
	select {
	case <-b.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after the server closed the socket")
	}
	if !b.Stats().Replaced {
		t.Fatal("Replaced not recorded")
	}
}

func TestJoinRefused(t *testing.T) {
	h := newHarness(t, 1)
	_, err := Dial(context.Background(), Config{URL: h.srv.wsURL(), Token: "bad", API: h.api})
	var se *ServerError
	if !errors.As(err, &se) || se.Code != signaling.CodeTokenInvalid {
		t.Fatalf("err = %v, want a ServerError %s", err, signaling.CodeTokenInvalid)
	}
}

func TestUpstreamMidChecked(t *testing.T) {
	h := newHarness(t, 2)
	h.srv.lieUpstream = true
	_, err := Dial(context.Background(), Config{URL: h.srv.wsURL(), Token: "ok", API: h.api})
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
