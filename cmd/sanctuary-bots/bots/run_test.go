package bots

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/transport/v5/test"
)

// syncBuffer is a bytes.Buffer safe for the progress goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A whole run against a real server in this process: its CPU and RSS are
// this process's, its forwarded packets come from a real /metrics page.
func TestRunAgainstRealServer(t *testing.T) {
	lim := test.TimeOut(60 * time.Second)
	defer lim.Stop()
	defer test.CheckRoutines(t)()
	var progress syncBuffer
	rep := runOnTestServer(t, 3, 45*time.Second, RunConfig{
		Bots: 5, Speakers: 2,
		Duration: 1500 * time.Millisecond, Warmup: 300 * time.Millisecond, JoinConcurrency: 2,
		Progress: &progress, ServerPID: os.Getpid(),
	})
	if rep.Slots != 3 || rep.Bots != 5 || rep.Joined != 5 || rep.Connected != 5 || rep.Failed != 0 ||
		rep.Speakers != 2 || len(rep.Failures) != 0 {
		t.Fatalf("bots %d joined %d connected %d failed %d speakers %d failures %v", rep.Bots, rep.Joined,
			rep.Connected, rep.Failed, rep.Speakers, rep.Failures)
	}
	// Each speaker is heard by the 4 others: expected = 4 × sent.
	if rep.PacketsSent == 0 || rep.PacketsExpected != 4*rep.PacketsSent || rep.LossPct >= 1 {
		t.Fatalf("sent %d expected %d received %d loss %.2f%%", rep.PacketsSent, rep.PacketsExpected,
			rep.PacketsReceived, rep.LossPct)
	}
	if rep.ForeignPackets+rep.Renegotiations+rep.SeqBackwards+rep.SSRCChanges+rep.Unrecognised != 0 ||
		rep.LatencyMsP50 <= 0 || rep.FirstAudioMsP50 <= 0 || rep.JoinMsP50 <= 0 || rep.ConnectMsP50 <= 0 ||
		rep.AnswerMsP50 <= 0 || rep.ICEMsP50 <= 0 {
		t.Fatalf("%+v", rep)
	}
	if rep.ServerForwardedPPS <= 0 || rep.ServerCPUUsPerPacket <= 0 || rep.ServerRSSMB <= 0 ||
		rep.ServerCPUPct <= 0 || rep.BotsCPUPct <= 0 {
		t.Fatalf("server figures missing: %+v", rep)
	}
	// The counter scraped is the forwarded one: over the window the server
	// sent every listener's packets (≈ expected), four times what the
	// speakers sent it. The window edges are sampled a few ms apart from
	// the bots' send times, hence the tolerance.
	if fwd := rep.ServerForwardedPPS * rep.DurationS; fwd < 0.8*float64(rep.PacketsExpected) ||
		fwd > 1.2*float64(rep.PacketsExpected) {
		t.Fatalf("server forwarded %.0f packets in the window; the bots expected %d", fwd, rep.PacketsExpected)
	}
	if !strings.Contains(progress.String(), "joined 5/5 connected 5") {
		t.Fatalf("progress:\n%s", progress.String())
	}
}

// Muted listeners send silence, as browsers muted by their track do: they
// are counted apart, owed to nobody, and the server forwards what the
// speakers say and not the silence (after its hangover, which the warm-up
// outlasts). The server does not ask for DTX here, so the muted send 50
// packets a second, as browsers do without it. Five senders for three
// slots: without the server holding silence back, a slot of every bot
// would carry a muted one, and the server would forward about twice what
// the speakers are owed.
func TestRunWithMutedListeners(t *testing.T) {
	lim := test.TimeOut(60 * time.Second)
	defer lim.Stop()
	defer test.CheckRoutines(t)()
	rep := runOnTestServer(t, 3, 45*time.Second, RunConfig{
		Bots: 5, Speakers: 2, MutedListeners: true,
		Duration: 1500 * time.Millisecond, Warmup: 2 * time.Second, JoinConcurrency: 2,
		ServerPID: os.Getpid(),
	}, withoutDTX)
	if rep.Connected != 5 || rep.Speakers != 2 || rep.Muted != 3 || rep.SilentPacketsSent == 0 {
		t.Fatalf("connected %d speakers %d muted %d silent packets %d", rep.Connected, rep.Speakers, rep.Muted, rep.SilentPacketsSent)
	}
	if rep.PacketsSent == 0 || rep.PacketsExpected != 4*rep.PacketsSent || rep.LossPct >= 1 {
		t.Fatalf("sent %d expected %d received %d loss %.2f%%", rep.PacketsSent, rep.PacketsExpected,
			rep.PacketsReceived, rep.LossPct)
	}
	if fwd := rep.ServerForwardedPPS * rep.DurationS; fwd > 1.2*float64(rep.PacketsExpected) {
		t.Fatalf("server forwarded %.0f packets in the window; the speakers were owed %d: silence went out", fwd, rep.PacketsExpected)
	}
}

// When the offer asks for Opus DTX, as the server's does by default, muted
// bots send as browsers then do: one frame of silence in dtxEvery. Without
// DTX each muted bot would send as many packets as a speaker.
func TestRunWithMutedListenersDTX(t *testing.T) {
	lim := test.TimeOut(60 * time.Second)
	defer lim.Stop()
	defer test.CheckRoutines(t)()
	rep := runOnTestServer(t, 3, 45*time.Second, RunConfig{
		Bots: 5, Speakers: 2, MutedListeners: true,
		Duration: 1500 * time.Millisecond, Warmup: time.Second, JoinConcurrency: 2,
	})
	if rep.Connected != 5 || rep.Muted != 3 || rep.PacketsSent == 0 || rep.LossPct >= 1 {
		t.Fatalf("connected %d muted %d sent %d loss %.2f%%", rep.Connected, rep.Muted, rep.PacketsSent, rep.LossPct)
	}
	perSpeaker, perMuted := rep.PacketsSent/2, rep.SilentPacketsSent/3
	if perMuted == 0 || perMuted*4 > perSpeaker {
		t.Fatalf("in the window a speaker sent %d packets, a muted bot %d: want some, and at most a quarter (DTX: one in %d)",
			perSpeaker, perMuted, dtxEvery)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	for _, rc := range []RunConfig{
		{Secret: []byte("s"), Bots: 1},
		{URL: "ws://127.0.0.1:1/ws", Bots: 1},
		{URL: "ws://127.0.0.1:1/ws", Secret: []byte("s")},
		{URL: "ws://127.0.0.1:1/ws", Secret: []byte("s"), Bots: 2, Speakers: 3},
	} {
		if _, err := Run(context.Background(), rc); err == nil {
			t.Errorf("Run(%+v) succeeded", rc)
		}
	}
}

func TestRunReportsFailedJoins(t *testing.T) {
	lim := test.TimeOut(30 * time.Second)
	defer lim.Stop()
	defer test.CheckRoutines(t)()
	rep, err := Run(context.Background(), RunConfig{
		URL: "ws://127.0.0.1:1/ws", Secret: []byte("s"), Bots: 2, Speakers: 1,
		Duration: 100 * time.Millisecond, Warmup: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed != 2 || len(rep.Failures) != 2 || rep.Joined != 0 {
		t.Fatalf("%+v", rep)
	}
}
